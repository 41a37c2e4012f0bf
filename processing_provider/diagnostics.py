"""Environment Diagnostics: versions, missing packages and the device LandLearn will use."""

from __future__ import annotations

import json
import os

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterFileDestination,
)

from ..core.errors import InputError
from ..core.files import write_text_atomic
from ..core.geo.outputs import GENERATOR, claim_output
from ..core.runtime.device import resolve_device
from ..core.runtime.diagnostics import environment_report, format_report
from .base import LandLearnAlgorithm


def where_things_go(context) -> str:
    """Where LandLearn reads and writes, so a user can find models, reports and outputs."""
    from qgis.core import QgsProcessingUtils

    plugin = os.path.dirname(os.path.dirname(__file__))
    return "\n".join([
        "Where things go:",
        "  outputs (maps, chips, model packages): the paths you choose; left empty, QGIS's "
        f"temporary folder {QgsProcessingUtils.tempFolder()}",
        "  training reports: beside each model package, as PACKAGE_report/report.html",
        f"  shipped workflows (Processing > Models): {os.path.join(plugin, 'models')}",
        f"  plugin: {plugin}",
    ])


class DiagnosticsAlgorithm(LandLearnAlgorithm):
    ID = "diagnostics"
    DISPLAY_NAME = "Environment Diagnostics"
    GROUP = "Tools"
    ICON = "diagnostics"
    HELP = (
        "Reports the Python packages LandLearn uses (with the command that installs any that are "
        "missing, as it works on this platform and Python) and the device that training and "
        "classification will run on. A missing package never makes it fail; DEVICE=cuda "
        "fails with a clear message when torch is there but no GPU is usable.\n\n"
        "Example: qgis_process run landlearn:diagnostics -- DEVICE=auto REPORT=env.json"
    )

    def initAlgorithm(self, config=None):
        self.add_choice("DEVICE", "Device", [("auto", "Auto (GPU when available)"),
                                             ("cuda", "CUDA GPU"), ("cpu", "CPU")],
                        default="auto", help_text="The device to check.")
        self.add(QgsProcessingParameterFileDestination(
            "REPORT", self.tr("Report (JSON)"), fileFilter="JSON files (*.json)", optional=True,
            createByDefault=False),
            "Optional JSON file with the full report.")
        self.addOutput(QgsProcessingOutputString("DEVICE_USED", self.tr("Device")))
        self.addOutput(QgsProcessingOutputString("TORCH_VERSION", self.tr("torch version")))

    def perform(self, parameters, context, progress, feedback):
        device = self.choice(parameters, "DEVICE")
        report = environment_report(device)
        feedback.pushInfo(format_report(report))
        feedback.pushInfo(where_things_go(context))
        for module, command in report["missing"].items():
            state = report["packages"].get(module) or ""
            said = ("cannot be loaded" if state.startswith("BROKEN") else
                    "is a release LandLearn does not support" if state.startswith("UNSUPPORTED")
                    else "is not installed")
            feedback.pushWarning(f"{module} {said}: {command}")
        # A missing package is reported, never a failure: this is the tool that says what to
        # install. An explicit DEVICE=cuda without a usable GPU still fails, clearly.
        torch = report["packages"].get("torch")
        if torch is None:
            used = "none (torch is not installed)"
        elif torch.startswith(("BROKEN", "UNSUPPORTED")):
            # reported above with its cause and command; resolving the device again would
            # raise the same error (require() refuses a torch below its minimum)
            used = ("none (torch is installed but cannot be loaded)" if
                    torch.startswith("BROKEN") else f"none (torch {torch})")
        failed = None
        if torch is not None and not torch.startswith(("BROKEN", "UNSUPPORTED")):
            try:
                used = str(resolve_device(device))
            except InputError as exc:  # DEVICE=cuda without a GPU: the report says so too,
                failed, used = exc, f"none ({exc.detail})"  # the case one is sent for
        out = {"DEVICE_USED": used, "TORCH_VERSION": report["packages"]["torch"]}
        path = self.parameterAsFileOutput(parameters, "REPORT", context)
        if path:
            # never over a file LandLearn did not write (an input, the user's notes); the
            # generator mark first, where claim_output looks for it next time
            if not path.lower().endswith(".json"):
                raise InputError("report", f"'{path}': the report is JSON; give a .json name")
            claim_output(path, "REPORT")
            marked = {"generator": GENERATOR, **report, "device_used": used}
            out["REPORT"] = write_text_atomic(path, json.dumps(marked, indent=2), "REPORT")
        if failed is not None:
            if path:
                feedback.pushInfo(f"The report is written to {path}")
            raise failed
        return out
