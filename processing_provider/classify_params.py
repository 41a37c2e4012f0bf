"""The Classify Pixels settings both classify algorithms take (Classify Pixels and Classify
Raster Collection): tiles, blending, device, runtime, size limit and Dask; one definition,
so the two dialogs and their qgis_process keys cannot drift apart."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)


def add_run_parameters(alg) -> None:
    alg.add(QgsProcessingParameterNumber(
        "CELL_SIZE", alg.tr("Cell size (empty = the raster's)"),
        QgsProcessingParameterNumber.Type.Double, optional=True),
        "Resample the raster (bilinear) to this cell size first, e.g. the model's.",
        advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "TILE_SIZE", alg.tr("Tile size (empty = from the model)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "Pixels per tile side, a multiple of 32. Empty: the model's chip size, at least 256 and "
        "at most 2048 (512 for an object-based model); a deep model with centre blending "
        "takes the tile of up to 1024 px that computes the fewest pixels over the area (each "
        "tile also computes its padding).")
    alg.add(QgsProcessingParameterNumber(
        "PADDING", alg.tr("Padding (empty = from the model)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "Context pixels on each side of a tile that are discarded (or faded, with "
        "weighted blending). Empty: for a deep model its recommendation, at least 32 (at "
        "most (TILE_SIZE - 16) / 2); for a classifier with neighbourhood features half its "
        "widest window; none for other classifiers.")
    alg.add(QgsProcessingParameterNumber(
        "BATCH_SIZE", alg.tr("Batch size (empty = fit the device)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "Tiles per forward pass.", advanced=True)
    alg.add_choice("BLEND", "Blending of overlapping tiles",
                    [("centre", "Keep tile centres"), ("weighted", "Weighted blending")],
                    "centre", "How overlapping tiles are combined.")
    alg.add(QgsProcessingParameterBoolean(
        "TEST_TIME_AUGMENTATION", alg.tr("Test-time augmentation (flips)"), defaultValue=False),
        "Average the predictions of the tile and its horizontal, vertical and double "
        "flips: smoother maps, four times the compute.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "CONFIDENCE_THRESHOLD", alg.tr("Confidence threshold (0 = off)"),
        QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0),
        "Pixels whose highest class probability is below this become 0 (unclassified); "
        "0..1, below 1.",
        advanced=True)
    alg.add_choice("DEVICE", "Device", [("auto", "Auto (GPU when available)"),
                                         ("cuda", "CUDA GPU"), ("cpu", "CPU")], "auto",
                    "Where the model runs. cuda fails clearly when no GPU is usable.")
    alg.add_choice("RUNTIME", "Runtime (deep models)",
                    [("auto", "Auto (ONNX Runtime on CPU, torch on GPU)"),
                     ("onnxruntime", "ONNX Runtime"), ("torch", "PyTorch")], "auto",
                    "What runs a deep model. Packages trained with onnx installed carry an "
                    "ONNX graph of the network; ONNX Runtime runs it on the CPU faster than "
                    "torch and without torch installed, with the same map (probabilities "
                    "within 1e-3). auto uses it on the CPU when onnxruntime and onnx are installed, "
                    "torch on a GPU; older packages get a graph from Export Model.",
                    advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "QUANTIZE", alg.tr("Run the int8 graph (faster on CPU, map changes slightly)"),
        defaultValue=False),
        "Deep models: run the package's int8 (quantised) ONNX graph on ONNX Runtime on the "
        "CPU, about 1.3-1.4x as fast as the float graph (1.9x torch), at a small accuracy "
        "cost recorded in the package and in BENCHMARKS.md. The package needs one: train with QUANTIZE, or "
        "add one with Export Model (QUANTIZE and the training data for calibration).",
        advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "MIXED_PRECISION", alg.tr("Mixed precision on GPU (faster, map may differ slightly)"),
        defaultValue=False),
        "bfloat16 autocast on CUDA (float16 where the GPU has no bfloat16); ignored on CPU. "
        "Off, a GPU gives the CPU's map: measured on an H200, autocast was 1.1-1.2x faster "
        "and changed about 0.14% of the pixels (BENCHMARKS.md, GPU).", advanced=True)
    alg.add_size_limit("classified map")
    alg.add(QgsProcessingParameterString(
        "DASK_SCHEDULER", alg.tr("Dask scheduler address (empty = no cluster)"),
        optional=True),
        "Classify on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (start `dask "
        "scheduler`, and `dask worker ADDRESS` on each machine, with LandLearn and its "
        "packages installed there). Every worker reads the raster and the model itself and "
        "writes its blocks beside the output, so all three must be on storage every worker "
        "mounts at the same path (the raster may also be /vsis3/ or /vsicurl/). The map is "
        "the same as in one process.", advanced=True)
    alg.add(QgsProcessingParameterString(
        "PARALLEL_PROCESSING_FACTOR", alg.tr("Parallel processing factor (empty = one "
                                              "process)"), optional=True),
        "Without a scheduler: worker processes to start on this machine, as a number (4) or "
        "a share of the cores this process may use (50%); empty or 1 keeps the one-process "
        "engine. Needs the "
        "dask[distributed] package.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "RETRIES", alg.tr("Number of retries on failures"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=3, minValue=0),
        "With Dask: how often a failed block is tried again before the run stops with its "
        "window and cause. Blocks of a worker that dies are re-run anyway.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "BLOCK_SIZE", alg.tr("Block size (pixels, Dask)"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=4096, minValue=256),
        "With Dask: pixels per side of one unit of work, rounded down to whole tiles. A "
        "worker's memory follows it, never the raster's size.", advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "RESUME", alg.tr("Resume an interrupted run"), defaultValue=False),
        "With Dask: take up the blocks an interrupted run with the same model, raster and "
        "parameters finished (kept in a hidden folder beside the output). Classify Raster "
        "Collection's each_item mode also takes up the finished items, with or without "
        "Dask. A changed model or parameter starts over.", advanced=True)


def run_fields(alg, parameters, context) -> dict:
    """ClassifyConfig's fields for the parameters add_run_parameters declared."""

    def optional_int(key):
        return (None if parameters.get(key) in (None, "")
                else alg.parameterAsInt(parameters, key, context))

    cell = parameters.get("CELL_SIZE")
    return dict(
        cell_size=None if cell in (None, "") else alg.parameterAsDouble(
            parameters, "CELL_SIZE", context),
        tile_size=optional_int("TILE_SIZE"), padding=optional_int("PADDING"),
        batch_size=optional_int("BATCH_SIZE"), blend=alg.choice(parameters, "BLEND"),
        test_time_augmentation=alg.parameterAsBoolean(parameters, "TEST_TIME_AUGMENTATION",
                                                       context),
        confidence_threshold=alg.parameterAsDouble(parameters, "CONFIDENCE_THRESHOLD",
                                                    context),
        device=alg.choice(parameters, "DEVICE"),
        runtime=alg.choice(parameters, "RUNTIME"),
        quantize=alg.parameterAsBoolean(parameters, "QUANTIZE", context),
        mixed_precision=alg.parameterAsBoolean(parameters, "MIXED_PRECISION", context),
        max_output_gpx=alg.size_limit(parameters, context),
        dask_scheduler=(alg.parameterAsString(parameters, "DASK_SCHEDULER", context)
                        or "").strip(),
        parallel_processing_factor=(alg.parameterAsString(
            parameters, "PARALLEL_PROCESSING_FACTOR", context) or "").strip(),
        retries=alg.parameterAsInt(parameters, "RETRIES", context),
        block_size=alg.parameterAsInt(parameters, "BLOCK_SIZE", context),
        resume=alg.parameterAsBoolean(parameters, "RESUME", context))


def resume_without_dask(config, feedback) -> None:
    """RESUME takes up a stopped Dask run's blocks: in one process it was ignored without a
    word, and a user resuming a killed run watched it start from the beginning."""
    from ..core.classify.distributed.plan import parse_factor

    if config.resume and not config.dask_scheduler and \
            parse_factor(config.parallel_processing_factor) <= 1:
        feedback.pushWarning("RESUME takes up the blocks of a stopped Dask run; with neither "
                             "DASK_SCHEDULER nor PARALLEL_PROCESSING_FACTOR this run is one "
                             "process and starts from the beginning")
