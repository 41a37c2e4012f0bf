"""The label parameters every training-data algorithm shares, and their LabelConfig.

Rasterize Labels, Export Training Data and (later) classical training and accuracy
assessment all take "polygons/points with a class field, or a classified raster"; one
definition keeps their help text, keys and behaviour the same everywhere.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterField,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..core.errors import Cancelled, InputError
from .layers import raster_path, vector_path
from .selection import selection_unwrapped

if TYPE_CHECKING:  # the engine loads when an algorithm runs, not when QGIS starts
    from ..core.labels.base import LabelConfig


def add_label_parameters(alg, optional: bool = False, help_suffix: str = "") -> None:
    alg.add(QgsProcessingParameterMapLayer(
        "LABELS", alg.tr("Labels (polygons, points, lines or classified raster)"),
        types=[QgsProcessing.SourceType.TypeVectorPolygon, QgsProcessing.SourceType.TypeVectorPoint,
               QgsProcessing.SourceType.TypeVectorLine, QgsProcessing.SourceType.TypeRaster],
        optional=optional),
        "A polygon, point or line layer with a class field (a line labels the pixels it "
        "crosses: roads, streams, hedges), or a classified raster with values 1..255 "
        "(0 = NoData). Any CRS: it is reprojected onto the image." + help_suffix)
    # Text, not QgsProcessingParameterField: QGIS 3.22's field widget crashes the dialog
    # when its parent MapLayer parameter holds a raster (as raster labels do); a wrong
    # name is reported with the layer's field list instead.
    alg.add(QgsProcessingParameterString(
        "CLASS_FIELD", alg.tr("Class field name (vector labels)"), optional=True),
        "Name of the field holding each feature's class: whole numbers 1..255, or text "
        "(each distinct text becomes a class, numbered 1..n alphabetically over the whole "
        "layer, its selection and filter aside, the text kept as its name; codes kept as text, '3' or '3.0', keep their "
        "values; NA and NULL are no label). Required for vector labels; a wrong name is answered with the list "
        "of the layer's fields.")
    alg.add(QgsProcessingParameterString(
        "CLASS_NAME_FIELD", alg.tr("Class name field name (optional)"), optional=True),
        "With a numeric class field: the name of a text field naming each class.")
    alg.add(QgsProcessingParameterBoolean(
        "SELECTED_FEATURES_ONLY", alg.tr("Selected features only"), defaultValue=False),
        "Use only the selected features of the label layer.")
    alg.add(QgsProcessingParameterBoolean(
        "ALL_TOUCHED", alg.tr("Burn every pixel a feature touches"), defaultValue=False),
        "On: thin polygons burn every pixel they touch. Off: only pixels whose centre is "
        "inside.", advanced=True)


def label_config(alg, parameters, context, feedback) -> LabelConfig:
    parameters = selection_unwrapped(parameters)
    layer = alg.parameterAsLayer(parameters, "LABELS", context)
    if layer is None:
        raise QgsProcessingException("LABELS: no label layer was given or it could not be loaded")
    if isinstance(layer, QgsVectorLayer):
        return _vector_config(alg, layer, parameters, context, feedback,
                              alg.parameterAsString(parameters, "CLASS_FIELD", context) or None,
                              alg.parameterAsString(parameters, "CLASS_NAME_FIELD", context) or None)
    if isinstance(layer, QgsRasterLayer):
        _warn_unused(alg, parameters, context, feedback)
        return _label_config(labels=raster_path(layer, "LABELS", feedback))
    raise QgsProcessingException("LABELS: use a vector layer or a classified raster")


def _warn_unused(alg, parameters, context, feedback) -> None:
    """A raster's labels are its values: the vector settings given with it do nothing, and
    a user who set them expects something of them (carried over from a saved model or a
    batch run), so say it."""
    unused = [key for key in ("CLASS_FIELD", "CLASS_NAME_FIELD")
              if key in parameters and alg.parameterAsString(parameters, key, context)]
    unused += [key for key in ("ALL_TOUCHED", "SELECTED_FEATURES_ONLY")
               if key in parameters and alg.parameterAsBoolean(parameters, key, context)]
    if unused and feedback is not None:
        feedback.pushWarning(f"{', '.join(unused)}: not used with a classified raster as "
                             "LABELS (its pixel values are the classes)")


def _vector_config(alg, layer, parameters, context, feedback, class_field, class_name_field):
    """LabelConfig of a vector layer as the user sees it (selection, filter) and its fields."""
    selected = alg.parameterAsBoolean(parameters, "SELECTED_FEATURES_ONLY", context)
    path, layer_name = vector_path(layer, "LABELS", selected, context, feedback)
    return _label_config(labels=path, layer=layer_name, class_field=class_field,
                         source=layer.publicSource() if path != layer.source() else "",
                         class_name_field=class_name_field,
                         all_touched=alg.parameterAsBoolean(parameters, "ALL_TOUCHED", context),
                         layer_texts=_layer_texts(layer, class_field, feedback)
                         if selected or layer.subsetString() else ())


def _layer_texts(layer: QgsVectorLayer, class_field: str | None,
                 feedback=None) -> tuple[str, ...]:
    """The distinct texts of a text class field over the whole layer (its selection and
    its filter aside), as the engine counts them: the field found as it finds it (case
    aside), only features with a geometry (a table row without one holds no class), at
    most a few more texts than a classifier takes (the engine names the excess).

    A filter is set aside on a copy of the layer (a memory layer's clone holds its
    features), never on the user's: a train/test split made with two filters numbered
    each side on its own (developed 1 in one, 2 in the other), and Assess Accuracy then
    scored OA 0.003 where the map was 0.96 right (PyQGIS sweep, stop 69)."""
    index = layer.fields().lookupField(class_field) if class_field else -1
    if index < 0:
        return ()
    if layer.subsetString():
        whole = layer.clone()
        whole.setSubsetString("")
        if whole.isValid() and whole.subsetString() == "":
            layer = whole
        elif feedback is not None:
            feedback.pushWarning(f"LABELS: '{layer.name()}' cannot be read without its filter; "
                                 "its text classes are numbered over the features it shows, "
                                 "which another filter of it may number otherwise")
    request = QgsFeatureRequest().setSubsetOfAttributes([index])
    texts: set[str] = set()
    for i, feature in enumerate(layer.getFeatures(request)):
        if i % 500 == 0 and feedback is not None and feedback.isCanceled():
            raise Cancelled()
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            continue
        value = feature.attribute(index)
        if isinstance(value, str):
            if value.strip():
                texts.add(value)
                if len(texts) > 1000:
                    break
        elif value is not None and value:
            # a numeric field's values are numbers (QGIS 3.38+ types fields by QMetaType,
            # so the values say it on every version); a NULL is None or a null QVariant
            return ()
    return tuple(sorted(texts))


def add_classifier_label_parameters(alg) -> None:
    """Train Classifier's labels: a vector layer whose class field is chosen from a list (a
    field parameter parented to a vector-layer parameter), or, instead, a classified raster
    of its own parameter. (QGIS 3.22's crash came from parenting a field parameter to a
    mixed map-layer parameter, which is why the other algorithms take the name as text.)"""
    alg.add(QgsProcessingParameterVectorLayer(
        "LABELS", alg.tr("Training polygons, points or lines"),
        types=[QgsProcessing.SourceType.TypeVectorPolygon, QgsProcessing.SourceType.TypeVectorPoint,
               QgsProcessing.SourceType.TypeVectorLine], optional=True),
        "Polygons, points or lines with a class field (any CRS; a line labels the pixels it "
        "crosses). Give these, or a classified raster in LABEL_RASTER.")
    alg.add(QgsProcessingParameterField(
        "CLASS_FIELD", alg.tr("Class field"), parentLayerParameterName="LABELS", optional=True),
        "The field holding each feature's class: whole numbers 1..255, or text (each distinct "
        "text becomes a class, numbered 1..n alphabetically over the whole layer, its "
        "selection and filter aside, the text kept as its name; codes kept as text, '3' or '3.0', keep their values). "
        "Required with LABELS.")
    alg.add(QgsProcessingParameterField(
        "CLASS_NAME_FIELD", alg.tr("Class name field"),
        parentLayerParameterName="LABELS", type=QgsProcessingParameterField.DataType.String,
        optional=True),
        "With a numeric class field: a text field naming each class.")
    alg.add(QgsProcessingParameterBoolean(
        "SELECTED_FEATURES_ONLY", alg.tr("Selected features only"), defaultValue=False),
        "Use only the selected features of LABELS.")
    alg.add(QgsProcessingParameterRasterLayer(
        "LABEL_RASTER", alg.tr("... or a classified raster of labels"), optional=True),
        "Instead of LABELS: a raster of class values 1..255 (0 = NoData), on any grid or CRS "
        "(warped onto the image with nearest neighbour).")
    alg.add(QgsProcessingParameterBoolean(
        "ALL_TOUCHED", alg.tr("Burn every pixel a feature touches"), defaultValue=False),
        "On: thin polygons burn every pixel they touch. Off: only pixels whose centre is "
        "inside.", advanced=True)


def check_classifier_labels(parameters) -> tuple[bool, str]:
    """Exactly one of LABELS and LABEL_RASTER, and a class field with LABELS."""
    vector = parameters.get("LABELS") not in (None, "")
    raster = parameters.get("LABEL_RASTER") not in (None, "")
    if vector == raster:
        return False, ("LABELS: give training polygons/points in LABELS, or a classified raster "
                       "in LABEL_RASTER (one of the two)")
    if vector and parameters.get("CLASS_FIELD") in (None, ""):
        return False, "CLASS_FIELD: choose the field of LABELS that holds the classes"
    return True, ""


@contextmanager
def labels_named(parameters):
    """The core names its labels LABELS; given as a raster, the user set LABEL_RASTER, and
    an error about them names that."""
    try:
        yield
    except InputError as exc:
        if exc.parameter != "LABELS" or parameters.get("LABEL_RASTER") in (None, ""):
            raise
        raise InputError("label_raster", exc.detail.replace("LABELS", "LABEL_RASTER")) from None


def classifier_label_config(alg, parameters, context, feedback) -> LabelConfig:
    parameters = selection_unwrapped(parameters)
    if parameters.get("LABEL_RASTER") not in (None, ""):
        layer = alg.parameterAsRasterLayer(parameters, "LABEL_RASTER", context)
        return _label_config(labels=raster_path(layer, "LABEL_RASTER", feedback))
    layer = alg.parameterAsVectorLayer(parameters, "LABELS", context)
    if layer is None:
        raise QgsProcessingException("LABELS: the layer could not be loaded")
    return _vector_config(alg, layer, parameters, context, feedback,
                          _field(alg, parameters, "CLASS_FIELD", context),
                          _field(alg, parameters, "CLASS_NAME_FIELD", context))


def _field(alg, parameters, key, context) -> str | None:
    """The chosen field of a field parameter (its one name), or None. parameterAsStrings
    where QGIS has it (3.32+; 3.44 deprecates parameterAsFields), else parameterAsFields."""
    as_strings = getattr(alg, "parameterAsStrings", None)
    names = (as_strings if as_strings is not None else alg.parameterAsFields)(
        parameters, key, context)
    return names[0] if names else None


def _label_config(**fields) -> LabelConfig:
    from ..core.labels.base import LabelConfig

    return LabelConfig(**fields)
