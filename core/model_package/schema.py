"""The .emd of a model package, checked field by field before anything is built from it.

A package is untrusted input (a colleague's, a forum's): every number that later sizes an
allocation (bands, classes, tile, padding) or names a file (ModelFile, trees_file) is
checked here for type and range first, so a crafted ``"in_channels": 1000000`` is a
MODEL error instead of a 13 GB network, and a ``"ModelFile": "../../.ssh/id_rsa"`` is a
MODEL error instead of a read outside the package.
"""

from __future__ import annotations

import math
import re

from ..errors import InputError

FORMAT = "landlearn-model"
# the newest package version this LandLearn reads; 2: ensemble packages (ensemble_members),
# 3: networks with the detail head (detail_head), 4: classical models with neighbourhood
# features (neighbourhood). A package says the lowest version that
# holds what it needs (1 when nothing newer), so that older LandLearns still read it or
# refuse it by its version, before any weights are read.
FORMAT_VERSION = 4
PLAIN_VERSION = 1
ENSEMBLE_VERSION = 2
DETAIL_HEAD_VERSION = 3
NEIGHBOURHOOD_VERSION = 4


def package_version(members: int = 1, detail_head: bool = False) -> int:
    """The version a deep package is written with (see FORMAT_VERSION)."""
    if detail_head:
        return DETAIL_HEAD_VERSION
    return ENSEMBLE_VERSION if members > 1 else PLAIN_VERSION

MAX_BANDS = 1024  # hyperspectral sensors have a few hundred
MAX_SOURCE_BANDS = 65535
MIN_TILE, MAX_TILE = 16, 8192
MAX_PADDING = 1024
MAX_ENSEMBLE = 8  # networks in one package (deep.ensemble.MAX_MEMBERS, without torch here)
RASTER_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
                 "float32", "float64")
WEIGHTS_SUFFIX = {"deep": ".safetensors", "classical": ".skops"}
TREES_FILES = ("forest_trees.npz", "boosting_trees.npz")
# what an object-based classifier may describe a segment by (ArcGIS's names)
SEGMENT_ATTRIBUTES = ("COLOR", "MEAN", "STD", "COUNT", "COMPACTNESS", "RECTANGULARITY")
# neighbourhood features of pixel classifiers (classical.neighbourhood's limits)
MAX_WINDOW, MAX_WINDOWS = 63, 4
NEIGHBOURHOOD_STATISTICS = ("mean", "mean_std")
# the range a calibration temperature may take (accuracy.calibration fits within it)
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
FLOAT32_SAFE = 1e30  # normalisation values float32 holds with room (its largest is 3.4e38)
# any name a user can give a .dlpk, but no folder part, drive, control character or '..'
_PLAIN_NAME = re.compile(r"^[^/\\:\x00-\x1f\x7f]{1,250}$")


