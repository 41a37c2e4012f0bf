"""Export Model: a deep package's ONNX graph as files other tools run, and older packages
brought up to date.

Writes ``OUTPUT_ONNX`` (the graph with the normalisation and softmax folded in, dynamic
batch and tile size, LandLearn's and Deepness's metadata) and, unless told not to, a
Deepness-ready copy beside it (``<stem>_deepness.onnx``, tile size fixed as Deepness needs).
``OUTPUT_MODEL`` is the same package with the graph inside, for packages trained before
LandLearn 0.2, so Classify Pixels can run them on ONNX Runtime. The graph is checked on
ONNX Runtime against torch before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import Cancelled, InputError
from ..files import write_bytes_atomic
from ..geo.outputs import check_distinct, claim_output
from ..model_package.format import read_package, write_package
from ..model_package.members import MIB, PackageFiles
from ..model_package.onnx_graph import onnx_description
from ..progress import NullProgress, Progress
from ..termination import terminable
from .models import load_package_model
from .onnx_export import NotExportable, deepness_copy, export_onnx, onnx_difference, spread_like

__all__ = ["ExportModelConfig", "ExportModelResult", "export_model"]

TOLERANCE = 1e-3
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class ExportModelConfig:
    model: str
    output_onnx: str
    deepness: bool = True
    output_model: str | None = None


@dataclass
class ExportModelResult:
    output_onnx: str
    output_deepness: str | None
    output_model: str | None
    max_difference: float

    def summary(self) -> str:
        lines = [f"ONNX graph: {self.output_onnx} (class probabilities within "
                 f"{self.max_difference:.1e} of torch's)"]
        if self.output_deepness:
            lines.append(f"Deepness-ready copy: {self.output_deepness}")
        if self.output_model:
            lines.append(f"Package with the graph inside: {self.output_model}")
        return "\n".join(lines)


def deepness_path(output_onnx: str) -> str:
    return os.path.splitext(output_onnx)[0] + "_deepness.onnx"


def _check(config: ExportModelConfig) -> None:
    if not config.output_onnx or not config.output_onnx.lower().endswith(".onnx"):
        raise InputError("output_onnx", f"'{config.output_onnx}' is not an .onnx path; use a "
                         "name ending in .onnx")
    outputs = {"output_onnx": config.output_onnx}
    if config.deepness:
        outputs["output_deepness"] = deepness_path(config.output_onnx)
    if config.output_model:
        if not config.output_model.lower().endswith(".dlpk"):
            raise InputError("output_model", f"'{config.output_model}' is not a .dlpk path")
        outputs["output_model"] = config.output_model
    check_distinct({"model": config.model}, outputs)
    for parameter, path in outputs.items():
        claim_output(path, "output_onnx" if parameter == "output_deepness" else parameter)


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
    try:
        graph = export_onnx(model, emd)
    except NotExportable as exc:
        raise InputError("model", f"{pkg.landlearn['architecture']} cannot be exported to ONNX "
                         f"({exc}); the package keeps classifying with torch") from None
    progress.set_fraction(0.5)
    norm = emd["LandLearn"]["normalization"]
    tile = min(int(emd.get("ImageWidth", 256)), 256)
    diff = onnx_difference(graph, model, emd, spread_like(norm["mean"], norm["std"], tile))
    if diff > TOLERANCE:
        raise InputError("model", f"the exported graph's class probabilities differ from "
                         f"torch's by up to {diff:.1e} (over {TOLERANCE:g}); this network "
                         "cannot be exported faithfully, keep classifying it with torch")
    if progress.is_canceled():
        raise Cancelled()
    write_bytes_atomic(config.output_onnx, graph, "output_onnx")
    deep = None
    if config.deepness:
        deep = write_bytes_atomic(deepness_path(config.output_onnx),
                                  deepness_copy(graph, int(emd.get("ImageWidth", 256))),
                                  "output_onnx")
    if config.output_model:
        write_package(config.output_model, emd, model.state_dict(),
                      dict(_members_to_keep(pkg), **{ONNX_FILE: graph}), "output_model")
    progress.set_fraction(1.0)
    return ExportModelResult(config.output_onnx, deep, config.output_model or None, diff)


def _members_to_keep(pkg) -> dict[str, bytes]:
    """The report and metrics of the package, carried into its updated copy."""
    keep = {}
    with PackageFiles(pkg.source, pkg.parameter) as files:
        for name in files.names():
            if name.startswith("report/") or name == "metrics.json":
                keep[name] = files.read(name, 64 * MIB, "report file")
    return keep
