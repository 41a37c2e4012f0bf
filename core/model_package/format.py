"""The model package: a .dlpk zip with an Esri-style .emd, safetensors weights and a report.

Loading a package never runs code from it: the .emd is JSON, checked against a schema
before anything is built (package_schema); the weights are safetensors (plain tensors),
read only after their header matches the network the .emd describes; every member is
size-checked before it is read (package_members). Classical models are skops files read
with an exact-type allow-list (classical_predictor). A package can be given as the .dlpk,
its unpacked folder or the .emd inside that folder.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import dataclass

from ..errors import InputError
from ..files import disk_full_error, ensure_writable_folder, temporary_sibling
from ..geo.outputs import check_distinct, claim_output
from ..runtime.deps import require
from ..staged_folder import StagedFolder, check_replaceable_folder
from ..termination import terminable
from .members import MIB, PackageFiles, safetensors_header
from .schema import (
    FORMAT,
    FORMAT_VERSION,
    NEIGHBOURHOOD_VERSION,
    PLAIN_VERSION,
    check_emd,
    package_version,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "NEIGHBOURHOOD_VERSION", "PLAIN_VERSION", "PackagedModel",
           "check_model_output",
           "package_version", "read_package", "read_weights", "report_folder", "unpack_report",
           "write_package"]


@dataclass
class PackagedModel:
    """A package whose .emd passed the schema; members are read on demand, size-checked."""

    path: str  # what to name in messages: the .dlpk or the .emd
    emd: dict
    source: str  # the zip or the folder holding the members
    parameter: str = "model"

    @property
    def landlearn(self) -> dict:
        return self.emd.get("LandLearn", {})

    @property
    def kind(self) -> str:
        return self.landlearn.get("kind", "deep")

    def read(self, name: str, limit: int, what: str) -> bytes:
        with PackageFiles(self.source, self.parameter) as files:
            return files.read(name, limit, what)


def write_package(path: str, emd: dict, state_dict: dict | None, extra_files: dict[str, bytes],
                  parameter: str = "output_model") -> str:
    """Write ``path`` (.dlpk) atomically: a temporary zip renamed into place when complete.

    ``state_dict`` (torch weights) becomes <stem>.safetensors; classical models pass None
    and name their own file in ``emd["ModelFile"]``.
    """
    if not path.lower().endswith(".dlpk"):
        raise InputError(parameter, f"'{path}' is not a .dlpk path; use a name ending in .dlpk")
    ensure_writable_folder(path, parameter)
    stem = os.path.splitext(os.path.basename(path))[0]
    if state_dict is not None:
        # only here: classical packages must not import torch (2 s, and maybe absent)
        from safetensors.torch import save

        emd = dict(emd, ModelFile=f"{stem}.safetensors")
        weights = save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()})
    claim_output(path, parameter)
    tmp = temporary_sibling(path, ".dlpk")
    size = sum(len(d) for d in extra_files.values()) + (len(weights) if state_dict is not None
                                                        else 0)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{stem}.emd", json.dumps(emd, indent=2))
            if state_dict is not None:
                # stored, not deflated: weights barely compress and inflating them cost
                # 0.4 s of every Classify Pixels run on a resnet34 U-Net
                zf.writestr(f"{stem}.safetensors", weights, compress_type=zipfile.ZIP_STORED)
            for name, data in extra_files.items():
                # a skops file is itself a zip, a forest's node arrays and an ONNX graph's
                # weights inflate slower than they read: deflating costs time, gains little
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED
                            if name.endswith((".skops", ".npz", ".onnx"))
                            else zipfile.ZIP_DEFLATED)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        with zipfile.ZipFile(tmp) as zf:  # verified readable before it replaces anything
            bad = zf.testzip()
        if bad is not None:
            raise OSError(f"'{bad}' reads back damaged")
        os.replace(tmp, path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise disk_full_error(path, parameter, size, exc) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_package(path: str, parameter: str = "model") -> PackagedModel:
    """The package's description, checked (package_schema); no member is read yet.

    ``path`` is the .dlpk, its unpacked folder or the .emd inside that folder.
    """
    if not path or not os.path.exists(path):
        raise InputError(parameter, f"'{path}' does not exist")
    if os.path.isfile(path) and path.lower().endswith(".emd"):
        source, emd_name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    else:
        source, emd_name = path, None
    with PackageFiles(source, parameter) as files:
        if emd_name is None:
            names = [n for n in files.names() if n.lower().endswith(".emd") and "/" not in n]
            nested = sorted(n for n in files.names() if n.lower().endswith(".emd") and "/" in n)
            if not names and nested:  # zipped with its folder (a sweep, stop 69)
                raise InputError(parameter, f"'{path}' holds its .emd in a folder "
                                 f"('{nested[0][:80]}'); a model package holds it at the top: "
                                 "zip the files of that folder, not the folder")
            if len(names) != 1:
                raise InputError(parameter, f"'{path}' holds {len(names)} .emd files; a model "
                                 "package holds exactly one")
            emd_name = names[0]
        emd = files.read_json(emd_name)
    where = path if emd_name is None or not os.path.isdir(path) else os.path.join(path, emd_name)
    check_emd(emd, where, parameter)
    return PackagedModel(where, emd, source, parameter)


def read_weights(pkg: PackagedModel, expected: dict[str, tuple[int, ...]]) -> dict:
    """The package's safetensors as torch tensors, read only once its size, its header and
    every tensor's name and shape match ``expected`` (the network its .emd describes)."""
    require("torch")
    from safetensors.torch import load

    name = pkg.emd["ModelFile"]
    header_room = MIB + 512 * len(expected)
    limit = 8 + header_room + sum(8 * math.prod(shape) for shape in expected.values())
    data = pkg.read(name, limit, "weights")
    found = safetensors_header(data, pkg.path, pkg.parameter)
    if set(found) != set(expected):
        extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
        raise InputError(pkg.parameter, f"'{pkg.path}': the weights do not fit its own "
                         f"description ({len(missing)} tensors missing, e.g. {missing[:2]}; "
                         f"{len(extra)} unexpected, e.g. {extra[:2]})")
    wrong = [k for k, (_, shape) in found.items() if shape != tuple(expected[k])]
    if wrong:
        k = wrong[0]
        raise InputError(pkg.parameter, f"'{pkg.path}': the weights do not fit its own "
                         f"description ({k} is {list(found[k][1])}, the network needs "
                         f"{list(expected[k])})")
    try:
        state = load(data)
    except Exception as exc:  # noqa: BLE001 - the header was checked; any failure is damage
        raise InputError(pkg.parameter, f"'{pkg.path}': the weights cannot be read "
                         f"({str(exc)[:120]})") from None
    import torch

    # as the network holds them (float32): a float64 1e300 is finite until it is copied in
    if not all(bool(torch.isfinite(v.to(torch.float32)).all()) for v in state.values()
               if v.is_floating_point()):
        raise InputError(pkg.parameter, f"'{pkg.path}': its weights hold values that are not "
                         "numbers (NaN or infinity, or beyond float32's range); the model "
                         "cannot classify")
    return state