class _Check:
    """Field checks that all fail the same way: one MODEL error naming the field."""

    def __init__(self, where: str, parameter: str):
        self.where, self.parameter = where, parameter

    def fail(self, field: str, why: str) -> InputError:
        return InputError(self.parameter, f"'{self.where}' is not a valid model package: "
                          f"{field} {why}; the package is damaged or was not written by "
                          "LandLearn (train or export it again)")

    def integer(self, value, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(field, f"is {value!r}, not a whole number")
        if not low <= value <= high:
            raise self.fail(field, f"is {value}, outside {low}..{high}")
        return value

    def numbers(self, value, field: str, length: int, positive: bool = False) -> list[float]:
        if not isinstance(value, list) or len(value) != length:
            got = len(value) if isinstance(value, list) else type(value).__name__
            raise self.fail(field, f"holds {got} values where {length} are needed")
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise self.fail(field, f"holds {v!r}, not a finite number")
            if positive and v < 0:
                raise self.fail(field, f"holds {v}, below 0")
            out.append(float(v))
        return out

    def text(self, value, field: str, limit: int = 256) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise self.fail(field, f"is not a text of at most {limit} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            # a NUL or newline in a class name broke the .qml and cut the .aux.xml's name
            # short (an adversarial sweep, stop 68)
            raise self.fail(field, "holds a control character")
        return value

    def file_name(self, value, field: str, suffixes: tuple[str, ...]) -> str:
        """A plain name inside the package: no folder, no '..', nothing absolute."""
        if not isinstance(value, str) or not _PLAIN_NAME.match(value) \
                or value.strip(". ") == "" or not value.lower().endswith(suffixes):
            raise self.fail(field, f"is {str(value)[:80]!r}; it must be a plain file name "
                            f"ending in {' or '.join(suffixes)}, inside the package")
        return value


def _foreign(emd: dict, where: str) -> str:
    """Why a .emd without a LandLearn block is refused, in terms of what it is: Export
    Training Data's description of chips (given as a model by mistake), or another tool's
    model, named by its own fields."""
    model_file = str(emd.get("ModelFile") or "")
    if "MetaDataMode" in emd and (not model_file or model_file.startswith("e.g.")):
        # LandLearn's export leaves ModelFile empty; ArcGIS's holds "e.g. ..." placeholders
        return (f"'{where}' describes training data (chips, as Export Training Data writes "
                "them), not a model: train one from that folder with Train Deep Learning "
                "Model or Train Classifier, and give the .dlpk it writes")
    said = [f"{k} '{str(emd[k])[:60]}'" for k in ("Framework", "ModelConfiguration",
                                                   "ModelType", "ModelName",
                                                   "InferenceFunction")
            if isinstance(emd.get(k), str) and emd[k]]
    return (f"'{where}' is not a LandLearn model package ({', '.join(said) or 'no framework'}"
            "); LandLearn runs the packages of its own Train Deep Learning Model and Train "
            "Classifier only. ArcGIS packages hold Python code LandLearn will not run: for "
            "pixel classification, train a model on the same Classified Tiles folder "
            "(TRAINING_DATA reads ArcGIS's exports); object detection and other model "
            "types are not supported")


def check_emd(emd, where: str, parameter: str = "model") -> dict:
    """Validate a LandLearn .emd (already parsed JSON); return its LandLearn block."""
    c = _Check(where, parameter)
    if not isinstance(emd, dict):
        raise c.fail("the .emd", "is not a JSON object")
    info = emd.get("LandLearn")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(parameter, _foreign(emd, where))
    version = c.integer(info.get("version", 0), "LandLearn.version", 0, 10**6)
    if version > FORMAT_VERSION:
        raise InputError(parameter, f"'{where}' was written by a newer LandLearn (package "
                         f"version {version}); update the plugin")
    kind = info.get("kind", "deep")
    if not isinstance(kind, str) or kind not in WEIGHTS_SUFFIX:
        raise InputError(parameter, f"'{where}' holds a '{str(kind)[:40]}' model, which this "
                         "version of LandLearn cannot run")
    c.file_name(emd.get("ModelFile"), "ModelFile", (WEIGHTS_SUFFIX[kind],))
    bands = c.integer(info.get("in_channels"), "LandLearn.in_channels", 1, MAX_BANDS)
    info["in_channels"] = bands  # 4.0 is 4 to every reader, the network builder too
    _check_classes(c, emd, info)
    names = info.get("band_names")
    if not isinstance(names, list) or len(names) != bands:
        raise c.fail("LandLearn.band_names", f"does not name the {bands} bands")
    for n in names:
        c.text(n, "LandLearn.band_names")
    _check_source_bands(c, info, bands)
    norm = info.get("normalization")
    if not isinstance(norm, dict):
        raise c.fail("LandLearn.normalization", "is missing")
    for key in ("mean", "std", "sample_mean", "sample_std"):
        if key in norm or key in ("mean", "std"):
            values = c.numbers(norm.get(key), f"LandLearn.normalization.{key}", bands,
                               positive=key.endswith("std"))
            _check_float32_range(c, values, f"LandLearn.normalization.{key}",
                                 key.endswith("std"))
    if info.get("dtype") is not None and info["dtype"] not in RASTER_DTYPES:
        raise c.fail("LandLearn.dtype", f"is {str(info['dtype'])[:40]!r}, not a raster data type")
    if info.get("cell_size") is not None:
        cell = c.numbers(info["cell_size"], "LandLearn.cell_size", 2, positive=True)
        if min(cell) <= 0:
            raise c.fail("LandLearn.cell_size", "is not positive")
    if info.get("crs_units") is not None:
        c.text(info["crs_units"], "LandLearn.crs_units", 64)
    _check_geometry(c, emd, info, kind)
    _check_calibration(c, info.get("calibration"))
    if kind == "deep":
        # names only here; deep.models.build_model checks them against what it can build,
        # before building anything, naming the same parameter
        c.text(info.get("architecture"), "LandLearn.architecture", 64)
        c.text(info.get("encoder"), "LandLearn.encoder", 64)
        if info.get("encoder_depth") is not None:  # absent in older packages: depth 5
            info["encoder_depth"] = c.integer(info["encoder_depth"], "LandLearn.encoder_depth",
                                              3, 5)
        if info.get("detail_head") is not None and not isinstance(info["detail_head"], bool):
            raise c.fail("LandLearn.detail_head", f"is {str(info['detail_head'])[:20]!r}, not "
                         "true or false")
        if info.get("ensemble_members") is not None:  # absent: one network
            info["ensemble_members"] = c.integer(info["ensemble_members"],
                                                 "LandLearn.ensemble_members", 1, MAX_ENSEMBLE)
        for key in ("onnx", "onnx_int8"):
            graph = info.get(key)
            if graph is None:
                continue
            if not isinstance(graph, dict):
                raise c.fail(f"LandLearn.{key}", "is not an object")
            c.file_name(graph.get("file"), f"LandLearn.{key}.file", (".onnx",))
            c.integer(graph.get("opset"), f"LandLearn.{key}.opset", 7, 100)
    else:
        c.text(info.get("model_type"), "LandLearn.model_type", 64)
        if info.get("trees_file") is not None and info["trees_file"] not in TREES_FILES:
            raise c.fail("LandLearn.trees_file", f"is {str(info['trees_file'])[:80]!r}, not one "
                         f"of {', '.join(TREES_FILES)}")
        if info.get("segments") is not None:
            _check_segments(c, info["segments"], bands)
        if info.get("neighbourhood") is not None:
            if info.get("segments") is not None:
                raise c.fail("LandLearn.neighbourhood", "is set beside segments")
            _check_neighbourhood(c, info, bands)
    return info


def _check_float32_range(c: _Check, values: list[float], field: str, scale: bool) -> None:
    """Classify Pixels normalises in float32: 1e39 is infinity there, and a spread of 1e-300
    is 0 (a constant band) where Export Model's float64 divides by it."""
    for v in values:
        if abs(v) > FLOAT32_SAFE or (scale and 0 < v < 1 / FLOAT32_SAFE):
            raise c.fail(field, f"holds {v!r}, beyond what float32 holds (|value| up to "
                         f"{FLOAT32_SAFE:g}{', a spread 0 or at least 1e-30' if scale else ''})")


def _check_calibration(c: _Check, cal, where: str = "LandLearn.calibration") -> None:
    """The temperature Classify Pixels divides by: a finite number in range, or no block
    (older packages, and models too small to calibrate, keep their raw scores); a deep
    model's may hold the TTA map's own, alike."""
    if cal is None:
        return
    if not isinstance(cal, dict) or cal.get("method") != "temperature":
        raise c.fail(where, "is not a temperature calibration")
    t = cal.get("temperature")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
            or not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
        raise c.fail(f"{where}.temperature", f"is {str(t)[:40]}, not a number in "
                     f"{MIN_TEMPERATURE}..{MAX_TEMPERATURE}")
    if where == "LandLearn.calibration" and cal.get("tta") is not None:
        _check_calibration(c, cal["tta"], f"{where}.tta")


def _check_segments(c: _Check, seg, bands: int) -> None:
    """An object-based classifier: the segment attributes it was trained on."""
    if not isinstance(seg, dict):
        raise c.fail("LandLearn.segments", "is not an object")
    attrs = seg.get("attributes")
    if not isinstance(attrs, list) or not attrs or len(set(map(str, attrs))) != len(attrs) \
            or any(a not in SEGMENT_ATTRIBUTES for a in attrs):
        raise c.fail("LandLearn.segments.attributes", f"is {str(attrs)[:80]}, not a list of "
                     f"distinct names from {', '.join(SEGMENT_ATTRIBUTES)}")
    features = seg.get("features")
    if not isinstance(features, list) or not 1 <= len(features) <= 3 + 2 * bands + 3:
        raise c.fail("LandLearn.segments.features", "does not name the classifier's features")
    for f in features:
        c.text(f, "LandLearn.segments.features", 128)


def _check_neighbourhood(c: _Check, info: dict, bands: int) -> None:
    """A pixel classifier with neighbourhood features: odd window sizes in range, a known
    statistic, one name per feature, and tiles padded by the widest window's half."""
    hood = info["neighbourhood"]
    if not isinstance(hood, dict):
        raise c.fail("LandLearn.neighbourhood", "is not an object")
    sizes = hood.get("sizes")
    if not isinstance(sizes, list) or not 1 <= len(sizes) <= MAX_WINDOWS:
        raise c.fail("LandLearn.neighbourhood.sizes", f"is {str(sizes)[:80]}, not a list of 1.."
                     f"{MAX_WINDOWS} window sizes")
    # whole numbers written back: a 3.0 would pass the check and then slice nothing
    hood["sizes"] = sizes = [c.integer(size, "LandLearn.neighbourhood.sizes", 3, MAX_WINDOW)
                             for size in sizes]
    for size in sizes:
        if size % 2 == 0:
            raise c.fail("LandLearn.neighbourhood.sizes", f"holds {size}, not an odd size")
    if len(set(sizes)) != len(sizes) or sizes != sorted(sizes):
        raise c.fail("LandLearn.neighbourhood.sizes", "repeats a size or is not in order")
    stats = hood.get("statistics")
    if stats not in NEIGHBOURHOOD_STATISTICS:
        raise c.fail("LandLearn.neighbourhood.statistics", f"is {str(stats)[:40]!r}, not one "
                     f"of {', '.join(NEIGHBOURHOOD_STATISTICS)}")
    per_window = 2 if stats == "mean_std" else 1
    features = hood.get("features")
    if not isinstance(features, list) or len(features) != bands * (1 + per_window * len(sizes)):
        raise c.fail("LandLearn.neighbourhood.features", "does not name the classifier's "
                     "features")
    for f in features:
        c.text(f, "LandLearn.neighbourhood.features", 160)
    pad = info.get("padding")
    if pad != max(sizes) // 2:
        raise c.fail("LandLearn.padding", f"is {str(pad)[:20]}, not {max(sizes) // 2} (half "
                     "the widest neighbourhood window)")


def _check_classes(c: _Check, emd: dict, info: dict) -> None:
    values = info.get("class_values")
    if not isinstance(values, list) or not 2 <= len(values) <= 255:
        raise c.fail("LandLearn.class_values", "must list 2..255 classes")
    info["class_values"] = values = [c.integer(v, "LandLearn.class_values", 1, 255)
                                     for v in values]
    if len(set(values)) != len(values):
        raise c.fail("LandLearn.class_values", "repeats a class")
    classes = emd.get("Classes")
    if not isinstance(classes, list) or len(classes) > 255:
        raise c.fail("Classes", "is not a list of at most 255 classes")
    seen = set()
    for entry in classes:
        if not isinstance(entry, dict):
            raise c.fail("Classes", "holds an entry that is not an object")
        seen.add(c.integer(entry.get("Value"), "Classes.Value", 1, 255))
        c.text(entry.get("Name"), "Classes.Name")
        color = entry.get("Color")
        if not isinstance(color, list) or not 3 <= len(color) <= 4:
            raise c.fail("Classes.Color", f"is {str(color)[:40]}, not 3 or 4 values")
        for v in color:
            c.integer(v, "Classes.Color", 0, 255)
    missing = [v for v in values if v not in seen]
    if missing:
        raise c.fail("Classes", f"does not describe class(es) {missing}")


def _check_source_bands(c: _Check, info: dict, bands: int) -> None:
    count = info.get("source_band_count")
    if count is not None:
        info["source_band_count"] = count = c.integer(count, "LandLearn.source_band_count", 1,
                                                      MAX_SOURCE_BANDS)
    scaling = info.get("source_scaling")
    if scaling is not None:
        if not isinstance(scaling, list) or len(scaling) != bands or not all(
                isinstance(p, list) and len(p) == 2 for p in scaling):
            raise c.fail("LandLearn.source_scaling", f"does not list {bands} [scale, offset] "
                         "pairs")
        info["source_scaling"] = [c.numbers(p, "LandLearn.source_scaling", 2) for p in scaling]
        if any(s == 0 for s, _ in info["source_scaling"]):
            raise c.fail("LandLearn.source_scaling", "holds a scale of 0")
    source = info.get("source_bands")
    if source is None:
        return
    if not isinstance(source, list) or len(source) != bands:
        raise c.fail("LandLearn.source_bands", f"does not list {bands} band numbers")
    info["source_bands"] = [c.integer(b, "LandLearn.source_bands", 1, count or MAX_SOURCE_BANDS)
                            for b in source]


def _check_geometry(c: _Check, emd: dict, info: dict, kind: str) -> None:
    width = c.integer(emd.get("ImageWidth", 256), "ImageWidth", MIN_TILE, MAX_TILE)
    c.integer(emd.get("ImageHeight", width), "ImageHeight", MIN_TILE, MAX_TILE)
    pad = info.get("padding", emd.get("ModelPadding", 32 if kind == "deep" else 0))
    # the classification tile (TILE_SIZE, at least 256) is what the padding must fit
    c.integer(pad, "LandLearn.padding", 0, MAX_PADDING)
