"""Rasterize Labels: polygons/points or a classified raster onto an image's pixel grid.

The first step of every workflow, and the place to see what training will see: which
pixels are labelled, with which class, after reprojection and NoData masking.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterField,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..core.label_raster import LabelRasterConfig, write_label_raster
from ..core.labels import LabelConfig
from .base import LandLearnAlgorithm
from .layers import extent_of, raster_path, vector_path


class RasterizeLabelsAlgorithm(LandLearnAlgorithm):
    ID = "rasterizelabels"
    DISPLAY_NAME = "Rasterize Labels"
    GROUP = "Training data"
    ICON = "rasterize"
    HELP = (
        "Burns training labels onto the pixel grid of an image: polygons or points with a class "
        "field (numeric, or text which becomes classes 1..n in alphabetical order with the texts "
        "as names), or a classified raster on any grid and CRS (warped with nearest neighbour). "
        "0 means NoData/unlabelled; labels on image NoData are dropped. The output is a styled "
        "uint8 GeoTIFF with a colour table and class names, aligned to the image.\n\n"
        "Example (qgis_process): qgis_process run landlearn:rasterizelabels -- "
        "INPUT_RASTER=landsat.tif LABELS=polygons.shp CLASS_FIELD=id OUTPUT=labels.tif"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The image whose pixel grid (CRS, cell size, alignment) the labels are burnt onto.")
        self.add(QgsProcessingParameterMapLayer(
            "LABELS", self.tr("Labels (polygons, points or classified raster)"),
            types=[QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint,
                   QgsProcessing.TypeRaster]),
            "A polygon/point layer with a class field, or a classified raster with values "
            "1..255 (0 = NoData). Any CRS: it is reprojected onto the image.")
        self.add(QgsProcessingParameterField(
            "CLASS_FIELD", self.tr("Class field (vector labels)"), parentLayerParameterName="LABELS",
            optional=True),
            "Field holding each feature's class: whole numbers 1..255, or text (each distinct "
            "text becomes a class). Required for vector labels.")
        self.add(QgsProcessingParameterField(
            "CLASS_NAME_FIELD", self.tr("Class name field (optional)"),
            parentLayerParameterName="LABELS", optional=True),
            "With a numeric class field: a text field naming each class.")
        self.add(QgsProcessingParameterBoolean(
            "SELECTED_FEATURES_ONLY", self.tr("Selected features only"), defaultValue=False),
            "Use only the selected features of the label layer.")
        self.add(QgsProcessingParameterBoolean(
            "ALL_TOUCHED", self.tr("Burn every pixel a feature touches"), defaultValue=False),
            "On: thin polygons and lines burn every pixel they touch. Off: only pixels whose "
            "centre is inside.", advanced=True)
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to process, in any CRS; snapped outward to the image's pixels.")
        self.add(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Label raster")),
                 "Output GeoTIFF (uint8, 0 = NoData) with colour table, class names and a .qml style.")
        self.addOutput(QgsProcessingOutputNumber("LABELLED_PIXELS", self.tr("Labelled pixels")))
        self.addOutput(QgsProcessingOutputNumber("CLASS_COUNT", self.tr("Number of classes")))

    def perform(self, parameters, context, progress, feedback):
        image = raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER", context),
                            "INPUT_RASTER")
        layer = self.parameterAsLayer(parameters, "LABELS", context)
        if layer is None:
            raise QgsProcessingException("LABELS: no label layer was given or it could not be loaded")
        layer_name = None
        if isinstance(layer, QgsVectorLayer):
            path, layer_name = vector_path(
                layer, "LABELS", self.parameterAsBoolean(parameters, "SELECTED_FEATURES_ONLY", context),
                context, feedback)
        elif isinstance(layer, QgsRasterLayer):
            path = raster_path(layer, "LABELS")
        else:
            raise QgsProcessingException("LABELS: use a vector layer or a classified raster")
        labels = LabelConfig(
            labels=path, layer=layer_name,
            class_field=self.parameterAsString(parameters, "CLASS_FIELD", context) or None,
            class_name_field=self.parameterAsString(parameters, "CLASS_NAME_FIELD", context) or None,
            all_touched=self.parameterAsBoolean(parameters, "ALL_TOUCHED", context))
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        result = write_label_raster(LabelRasterConfig(
            input_raster=image, labels=labels, output=output,
            extent=extent_of(self, parameters, "EXTENT", context)), progress)
        feedback.pushInfo(result.summary())
        return {"OUTPUT": output, "LABELLED_PIXELS": sum(result.pixel_counts.values()),
                "CLASS_COUNT": len(result.classes)}
