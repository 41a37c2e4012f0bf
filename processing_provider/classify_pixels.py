"""Classify Pixels: a raster (or the map extent) through a model into a styled class map."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .band_numbers import band_numbers
from .base import LandLearnAlgorithm
from .classify_params import add_run_parameters, resume_without_dask, run_fields
from .layers import extent_of, optional_raster, raster_path

# Post-processors must outlive the algorithm run; QGIS does not own them.
_KEEP: list = []


class ApplyStyle(QgsProcessingLayerPostProcessorInterface):
    """Loads the .qml written beside a classified raster, so the map shows class names."""

    def __init__(self, qml: str):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):
        if os.path.exists(self.qml):
            layer.loadNamedStyle(self.qml)
            layer.triggerRepaint()


def style_on_load(context, output: str) -> None:
    """Give ``output``, when Processing loads it, the .qml written beside it: Processing
    loads outputs without their default style, and QGIS 3.22 reads a GeoTIFF's colour
    table but not its class names."""
    if context.willLoadLayerOnCompletion(output):
        styler = ApplyStyle(os.path.splitext(output)[0] + ".qml")
        _KEEP.append(styler)
        context.layerToLoadOnCompletionDetails(output).setPostProcessor(styler)


class ClassifyPixelsAlgorithm(LandLearnAlgorithm):
    ID = "classifypixels"
    DISPLAY_NAME = "Classify Pixels"
    GROUP = "Deep learning"
    ICON = "classify"
    HELP = (
        "Classifies a raster, or the part of it inside EXTENT (the dialog offers the map canvas "
        "extent), with a model package from Train Deep Learning Model or Train Classifier. The raster is read in tiles that "
        "overlap by PADDING pixels on each side; only the centre of each tile is kept "
        "(BLEND=centre) or overlapping tiles are blended with weights that fade to the edges "
        "(BLEND=weighted), so the map has no seams. Reading, computing and writing overlap, "
        "and batches run on the GPU when there is one. NoData in the raster stays NoData (0). "
        "The output is a uint8 GeoTIFF with the model's class names and colours (and a .qml "
        "style); optional outputs hold the confidence (highest class probability) and one "
        "probability band per class.\n\n"
        "Object-based models (Train Classifier with SEGMENTED_RASTER) take the segments of the "
        "raster in SEGMENTED_RASTER: each segment is described as in training and classified "
        "once, and all its pixels get its class, exactly across tiles.\n\n"
        "On a Dask cluster (advanced: DASK_SCHEDULER, or PARALLEL_PROCESSING_FACTOR for worker "
        "processes on this machine) the raster is classified in blocks of BLOCK_SIZE pixels, "
        "retried RETRIES times when they fail, and the map is the same as in one process. "
        "Workers need the raster, the model and the output's folder at the same paths; RESUME "
        "takes up the blocks of an interrupted run.\n\n"
        "Checks: a band count that does not match the model is an error; a different band "
        "order, data type, value range, GDAL scale and offset or cell size than in training "
        "is a warning that says how to fix it (e.g. CELL_SIZE to resample).\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:classifypixels -- "
        "INPUT_RASTER=landsat.tif MODEL=landcover.dlpk OUTPUT=landcover.tif"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The raster to classify; it needs the bands the model was trained on.")
        self.add(QgsProcessingParameterFile(
            "MODEL", self.tr("Model package (.dlpk or .emd)"),
            fileFilter="LandLearn model (*.dlpk *.emd)"),
            "A .dlpk from Train Deep Learning Model or Train Classifier, or the .emd inside an "
            "unpacked package folder.")
        self.add(QgsProcessingParameterBand(
            "BANDS", self.tr("Bands (empty = the model's)"), parentLayerParameterName="INPUT_RASTER",
            optional=True, allowMultiple=True),
            "Bands to feed the model, in training order. Empty: the band numbers the training "
            "chips were exported from.")
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to classify, in any CRS; snapped outward to whole pixels.")
        self.add(QgsProcessingParameterRasterLayer(
            "SEGMENTED_RASTER", self.tr("Segmented raster (object-based models)"), optional=True),
            "For a model trained on segments (Train Classifier with SEGMENTED_RASTER): the "
            "segment ids of this raster on its grid, from Segment with the training settings "
            "(or any integer raster). Every pixel of a segment gets the segment's class.")
        add_run_parameters(self)
        self.add(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classified raster")),
                 "uint8 GeoTIFF, 0 = NoData/unclassified, with class names, colours and .qml.")
        self.add(QgsProcessingParameterRasterDestination(
            "OUTPUT_CONFIDENCE", self.tr("Confidence raster"), optional=True,
            createByDefault=False),
            "Optional float32 raster of the highest class probability (-1 = NoData).")
        self.add(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False),
            "Optional float32 raster with one probability band per class (-1 = NoData).")

    def perform(self, parameters, context, progress, feedback):
        from ..core.classify.classify_pixels import ClassifyConfig, classify_pixels

        def optional_output(key):
            if parameters.get(key) in (None, ""):
                return None
            return self.parameterAsOutputLayer(parameters, key, context) or None

        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        config = ClassifyConfig(
            input_raster=raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER",
                                                                 context), "INPUT_RASTER", feedback),
            model=self.parameterAsFile(parameters, "MODEL", context),
            output=output,
            bands=tuple(band_numbers(self, parameters, "BANDS", context)) or None,
            extent=extent_of(self, parameters, "EXTENT", context),
            output_confidence=optional_output("OUTPUT_CONFIDENCE"),
            output_probabilities=optional_output("OUTPUT_PROBABILITIES"),
            segmented_raster=optional_raster(self, parameters, "SEGMENTED_RASTER", context, feedback),
            **run_fields(self, parameters, context))
        resume_without_dask(config, feedback)
        result = classify_pixels(config, progress)
        feedback.pushInfo(result.summary())
        style_on_load(context, output)
        return {"OUTPUT": output, "OUTPUT_CONFIDENCE": result.output_confidence,
                "OUTPUT_PROBABILITIES": result.output_probabilities}

