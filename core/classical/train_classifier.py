"""Classical pixel classifiers: random forest, SVM, maximum likelihood, gradient boosting.

Samples come straight from the raster and its labels (samples.py); validation is
cross-validation grouped by polygon (classical_cv.py). The model is saved with skops (no
pickle) in the same .dlpk as deep models and loaded back with an allow-list of types.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..accuracy.calibration import MIN_SAMPLES, Calibration
from ..accuracy.metrics import Accuracy
from ..errors import InputError
from ..files import absolute_if_file
from ..geo.extent import Extent
from ..geo.grid import crs_units
from ..labels.base import LabelConfig
from ..model_package.format import (
    FORMAT,
    NEIGHBOURHOOD_VERSION,
    PLAIN_VERSION,
    check_model_output,
    write_package,
)
from ..progress import NullProgress, Progress, check
from ..runtime.deps import require, require_gdal
from ..runtime.fast_paths import fast_paths
from ..seeds import check_seed
from ..termination import terminable
from .cv import FOREST_NOT_CALIBRATED, fit_validated
from .model_types import MODEL_TYPES
from .neighbourhood import Neighbourhood
from .object_samples import collect_object_samples
from .report import classical_report
from .samples import Samples, collect_samples
from .segment_attributes import DEFAULT_ATTRIBUTES, parse_attributes
from .trees.stores import split_model_trees
from .versions import written_with


@dataclass(frozen=True)
class ClassicalConfig:
    input_raster: str
    labels: LabelConfig
    output_model: str
    model_type: str = "random_forest"
    bands: tuple[int, ...] | None = None
    extent: Extent | None = None
    max_samples_per_class: int = 500
    trees: int = 100
    max_depth: int | None = None
    svm_c: float = 1.0
    svm_gamma: str = "scale"  # "scale", "auto" or a number
    cv_folds: int = 5
    seed: int = 0
    # object-based: one sample per segment of this raster of ids (object_samples)
    segmented_raster: str | None = None
    segment_attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    # pixel features of each pixel's surroundings (neighbourhood.py); () = the bands alone
    neighbourhood: Neighbourhood = Neighbourhood()

    def validate(self) -> None:
        if self.segmented_raster:
            parse_attributes(self.segment_attributes)
            if self.neighbourhood.sizes:
                raise InputError("neighbourhood_sizes", "neighbourhood features are for pixel "
                                 "classifiers; an object-based classifier (SEGMENTED_RASTER) "
                                 "describes segments by SEGMENT_ATTRIBUTES: leave one empty")
        if self.model_type not in [m for m, _ in MODEL_TYPES]:
            raise InputError("model_type", f"'{self.model_type}' is not one of "
                             f"{', '.join(m for m, _ in MODEL_TYPES)}")
        if self.trees < 1:
            raise InputError("trees", "a forest needs at least one tree")
        if self.max_depth is not None and self.max_depth < 1:
            raise InputError("max_depth", "use 1 or more, or leave it empty for no limit")
        if not (math.isfinite(self.svm_c) and self.svm_c > 0):  # NaN passed '<= 0'
            raise InputError("svm_c", f"C must be a positive number, got {self.svm_c}")
        if self.svm_gamma not in ("scale", "auto"):
            try:
                gamma = float(self.svm_gamma)
                if not (math.isfinite(gamma) and gamma > 0):
                    raise ValueError
            except ValueError:
                raise InputError("svm_gamma", f"'{self.svm_gamma}' is not scale, auto or a "
                                 "positive number") from None
        check_seed(self.seed)
        if not 0 <= self.cv_folds <= 20 or self.cv_folds == 1:
            raise InputError("cv_folds", "use 0 (no cross-validation) or 2..20 folds")
        check_model_output(self.output_model, {"input_raster": self.input_raster,
                                               "labels": self.labels.labels,
                                               "segmented_raster": self.segmented_raster})


@dataclass
class ClassicalResult:
    output_model: str
    accuracy: Accuracy | None
    samples: dict[int, int]
    available: dict[int, int]
    seconds: float
    grouped_by: str
    validation: str = "none"
    notes: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    calibration_note: str | None = None  # why there is none


@terminable
def train_classical(config: ClassicalConfig, progress: Progress | None = None) -> ClassicalResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    config.validate()
    require("sklearn")
    skops_io = require("skops.io")
    t0 = time.perf_counter()
    if config.segmented_raster:
        s = collect_object_samples(config, progress)
    else:
        if parse_attributes(config.segment_attributes) != parse_attributes(DEFAULT_ATTRIBUTES):
            progress.warning("SEGMENT_ATTRIBUTES describe segments and there is no "
                             "SEGMENTED_RASTER: a pixel model is trained, the attributes "
                             "are not used. Give SEGMENTED_RASTER for an object-based one")
        s = collect_samples(config.input_raster, config.labels, config.bands, config.extent,
                            config.max_samples_per_class, config.seed, progress,
                            config.neighbourhood)
        if config.neighbourhood.sizes:
            progress.info(f"Neighbourhood features: {len(s.x[0])} per pixel (the bands, then "
                          f"each band's {config.neighbourhood.statistics.replace('_', ' and ')} "
                          f"over {', '.join(f'{k}x{k}' for k in config.neighbourhood.sizes)} "
                          "px windows).")
    counts = {int(v): int((s.y == v).sum()) for v in np.unique(s.y)}
    what = "segments" if s.segments else "samples"
    progress.info(f"{len(s.y)} {what} over {len(s.classes)} classes from "
                  f"{len(np.unique(s.groups))} {s.grouped_by}s: " + ", ".join(
                      f"{c.name} {counts[c.value]} of {s.available[c.value]}" for c in s.classes))
    model, acc, validation, calibration = fit_validated(config, s, progress)
    if acc is not None:
        progress.info(f"Cross-validation grouped by {s.grouped_by}:\n{acc.table()}")
    why_not = None
    if calibration is None:
        forest = acc is not None and config.model_type == "random_forest"
        why_not = (FOREST_NOT_CALIBRATED if forest
                   else "no cross-validation predictions to fit it on" if acc is None
                   else f"fewer than {MIN_SAMPLES} out-of-fold predictions (of two or more "
                   "classes) to fit it on: too few for a temperature that is not noise")
    progress.info(calibration.line() if calibration else f"confidence not calibrated: {why_not}")
    check(progress)
    _drop_generators(model)
    # the trees files use scikit-learn's private node layouts: with the fast paths off the
    # trees stay inside the skops file, which any scikit-learn skops supports can read
    light, trees_file, trees = split_model_trees(model) if fast_paths() else (model, None, None)
    buf = skops_io.dumps(light)
    result = ClassicalResult(config.output_model, acc, counts, s.available,
                             time.perf_counter() - t0, s.grouped_by, validation=validation,
                             calibration=calibration, calibration_note=why_not)
    emd = classical_emd(config, s, result)
    files = {**classical_report(emd, result), "model.skops": buf}
    if trees is not None:
        emd["LandLearn"]["trees_file"] = trees_file
        files[trees_file] = trees
    write_package(config.output_model, emd, None, files)
    progress.set_fraction(1.0)
    return result


def _drop_generators(obj, seen=None) -> None:
    """Remove numpy Generators that some estimators keep after fitting (only fit uses them):
    skops 0.11, the last release for Debian 12's numpy 1.24, cannot serialise them."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or not hasattr(obj, "__dict__"):
        return
    seen.add(id(obj))
    for key, value in list(vars(obj).items()):
        if isinstance(value, np.random.Generator):
            setattr(obj, key, None)
        elif isinstance(value, (list, tuple)):
            for item in value:
                _drop_generators(item[1] if isinstance(item, tuple) and len(item) == 2 else item, seen)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("sklearn"):
            _drop_generators(value, seen)


