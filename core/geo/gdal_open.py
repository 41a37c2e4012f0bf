"""Opening files with GDAL/OGR that answers the same in either GDAL exception mode.

QGIS 3.40 runs its Python with GDAL exceptions on (GDAL 4 makes them the default); QGIS
3.22 leaves them off. A failed open then returns None in one and raises RuntimeError in the
other, and probing "is this a vector layer?" became a crash on 3.40. These helpers return
None on failure in both modes, without switching the process-wide mode (Processing runs
algorithms in threads, and the mode belongs to the host).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["open_dataset_or_none", "quiet_gdal"]


@contextmanager
def quiet_gdal() -> Iterator[None]:
    """Silence GDAL's stderr chatter while probing what a file is."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def open_dataset_or_none(path: str, flags: int | None = None):
    """``gdal.OpenEx(path, flags)``, or None when GDAL cannot open it (either mode).

    ``flags`` defaults to raster|vector; read-only."""
    from osgeo import gdal

    if flags is None:
        flags = gdal.OF_RASTER | gdal.OF_VECTOR
    with quiet_gdal():
        try:
            return gdal.OpenEx(path, flags)
        except RuntimeError:
            return None
