"""LandLearn's engine: pure Python, importable without QGIS or Qt.

Scripting users import from here directly (``from landlearn.core.geo.raster import RasterSource``);
the Processing algorithms are thin translators onto these modules.
"""
