"""Errors the engine raises; the Processing layer turns them into QgsProcessingException.

Every user-facing error names the parameter it is about, so a message reads the same
from the toolbox, qgis_process and a script: ``LABELS: ...``. Core config fields use the
lower-case form of the Processing parameter key, so one name serves both worlds.
"""

from __future__ import annotations


class LandLearnError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(LandLearnError):
    """A parameter value that cannot work; the message says what to change."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter.upper()
        self.detail = message
        super().__init__(f"{self.parameter}: {message}")

    def __reduce__(self):
        # rebuilt from its two fields when it travels (a Dask worker's error to the client)
        return (type(self), (self.parameter, self.detail))


class Cancelled(LandLearnError):
    """The user cancelled; raised between tiles so that no output is half-written."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.",
                 saved: str | None = None):
        super().__init__(message)
        self.saved = saved  # what was saved all the same (SAVE_ON_CANCEL's package)

    def __reduce__(self):
        return (type(self), (str(self), self.saved))


class MissingDependency(LandLearnError):
    """An optional engine package (torch, smp, sklearn...) is not importable."""

    def __init__(self, package: str, install_command: str, reason: str = ""):
        self.package = package
        self.install_command = install_command
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"The Python package '{package}' is required for this algorithm but could not "
            f"be imported{why}. Install it with:\n    {install_command}\n"
            "then restart QGIS (or the script)."
        )

    def __reduce__(self):
        return (type(self), (self.package, self.install_command, self.reason))