def classical_emd(config: ClassicalConfig, s: Samples, result: ClassicalResult) -> dict:
    acc = result.accuracy
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
              if k not in ("labels", "extent")
              and not (k == "segment_attributes" and not config.segmented_raster)
              and k != "neighbourhood"}
    # the user's files, not a copy in QGIS's temporary folder nor a path relative to
    # where the run started (qgis_process sweep, stop 69)
    params["labels"] = config.labels.source or absolute_if_file(config.labels.labels)
    params["input_raster"] = absolute_if_file(config.input_raster)
    params["class_field"] = config.labels.class_field
    nb = len(s.band_names)
    # the bands' own statistics (the value check compares rasters with them): the first
    # columns of neighbourhood features are the bands
    mean = s.band_mean if s.band_mean is not None else s.x[:, :nb].mean(axis=0)
    std = s.band_std if s.band_std is not None else s.x[:, :nb].std(axis=0)
    context = config.neighbourhood if not s.segments else Neighbourhood()
    emd = {
        "Framework": "scikit-learn", "ModelConfiguration": "LandLearn",
        "ModelType": "ImageClassification", "ModelFile": "model.skops",
        "ImageHeight": 512, "ImageWidth": 512,
        "ExtractBands": [b - 1 for b in s.source_bands] if s.source_bands else list(range(nb)),
        "ModelPadding": context.halo, "Classes": [c.to_esri() for c in s.classes],
        "accuracy": f"{acc.overall:.4f}" if acc else None,
        "LandLearn": {
            "format": FORMAT, "kind": "classical",
            "version": NEIGHBOURHOOD_VERSION if context.sizes else PLAIN_VERSION,
            "model_type": config.model_type, "in_channels": nb,
            "class_values": [c.value for c in s.classes], "band_names": s.band_names,
            "source_bands": s.source_bands, "source_band_count": s.source_band_count,
            "source_scaling": s.source_scaling,  # None: none declared
            "dtype": s.dtype, "nodata": s.nodata,
            "normalization": {"method": "none (the model standardises internally)",
                              "mean": [0.0] * nb, "std": [1.0] * nb,
                              "sample_mean": mean.tolist(), "sample_std": std.tolist()},
            "cell_size": list(s.cell_size), "crs": s.crs_wkt, "crs_units": crs_units(s.crs_wkt),
            "padding": context.halo, "ignore_classes": [0], "versions": written_with(),
            "training": {"parameters": params, "samples_per_class": result.samples,
                         "labelled_pixels_per_class": result.available,
                         # an object model counts segments there (review 96)
                         "labelled_units": "segments" if config.segmented_raster
                         else "pixels",
                         "validation": result.validation,
                         "seconds": round(result.seconds, 1)},
            "metrics": acc.to_json() if acc else None,
        },
    }
    if s.segments:
        emd["LandLearn"]["segments"] = s.segments
    if context.sizes:
        emd["LandLearn"]["neighbourhood"] = {**context.to_json(),
                                             "features": context.feature_names(s.band_names)}
    if result.calibration is not None:
        emd["LandLearn"]["calibration"] = result.calibration.to_json()
    return emd