def report_folder(package: str) -> str:
    """Where a package's report is unpacked: '<stem>_report' beside it."""
    return os.path.splitext(package)[0] + "_report"


REPORT_FILES = {"report.html", "curves.png", "confusion_matrix.png", "validation_chips.png",
                "lr_finder.png"}


def legacy_report_files(folder: str) -> set[str] | None:
    """A report folder of a LandLearn version before files.MARKER: its report.html says so,
    and only the file names those versions wrote count as theirs."""
    try:
        with open(os.path.join(folder, "report.html"), encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    return set(REPORT_FILES) if "LandLearn" in head else None


def check_model_output(package: str, inputs: dict, parameter: str = "output_model") -> None:
    """Before training: the package path is a .dlpk that is no input, replaces only a
    LandLearn package, and its report folder can be replaced (or is new)."""
    if not package or not package.lower().endswith(".dlpk"):
        raise InputError(parameter, f"'{package}' is not a .dlpk path; use a name ending in .dlpk")
    check_distinct(inputs, {parameter: package})
    report = report_folder(package)
    if os.path.lexists(report) and not os.path.isdir(report):
        # found only after training, which then failed with the package written beside it
        # and advice to 'choose a folder' the user never chose (a qgis_process sweep, stop 67)
        raise InputError(parameter, f"'{report}' is a file, where the package's report folder "
                         "goes (the package's name with _report); move that file, or choose "
                         "another name for the package")
    check_replaceable_folder(report, parameter, "report folder", legacy_report_files,
                             algorithm="report")


@terminable  # run after training returned, outside its guard: a SIGTERM left the staging
def unpack_report(package: str, parameter: str = "output_model") -> str:
    """Unpack the report/ of a package LandLearn just wrote beside it; return report.html.

    The folder is replaced only when an earlier LandLearn run wrote it (staged_folder.StagedFolder):
    a '<stem>_report' folder holding anything else is left alone.
    """
    folder = report_folder(package)
    size = 0
    try:
        with StagedFolder(folder, parameter, replace=True, what="report folder",
                          algorithm="report", legacy=legacy_report_files) as staged, \
                zipfile.ZipFile(package) as zf:
            for info in zf.infolist():
                name = os.path.basename(info.filename)
                if info.filename.startswith("report/") and name and name not in (".", ".."):
                    size += info.file_size
                    with open(os.path.join(staged.staging, name), "wb") as fh:
                        fh.write(zf.read(info))
    except OSError as exc:
        raise disk_full_error(folder, parameter, size, exc) from None
    return os.path.join(staged.path, "report.html")


def png_bytes(figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()
