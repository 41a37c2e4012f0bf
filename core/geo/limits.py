"""The default size limit of every output, apart from the checks that use it (sizes.py):
the Processing dialogs show it as MAX_OUTPUT_GPX's default when QGIS starts, without
importing numpy or rasterio."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_GPX"]

DEFAULT_MAX_GPX = 20.0  # gigapixels in one output (MAX_OUTPUT_GPX)
