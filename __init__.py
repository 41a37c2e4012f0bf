"""LandLearn QGIS plugin entry point: nothing heavy is imported here."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import LandLearnPlugin

    return LandLearnPlugin(iface)
