"""Where LandLearn runs: optional heavy packages loaded on demand with the command that
installs them, the device (GPU or CPU), and the environment report behind Diagnostics."""

from __future__ import annotations

from .deps import install_command, is_available, missing_packages, require
from .device import describe_device, resolve_device
from .diagnostics import bug_report, environment_report, format_report
from .fast_paths import fast_paths, why_not

__all__ = ["bug_report", "describe_device", "environment_report", "fast_paths", "format_report",
           "install_command", "is_available", "missing_packages", "require", "resolve_device",
           "why_not"]
