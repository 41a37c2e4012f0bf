"""The QGIS plugin object: registers the provider and the LandLearn menu/toolbar."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QAction

from .processing_provider.base import icon
from .processing_provider.provider import ALGORITHMS, LandLearnProvider

MENU = "&LandLearn"


class LandLearnPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider: LandLearnProvider | None = None
        self.actions: list[QAction] = []
        self.toolbar = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        self.provider = LandLearnProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
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

    def open_dialog(self, algorithm_id: str) -> None:
        from .ui.launch import open_algorithm_dialog

        open_algorithm_dialog(self.iface, f"landlearn:{algorithm_id}")

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginRasterMenu(MENU, action)
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
