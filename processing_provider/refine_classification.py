"""Refine Classification: segment majority / probability averaging and a minimum mapping
unit for any classified map."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import LandLearnAlgorithm
from .classify_pixels import style_on_load
from .layers import optional_raster, raster_path


class RefineClassificationAlgorithm(LandLearnAlgorithm):
    ID = "refineclassification"
    DISPLAY_NAME = "Refine Classification"
    GROUP = "Segmentation"
    ICON = "segment"
    HELP = (
        "Cleans up a classified map: the salt-and-pepper of per-pixel classifiers and the "
        "small specks of any map. INPUT_RASTER is a class map (one band of whole class values, "
        "0 = NoData, integer or float (NaN = NoData); from Classify Pixels or any other tool) or the class probabilities Classify "
        "Pixels writes (OUTPUT_PROBABILITIES).\n\n"
        "With SEGMENTED_RASTER (segment ids on the same grid, e.g. from Segment), every pixel "
        "of a segment gets the segment's class: the majority of its pixels' classes, or with "
        "probabilities the class of highest mean probability. With MIN_REGION_SIZE, connected "
        "regions of one class smaller than it (pixels, or hectares in a projected CRS) merge "
        "into their largest neighbour and take its class, or with probabilities and MERGE_INTO=similar into the "
        "neighbour whose mean probabilities are closest. Both may be used; segments come "
        "first. NoData stays NoData, as do pixels Classify Pixels left unclassified under "
        "its CONFIDENCE_THRESHOLD. Works on rasters of any size in tiles, with the same "
        "result as in one piece. The output keeps the input's classes, names and colours.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:refineclassification -- "
        "INPUT_RASTER=classes.tif SEGMENTED_RASTER=segment_ids.tif MIN_REGION_SIZE=8 "
        "OUTPUT=refined.tif"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer(
            "INPUT_RASTER", self.tr("Classified raster or class probabilities")),
            "A class map (1 band of whole numbers, 0 = NoData) or Classify Pixels' probabilities.")
        self.add(QgsProcessingParameterRasterLayer(
            "SEGMENTED_RASTER", self.tr("Segments (optional)"), optional=True),
            "Integer segment ids on the input's grid (Segment's OUTPUT_SEGMENT_IDS, or any); "
            "every pixel of a segment gets its segment's class.")
        self.add(QgsProcessingParameterNumber(
            "MIN_REGION_SIZE", self.tr("Minimum mapping unit (0 = off)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0),
            "Connected regions of one class smaller than this merge into a neighbour.")
        self.add_choice("SIZE_UNIT", "Unit of the minimum mapping unit",
                        [("pixels", "Pixels"), ("hectares", "Hectares")], "pixels",
                        "Hectares need a projected CRS (metres or feet).")
        self.add(QgsProcessingParameterNumber(
            "CONNECTIVITY", self.tr("Connectivity (4 or 8)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=4, minValue=4, maxValue=8),
            "Which pixels touch: 4 (edges; GDAL's and QGIS's Sieve by default) or 8 (edges "
            "and corners).")
        self.add_choice("MERGE_INTO", "Merge small regions into",
                        [("largest", "The largest neighbour"),
                         ("similar", "The most similar neighbour (probabilities)")], "largest",
                        "similar compares mean class probabilities, so it needs "
                        "probabilities as INPUT_RASTER.", advanced=True)
        self.add(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Refined raster")),
                 "uint8 class map (0 = NoData) with the input's class names, colours and "
                 ".qml.")
        self.addOutput(QgsProcessingOutputNumber("CHANGED_PIXELS",
                                                 self.tr("Pixels that changed class")))

    def checkParameterValues(self, parameters, context):
        """The dialog's defaults (no segments, no minimum mapping unit) and a connectivity
        the spin box offers but no one means (5..7): said before the run starts."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        connectivity = self.parameterAsDouble(parameters, "CONNECTIVITY", context)
        merging = self.parameterAsDouble(parameters, "MIN_REGION_SIZE", context) > 0
        if merging and connectivity not in (4, 8):  # unused (and unchecked) without a unit
            return False, f"CONNECTIVITY: {connectivity:g} is not 4 or 8"
        if parameters.get("SEGMENTED_RASTER") in (None, "") and \
                self.parameterAsDouble(parameters, "MIN_REGION_SIZE", context) <= 0:
            return False, ("SEGMENTED_RASTER: nothing to refine: give SEGMENTED_RASTER, a "
                           "MIN_REGION_SIZE above 0, or both")
        return True, ""

    def perform(self, parameters, context, progress, feedback):
        from ..core.refine import RefineConfig, refine_classification

        segments = optional_raster(self, parameters, "SEGMENTED_RASTER", context, feedback)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        result = refine_classification(RefineConfig(
            input_raster=raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER",
                                                                 context), "INPUT_RASTER", feedback),
            output=output, segmented_raster=segments,
            min_region_size=self.parameterAsDouble(parameters, "MIN_REGION_SIZE", context),
            size_unit=self.choice(parameters, "SIZE_UNIT"),
            connectivity=self.parameterAsInt(parameters, "CONNECTIVITY", context),
            merge_into=self.choice(parameters, "MERGE_INTO")), progress)
        feedback.pushInfo(result.summary())
        style_on_load(context, output)
        return {"OUTPUT": output, "CHANGED_PIXELS": result.changed}
