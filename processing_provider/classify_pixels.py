"""Classify Pixels: a raster (or the map extent) through a model into a styled class map."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import LandLearnAlgorithm
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
        "order, data type, value range or cell size than in training is a warning that says "
        "how to fix it (e.g. CELL_SIZE to resample).\n\n"
        "Example (qgis_process): qgis_process run landlearn:classifypixels -- "
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
        self.add(QgsProcessingParameterNumber(
            "CELL_SIZE", self.tr("Cell size (empty = the raster's)"),
            QgsProcessingParameterNumber.Type.Double, optional=True),
            "Resample the raster (bilinear) to this cell size first, e.g. the model's.",
            advanced=True)
        self.add(QgsProcessingParameterNumber(
            "TILE_SIZE", self.tr("Tile size (empty = from the model)"),
            QgsProcessingParameterNumber.Type.Integer, optional=True),
            "Pixels per tile side, a multiple of 32. Empty: the model's chip size, at least 256.")
        self.add(QgsProcessingParameterNumber(
            "PADDING", self.tr("Padding (empty = from the model)"),
            QgsProcessingParameterNumber.Type.Integer, optional=True),
            "Context pixels on each side of a tile that are discarded (or faded, with "
            "weighted blending). Empty: the model's recommendation, at least 32.")
        self.add(QgsProcessingParameterNumber(
            "BATCH_SIZE", self.tr("Batch size (empty = fit the device)"),
            QgsProcessingParameterNumber.Type.Integer, optional=True),
            "Tiles per forward pass.", advanced=True)
        self.add_choice("BLEND", "Blending of overlapping tiles",
                        [("centre", "Keep tile centres"), ("weighted", "Weighted blending")],
                        "centre", "How overlapping tiles are combined.")
        self.add(QgsProcessingParameterBoolean(
            "TEST_TIME_AUGMENTATION", self.tr("Test-time augmentation (flips)"), defaultValue=False),
            "Average the predictions of the tile and its horizontal, vertical and double "
            "flips: smoother maps, four times the compute.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "CONFIDENCE_THRESHOLD", self.tr("Confidence threshold (0 = off)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.0),
            "Pixels whose highest class probability is below this become 0 (unclassified).",
            advanced=True)
        self.add_choice("DEVICE", "Device", [("auto", "Auto (GPU when available)"),
                                             ("cuda", "CUDA GPU"), ("cpu", "CPU")], "auto",
                        "Where the model runs. cuda fails clearly when no GPU is usable.")
        self.add_choice("RUNTIME", "Runtime (deep models)",
                        [("auto", "Auto (ONNX Runtime on CPU, torch on GPU)"),
                         ("onnxruntime", "ONNX Runtime"), ("torch", "PyTorch")], "auto",
                        "What runs a deep model. Packages trained with LandLearn 0.2+ carry an "
                        "ONNX graph of the network; ONNX Runtime runs it on the CPU faster than "
                        "torch and without torch installed, with the same map (probabilities "
                        "within 1e-3). auto uses it on the CPU when onnxruntime is installed, "
                        "torch on a GPU; older packages get a graph from Export Model.",
                        advanced=True)
        self.add(QgsProcessingParameterBoolean(
            "QUANTIZE", self.tr("Run the int8 graph (faster on CPU, map changes slightly)"),
            defaultValue=False),
            "Deep models: run the package's int8 (quantised) ONNX graph on ONNX Runtime on the "
            "CPU, about twice as fast as the float graph, at a small accuracy cost recorded in "
            "the package and in BENCHMARKS.md. The package needs one: train with QUANTIZE, or "
            "add one with Export Model (QUANTIZE and the training data for calibration).",
            advanced=True)
        self.add(QgsProcessingParameterBoolean(
            "MIXED_PRECISION", self.tr("Mixed precision on GPU"), defaultValue=True),
            "bfloat16/float16 autocast on CUDA; ignored on CPU.", advanced=True)
        self.add_size_limit("classified map")
        self.add(QgsProcessingParameterString(
            "DASK_SCHEDULER", self.tr("Dask scheduler address (empty = no cluster)"),
            optional=True),
            "Classify on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (start `dask "
            "scheduler`, and `dask worker <address>` on each machine, with LandLearn and its "
            "packages installed there). Every worker reads the raster and the model itself and "
            "writes its blocks beside the output, so all three must be on storage every worker "
            "mounts at the same path (the raster may also be /vsis3/ or /vsicurl/). The map is "
            "the same as in one process.", advanced=True)
        self.add(QgsProcessingParameterString(
            "PARALLEL_PROCESSING_FACTOR", self.tr("Parallel processing factor (empty = one "
                                                  "process)"), optional=True),
            "Without a scheduler: worker processes to start on this machine, as a number (4) or "
            "a share of its cores (50%); empty or 1 keeps the one-process engine. Needs the "
            "dask[distributed] package.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "RETRIES", self.tr("Number of retries on failures"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=3, minValue=0),
            "With Dask: how often a failed block is tried again before the run stops with its "
            "window and cause. Blocks of a worker that dies are re-run anyway.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "BLOCK_SIZE", self.tr("Block size (pixels, Dask)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=4096, minValue=256),
            "With Dask: pixels per side of one unit of work, rounded down to whole tiles. A "
            "worker's memory follows it, never the raster's size.", advanced=True)
        self.add(QgsProcessingParameterBoolean(
            "RESUME", self.tr("Resume an interrupted run"), defaultValue=False),
            "With Dask: take up the blocks an interrupted run with the same model, raster and "
            "parameters finished (kept in a hidden folder beside the output). A changed model "
            "or parameter starts over.", advanced=True)
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

        def optional_int(key):
            return (None if parameters.get(key) in (None, "")
                    else self.parameterAsInt(parameters, key, context))

        def optional_output(key):
            if parameters.get(key) in (None, ""):
                return None
            return self.parameterAsOutputLayer(parameters, key, context) or None

        cell = parameters.get("CELL_SIZE")
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        config = ClassifyConfig(
            input_raster=raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER",
                                                                 context), "INPUT_RASTER"),
            model=self.parameterAsFile(parameters, "MODEL", context),
            output=output,
            bands=tuple(self.parameterAsInts(parameters, "BANDS", context)) or None,
            extent=extent_of(self, parameters, "EXTENT", context),
            cell_size=None if cell in (None, "") else self.parameterAsDouble(
                parameters, "CELL_SIZE", context),
            tile_size=optional_int("TILE_SIZE"), padding=optional_int("PADDING"),
            batch_size=optional_int("BATCH_SIZE"), blend=self.choice(parameters, "BLEND"),
            test_time_augmentation=self.parameterAsBoolean(parameters, "TEST_TIME_AUGMENTATION",
                                                           context),
            confidence_threshold=self.parameterAsDouble(parameters, "CONFIDENCE_THRESHOLD",
                                                        context),
            device=self.choice(parameters, "DEVICE"),
            runtime=self.choice(parameters, "RUNTIME"),
            quantize=self.parameterAsBoolean(parameters, "QUANTIZE", context),
            mixed_precision=self.parameterAsBoolean(parameters, "MIXED_PRECISION", context),
            output_confidence=optional_output("OUTPUT_CONFIDENCE"),
            output_probabilities=optional_output("OUTPUT_PROBABILITIES"),
            max_output_gpx=self.size_limit(parameters, context),
            segmented_raster=optional_raster(self, parameters, "SEGMENTED_RASTER", context),
            dask_scheduler=(self.parameterAsString(parameters, "DASK_SCHEDULER", context)
                            or "").strip(),
            parallel_processing_factor=(self.parameterAsString(
                parameters, "PARALLEL_PROCESSING_FACTOR", context) or "").strip(),
            retries=self.parameterAsInt(parameters, "RETRIES", context),
            block_size=self.parameterAsInt(parameters, "BLOCK_SIZE", context),
            resume=self.parameterAsBoolean(parameters, "RESUME", context))
        result = classify_pixels(config, progress)
        feedback.pushInfo(result.summary())
        if context.willLoadLayerOnCompletion(output):
            styler = ApplyStyle(os.path.splitext(output)[0] + ".qml")
            _KEEP.append(styler)
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(styler)
        return {"OUTPUT": output, "OUTPUT_CONFIDENCE": result.output_confidence,
                "OUTPUT_PROBABILITIES": result.output_probabilities}

