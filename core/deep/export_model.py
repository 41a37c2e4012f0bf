"""Export Model: a deep package's ONNX graph as files other tools run, and older packages
brought up to date.

Writes ``OUTPUT_ONNX`` (the graph with the normalisation and softmax folded in, dynamic
batch and tile size, LandLearn's and Deepness's metadata) and, unless told not to, a
Deepness-ready copy beside it (``<stem>_deepness.onnx``, tile size fixed as Deepness needs).
``QUANTIZE`` adds the int8 graph (``<stem>_int8.onnx``), calibrated on chips of
``CALIBRATION_DATA`` (an Export Training Data folder of the same bands): a package trained
without it gets one later. ``OUTPUT_MODEL`` is the same package with the graphs inside, for
packages trained without onnx installed or without an int8 graph, so Classify Pixels can run
them on ONNX Runtime. The graph is checked on ONNX Runtime against torch before anything is
written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..chips.training_data import read_training_data
from ..errors import Cancelled, InputError, LandLearnError
from ..files import write_bytes_atomic
from ..geo.outputs import check_distinct, written_by_landlearn
from ..model_package.format import read_package, write_package
from ..model_package.members import MIB, PackageFiles
from ..model_package.onnx_checks import check_graph
from ..model_package.onnx_graph import has_onnx, onnx_description, read_onnx
from ..progress import NullProgress, Progress
from ..termination import terminable
from .models import load_package_model
from .onnx_export import NotExportable, deepness_copy, export_onnx, onnx_difference, spread_like
from .onnx_quantize import AGREEMENT_FLOOR, AGREEMENT_WARNING, INT8_FILE, quantize_chips

__all__ = ["ExportModelConfig", "ExportModelResult", "export_model"]

TOLERANCE = 1e-3
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class ExportModelConfig:
    model: str
    output_onnx: str
    deepness: bool = True
    output_model: str | None = None
    quantize: bool = False  # also the int8 graph, calibrated on calibration_data's chips
    calibration_data: str | None = None  # an Export Training Data folder


@dataclass
class ExportModelResult:
    output_onnx: str
    output_deepness: str | None
    output_model: str | None
    max_difference: float
    output_int8: str | None = None
    int8_agreement: float | None = None
    int8_checked_on: str = "held-out"  # or "calibration": no chip was left to check on

    def summary(self) -> str:
        lines = [f"ONNX graph: {self.output_onnx} (class probabilities within "
                 f"{self.max_difference:.1e} of torch's)"]
        if self.output_deepness:
            lines.append(f"Deepness-ready copy: {self.output_deepness}")
        if self.output_int8:
            lines.append(f"int8 graph: {self.output_int8} (classes agree with the float "
                         f"graph's on {100 * self.int8_agreement:.2f}% of the data pixels of "
                         + ("chips the calibration did not see)" if self.int8_checked_on ==
                            "held-out" else "the calibration chips: no other chip was left, "
                            "so it reads a little high)"))
        if self.output_model:
            lines.append(f"Package with the graph inside: {self.output_model}")
        return "\n".join(lines)


def deepness_path(output_onnx: str) -> str:
    return os.path.splitext(output_onnx)[0] + "_deepness.onnx"


def int8_path(output_onnx: str) -> str:
    return os.path.splitext(output_onnx)[0] + "_int8.onnx"


def _check(config: ExportModelConfig) -> None:
    if not config.output_onnx or not config.output_onnx.lower().endswith(".onnx"):
        raise InputError("output_onnx", f"'{config.output_onnx}' is not an .onnx path; use a "
                         "name ending in .onnx")
    outputs = {"output_onnx": config.output_onnx}
    if config.deepness:
        outputs["output_deepness"] = deepness_path(config.output_onnx)
    if config.quantize:
        if not config.calibration_data:
            raise InputError("calibration_data", "QUANTIZE needs chips to calibrate the int8 "
                             "graph on: give the model's training data folder (or any Export "
                             "Training Data folder of the same bands)")
        outputs["output_int8"] = int8_path(config.output_onnx)
    if config.output_model:
        if not config.output_model.lower().endswith(".dlpk"):
            raise InputError("output_model", f"'{config.output_model}' is not a .dlpk path")
        outputs["output_model"] = config.output_model
    try:
        check_distinct({"model": config.model}, outputs)
    except InputError as exc:
        # the Deepness and int8 copies are named after OUTPUT_ONNX: no parameter of their own
        switch = {"OUTPUT_DEEPNESS": "DEEPNESS", "OUTPUT_INT8": "QUANTIZE"}.get(exc.parameter)
        if switch is None:
            raise
        better = (f"another OUTPUT_ONNX (its {switch} copy is named after it), or turn "
                  f"{switch} off,")
        detail = exc.detail.replace(f"another {exc.parameter}", better)
        raise InputError("output_onnx", detail) from None


def _remove_stale_copies(config: ExportModelConfig, deepness: bool, int8: bool,
                         progress: Progress, deepness_bytes: bytes | None = None) -> None:
    """An earlier export to this OUTPUT_ONNX with DEEPNESS or QUANTIZE left its copy, made
    from the earlier weights, beside the new graph: removed when LandLearn wrote it (a
    file of that name LandLearn did not write is left alone). A Deepness copy that is
    byte for byte this graph's stays: re-exporting the same package with DEEPNESS off
    deleted a copy that was still right (a qgis_process sweep, stop 68)."""
    for wanted, path in ((deepness, deepness_path(config.output_onnx)),
                         (int8, int8_path(config.output_onnx))):
        if wanted or not os.path.isfile(path) or not written_by_landlearn(path):
            continue
        if path == deepness_path(config.output_onnx) and deepness_bytes is not None \
                and os.path.getsize(path) == len(deepness_bytes):
            with open(path, "rb") as fh:
                if fh.read() == deepness_bytes:
                    progress.info(f"Kept '{path}': it is this graph's Deepness copy")
                    continue
        os.remove(path)
        progress.info(f"Removed '{path}', an earlier export's copy of another graph")


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


@terminable
def export_model(config: ExportModelConfig, progress: Progress | None = None) -> ExportModelResult:
    progress = progress or NullProgress()
    _check(config)
    pkg = read_package(config.model, "model")
    if pkg.kind != "deep":
        raise InputError("model", f"'{config.model}' holds a "
                         f"{pkg.landlearn.get('model_type', pkg.kind)} model; only deep "
                         "networks are exported to ONNX (classical models run on scikit-learn)")
    progress.info(f"Exporting {pkg.landlearn['architecture']} ({pkg.landlearn['encoder']}) "
                  "to ONNX")
    model = load_package_model(config.model)
    emd = dict(pkg.emd)
    emd["LandLearn"] = dict(pkg.landlearn, onnx=onnx_description(ONNX_FILE))
    # the graph's own metadata holds the .emd: not the source package's int8 block, which
    # describes another file (set again below for the package only)
    old_int8 = emd["LandLearn"].pop("onnx_int8", None)
    try:
        graph = export_onnx(model, emd)
    except NotExportable as exc:
        raise InputError("model", f"{pkg.landlearn['architecture']} cannot be exported to ONNX "
                         f"({exc}); the package keeps classifying with torch") from None
    except LandLearnError:
        raise
    except Exception as exc:  # noqa: BLE001 - an exporter gap (torch.onnx), not a LandLearn bug
        raise InputError("model", f"the {pkg.landlearn['architecture']} network could not be "
                         f"exported to ONNX ({_first_line(exc)}); the package keeps classifying "
                         "with torch (RUNTIME=torch)") from None
    progress.set_fraction(0.5)
    norm = emd["LandLearn"]["normalization"]
    tile = min(int(emd.get("ImageWidth", 256)), 256)
    try:
        diff = onnx_difference(graph, model, emd, spread_like(norm["mean"], norm["std"], tile))
    except LandLearnError:
        raise
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime refused the exported graph
        raise InputError("model", f"ONNX Runtime cannot run the exported "
                         f"{pkg.landlearn['architecture']} ({_first_line(exc)}); the package "
                         "keeps classifying with torch (RUNTIME=torch)") from None
    if not diff <= TOLERANCE:  # NaN too
        raise InputError("model", f"the exported graph's class probabilities differ from "
                         f"torch's by up to {diff:.1e} (over {TOLERANCE:g}); this network "
                         "cannot be exported faithfully, keep classifying it with torch")
    if progress.is_canceled():
        raise Cancelled()
    members = _members_to_keep(pkg) if config.output_model else {}
    q = agree = block = None
    if config.quantize:
        q, block = _quantize(graph, emd, config.calibration_data, progress)
        emd["LandLearn"]["onnx_int8"] = block
        agree = block["agreement"]
        if progress.is_canceled():
            raise Cancelled()
    elif isinstance(old_int8, dict) and has_onnx(pkg, int8=True) and config.output_model:
        # same weights: its int8 graph holds; checked as Classify Pixels checks a graph, so
        # a package from elsewhere is not passed on with one it would refuse
        members[INT8_FILE] = read_onnx(pkg, int8=True)
        check_graph(members[INT8_FILE], pkg.path, bands=int(pkg.landlearn["in_channels"]))
        emd["LandLearn"]["onnx_int8"] = dict(old_int8, file=INT8_FILE)
    write_bytes_atomic(config.output_onnx, graph, "output_onnx")
    deep = None
    if config.deepness:
        deep = write_bytes_atomic(deepness_path(config.output_onnx),
                                  deepness_copy(graph, int(emd.get("ImageWidth", 256))),
                                  "output_onnx")
    if q is not None:
        write_bytes_atomic(int8_path(config.output_onnx), q, "output_onnx")
        members[INT8_FILE] = q
    old_copy = deepness_path(config.output_onnx)
    _remove_stale_copies(config, deepness=deep is not None, int8=q is not None,
                         progress=progress,
                         deepness_bytes=deepness_copy(graph, int(emd.get("ImageWidth", 256)))
                         if deep is None and os.path.isfile(old_copy) else None)
    if config.output_model:
        write_package(config.output_model, emd, model.state_dict(),
                      dict(members, **{ONNX_FILE: graph}), "output_model")
    progress.set_fraction(1.0)
    return ExportModelResult(config.output_onnx, deep, config.output_model or None, diff,
                             int8_path(config.output_onnx) if q is not None else None, agree,
                             block["agreement_checked_on"] if q is not None else "held-out")


def _quantize(graph: bytes, emd: dict, folder: str, progress: Progress) -> tuple[bytes, dict]:
    """(int8 graph, its .emd block), calibrated on chips of ``folder``."""
    info = emd["LandLearn"]
    try:
        data = read_training_data([folder], progress)
    except InputError as exc:  # its messages name TRAINING_DATA, the folder's usual role
        raise InputError("calibration_data", exc.detail) from None
    bands = list(info.get("band_names") or [])
    if data.band_count == len(bands) and data.band_names != bands and \
            sorted(data.band_names) == sorted(bands):
        raise InputError("calibration_data", f"'{folder}' holds the model's bands in another "
                         f"order ({data.band_names} against {bands}): the int8 ranges would "
                         "be set on mixed-up bands; give chips exported with the bands in "
                         "the model's order")
    theirs = info.get("source_bands")
    if theirs and data.source_bands and len(data.source_bands) == len(theirs) and \
            list(data.source_bands) != list(theirs):
        # as many bands, other ones (a scene whose empty bands differ, another BAND_INDEXES)
        raise InputError("calibration_data", f"'{folder}' holds bands {data.source_bands[:8]}"
                         f" of its raster, the model reads bands {list(theirs)[:8]}; give "
                         "chips exported from the bands the model was trained on")
    if data.band_count != int(info["in_channels"]):
        raise InputError("calibration_data", f"'{folder}' has {data.band_count} bands; the "
                         f"model takes {info['in_channels']}; give chips exported from the "
                         "bands the model was trained on")
    if not data.chips:
        raise InputError("calibration_data", f"'{folder}' holds no chips to calibrate on")
    progress.info(f"Quantising to int8, calibrated on chips of '{folder}'")
    try:
        q, block, _ = quantize_chips(graph, data, data.chips, data.chips,
                                     info["normalization"]["mean"], progress)
    except (InputError, Cancelled, MemoryError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's quantiser on an architecture
        # it cannot take: training carries on without an int8 graph; here it is the output
        raise InputError("quantize", f"ONNX Runtime could not quantise this graph "
                         f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}); "
                         "export without QUANTIZE (the float graph classifies as well)") from None
    agree = block["agreement"]
    if agree < AGREEMENT_FLOOR:
        raise InputError("quantize", f"the int8 graph's classes agree with the float graph's "
                         f"on {100 * agree:.2f}% of the data pixels of the chips of '{folder}' "
                         f"(under {AGREEMENT_FLOOR:.0%}): it would map other classes and is "
                         "not written; export without QUANTIZE (the float graph classifies "
                         "as well)")
    if agree < AGREEMENT_WARNING:
        progress.warning(f"The int8 graph's classes agree with the float graph's on "
                         f"{100 * agree:.2f}% of the data pixels (under "
                         f"{AGREEMENT_WARNING:.0%}): compare its map with the float graph's "
                         "before relying on it")
    progress.set_fraction(0.8)
    return q, block


REPORT_BYTES = 64 * MIB


def _members_to_keep(pkg) -> dict[str, bytes]:
    """The report and metrics of the package, carried into its updated copy: 64 MB for
    them all (a report is a page and a few plots), not 64 MB per member of up to 10,000."""
    keep, left = {}, REPORT_BYTES
    with PackageFiles(pkg.source, pkg.parameter) as files:
        for name in files.names():
            if name.startswith("report/") or name == "metrics.json":
                keep[name] = files.read(name, left, "report file (all together)")
                left -= len(keep[name])
    return keep
