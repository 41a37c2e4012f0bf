"""Rasterize Labels: polygons/points or a classified raster onto an image's pixel grid.

The first step of every workflow, and the place to see what training will see: which
pixels are labelled, with which class, after reprojection and NoData masking.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import LandLearnAlgorithm
from .classify_pixels import style_on_load
from .label_params import add_label_parameters, label_config
from .layers import extent_of, raster_path


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
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:rasterizelabels -- "
        "INPUT_RASTER=landsat.tif LABELS=polygons.shp CLASS_FIELD=id OUTPUT=labels.tif"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The image whose pixel grid (CRS, cell size, alignment) the labels are burnt onto.")
        add_label_parameters(self)
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to process, in any CRS; snapped outward to the image's pixels.")
        self.add_size_limit("label raster")
        self.add(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Label raster")),
                 "Output GeoTIFF (uint8, 0 = NoData) with colour table, class names and a .qml style.")
        self.addOutput(QgsProcessingOutputNumber("LABELLED_PIXELS", self.tr("Labelled pixels")))
        self.addOutput(QgsProcessingOutputNumber("CLASS_COUNT",
                                                 self.tr("Number of classes with pixels")))

    def perform(self, parameters, context, progress, feedback):
        from ..core.labels.rasterize_labels import LabelRasterConfig, write_label_raster

        image = raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER", context),
                            "INPUT_RASTER", feedback)
        labels = label_config(self, parameters, context, feedback)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        result = write_label_raster(LabelRasterConfig(
            input_raster=image, labels=labels, output=output,
            extent=extent_of(self, parameters, "EXTENT", context),
            max_output_gpx=self.size_limit(parameters, context)), progress)
        feedback.pushInfo(result.summary())
        style_on_load(context, output)  # the class names in the legend, as promised
        return {"OUTPUT": output, "LABELLED_PIXELS": sum(result.pixel_counts.values()),
                "CLASS_COUNT": result.classes_with_pixels}
