"""The QGIS plugin object: registers the provider and the LandLearn menu/toolbar."""

from __future__ import annotations

import os

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QAction

from .processing_provider.base import icon
from .processing_provider.provider import ALGORITHMS, LandLearnProvider

MENU = "&LandLearn"
_PENDING: list = []  # keeps deferred slots alive


class LandLearnPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider: LandLearnProvider | None = None
        self.actions: list[QAction] = []
        self.toolbar = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        self.provider = LandLearnProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)
        models_folder(add=True)

    def initGui(self) -> None:  # noqa: N802
        from .core.runtime.triton_gate import DESKTOP_FLAG

        # QGIS desktop: no triton (its LLVM and the graphics driver's would abort QGIS)
        os.environ[DESKTOP_FLAG] = str(os.getpid())
        self.initProcessing()
        self.warn_missing_packages()
        self.toolbar = self.iface.addToolBar("LandLearn")
        self.toolbar.setObjectName("LandLearnToolbar")
        for cls in ALGORITHMS:
            alg = cls()
            action = QAction(icon(cls.ICON), alg.displayName() + "…", self.iface.mainWindow())
            action.setObjectName(f"landlearn_{cls.ID}")
            action.setToolTip(alg.displayName())
            action.triggered.connect(lambda _checked=False, i=cls.ID: self.open_dialog(i))
            self.iface.addPluginToRasterMenu(MENU, action)
            self.toolbar.addAction(action)
            self.actions.append(action)

    def warn_missing_packages(self) -> str | None:
        """Say once, when QGIS loads the plugin, which engine packages are missing and the
        exact command that installs them into the Python QGIS runs on."""
        from .core.runtime.deps import (
            SCALE_OUT,
            install_command,
            light_install_hint,
            missing_packages,
        )

        missing = [m for m in missing_packages() if m not in SCALE_OUT]
        if not missing:
            return None
        text = (f"LandLearn needs {', '.join(missing)} for some algorithms. Install with: "
                f"{install_command(*missing)} and restart QGIS. (Environment Diagnostics in "
                "the LandLearn menu lists every package.)")
        hint = light_install_hint(missing)
        if hint:
            text += " " + hint
        self.iface.messageBar().pushWarning("LandLearn", text)
        return text

    def open_dialog(self, algorithm_id: str) -> None:
        from .ui.launch import open_algorithm_dialog

        open_algorithm_dialog(self.iface, f"landlearn:{algorithm_id}")

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginRasterMenu(MENU, action)
            # children of the main window: without this each reload left its actions (and,
            # through their slots, the old plugin) alive
            action.deleteLater()
        self.actions = []
        _drop_pending()
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            models_folder(add=False)
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None


def _drop_pending() -> None:
    """Forget a models folder still waiting for Processing's model provider: it must not be
    added after the plugin was unloaded."""
    registry = QgsApplication.processingRegistry()
    while _PENDING:
        slot = _PENDING.pop()
        try:
            registry.providerAdded.disconnect(slot)
        except (TypeError, RuntimeError):  # already disconnected when it ran
            pass


def models_folder(add: bool) -> None:
    """Show the shipped workflows under Processing > Models (the model provider's folders).

    The folder is added to Processing's "Models folder(s)" setting while the plugin is
    loaded and removed on unload, so the user's own setting is left as it was.
    """
    registry = QgsApplication.processingRegistry()
    if add and registry.providerById("model") is None:
        # Processing (which owns the model provider) may load after this plugin, as in
        # qgis_process: add the folder once its model provider appears.
        def later(provider_id: str) -> None:
            if provider_id == "model":
                registry.providerAdded.disconnect(later)
                models_folder(add=True)

        registry.providerAdded.connect(later)
        _PENDING.append(later)
        return
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
        from processing.modeler.ModelerUtils import ModelerUtils
    except ImportError:  # Processing plugin disabled: nothing to add the models to
        return
    folder = os.path.join(os.path.dirname(__file__), "models")
    current = [f for f in (ProcessingConfig.getSetting(ModelerUtils.MODELS_FOLDER) or "").split(";")
               if f]
    wanted = ([*current, folder] if folder not in current else current) if add else \
        [f for f in current if f != folder]
    if wanted != current:
        # Processing refuses a value naming a folder that does not exist, and its default
        # (the profile's processing/models) exists only once a model was saved there: a
        # fresh profile, as every new user and CI has. That default is created, as QGIS
        # would on saving a model; a missing folder of the user's own is left alone and
        # the shipped workflow is simply not added.
        profile = QgsApplication.qgisSettingsDirPath()
        for f in wanted:
            if not os.path.isdir(f) and os.path.abspath(f).startswith(os.path.abspath(profile)):
                os.makedirs(f, exist_ok=True)
        try:
            ProcessingConfig.setSettingValue(ModelerUtils.MODELS_FOLDER, ";".join(wanted))
        except ValueError as exc:
            from qgis.core import Qgis, QgsMessageLog

            QgsMessageLog.logMessage(f"LandLearn could not add its workflows to the models "
                                     f"folders: {exc}", "LandLearn", Qgis.MessageLevel.Warning)
            return
    provider = QgsApplication.processingRegistry().providerById("model")
    if provider is not None:
        provider.refreshAlgorithms()
