"""The .dlpk model package: the format LandLearn writes and reads, and the checks that
make a package from anyone data and never code (schema before anything is built, members
size-checked before they are read, an exact type list for classical models). See
SECURITY.md."""

from __future__ import annotations

from .format import (
    FORMAT,
    FORMAT_VERSION,
    PackagedModel,
    check_model_output,
    read_package,
    read_weights,
    report_folder,
    unpack_report,
    write_package,
)
from .info import ModelInfo, model_info

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelInfo", "PackagedModel", "check_model_output",
           "model_info", "read_package", "read_weights", "report_folder", "unpack_report",
           "write_package"]
