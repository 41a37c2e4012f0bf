"""A label layer's selection passed the way scripts pass one."""

from __future__ import annotations

from qgis.core import QgsProcessingException, QgsProcessingFeatureSourceDefinition, QgsProperty

__all__ = ["selection_unwrapped"]


def selection_unwrapped(parameters: dict) -> dict:
    """LABELS given as a QgsProcessingFeatureSourceDefinition (how scripts pass a
    selection): its layer, with its selected-features flag as SELECTED_FEATURES_ONLY.
    parameterAsLayer does not unwrap it, and the run said no label layer was given. A
    filter expression or a feature limit in it cannot be honoured here: refused by name."""
    value = parameters.get("LABELS")
    if not isinstance(value, QgsProcessingFeatureSourceDefinition):
        return parameters
    if (getattr(value, "filterExpression", "") or "") or \
            getattr(value, "featureLimit", -1) not in (-1, None):
        raise QgsProcessingException("LABELS: a filter expression or feature limit in the "
                                     "source definition is not applied here; filter the layer "
                                     "(or select the features and set SELECTED_FEATURES_ONLY)")
    source = value.source
    if isinstance(source, QgsProperty) and \
            source.propertyType() == QgsProperty.fromValue("").propertyType():
        source = source.staticValue()  # an expression stays one: evaluated when read
    given = parameters.get("SELECTED_FEATURES_ONLY")
    given = given if isinstance(given, bool) else str(given).strip().lower() in ("true", "1")
    return dict(parameters, LABELS=source,
                SELECTED_FEATURES_ONLY=bool(value.selectedFeaturesOnly) or given)
