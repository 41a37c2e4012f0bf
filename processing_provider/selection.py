"""A layer's selection passed the way scripts pass one (a feature source definition)."""

from __future__ import annotations

from qgis.core import QgsProcessingException, QgsProcessingFeatureSourceDefinition, QgsProperty

__all__ = ["selection_unwrapped", "source_unwrapped"]


def source_unwrapped(parameters: dict, key: str, fix: str) -> tuple[dict, bool]:
    """(parameters with ``key``'s QgsProcessingFeatureSourceDefinition replaced by its
    layer, whether it asks for the selected features only). parameterAsLayer does not
    unwrap one, and parameterAsVectorLayer drops its flag: MASK_POLYGONS given a selection
    used every polygon, unsaid (PyQGIS sweep, stop 69). A filter expression or a feature
    limit in it cannot be honoured here: refused by name, ``fix`` saying what to do."""
    value = parameters.get(key)
    if not isinstance(value, QgsProcessingFeatureSourceDefinition):
        return parameters, False
    if (getattr(value, "filterExpression", "") or "") or \
            getattr(value, "featureLimit", -1) not in (-1, None):
        raise QgsProcessingException(f"{key}: a filter expression or feature limit in the "
                                     f"source definition is not applied here; {fix}")
    source = value.source
    if isinstance(source, QgsProperty) and \
            source.propertyType() == QgsProperty.fromValue("").propertyType():
        source = source.staticValue()  # an expression stays one: evaluated when read
    return dict(parameters, **{key: source}), bool(value.selectedFeaturesOnly)


def selection_unwrapped(parameters: dict) -> dict:
    """LABELS given as a source definition: its layer, with its selected-features flag as
    SELECTED_FEATURES_ONLY (the run said no label layer was given); MASK_POLYGONS as one:
    its layer (its flag read by ``source_unwrapped`` where the mask is used)."""
    unwrapped, selected = source_unwrapped(
        parameters, "LABELS", "filter the layer (or select the features and set "
        "SELECTED_FEATURES_ONLY)")
    if "MASK_POLYGONS" in parameters:
        unwrapped, _ = source_unwrapped(unwrapped, "MASK_POLYGONS", MASK_FIX)
    if unwrapped is parameters or "LABELS" not in parameters or not selected:
        return unwrapped
    given = parameters.get("SELECTED_FEATURES_ONLY")
    given = given if isinstance(given, bool) else str(given).strip().lower() in ("true", "1")
    return dict(unwrapped, SELECTED_FEATURES_ONLY=selected or given)


MASK_FIX = "filter the mask layer, or select its polygons and pass the selection"
