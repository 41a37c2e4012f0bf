"""Segmented rasters beside an image: refused off the grid or as floats; the ring."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import Grid
from landlearn.core.geo.segments import open_segments, read_segments, read_segments_halo
from synthetic import write

GRID = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 8, 6)


def test_ids_and_nodata(tmp_path):
    seg = np.arange(48, dtype=np.uint32).reshape(6, 8)
    ds = open_segments(write(tmp_path / "s.tif", seg, nodata=0), GRID)
    ids, has = read_segments(ds, Window(0, 0, 8, 6))
    assert ids.dtype == np.int64 and not has[0, 0] and has[0, 1:].all()
    ring, ok = read_segments_halo(ds, Window(6, 4, 2, 2), Window(0, 0, 8, 6))
    assert ring.shape == (4, 4) and not ok[-1].any() and not ok[:, -1].any()
    assert ring[1, 1] == seg[4, 6] and ring[0, 0] == seg[3, 5]
    ds.close()


@pytest.mark.parametrize("data, transform, message", [
    (np.zeros((6, 8), np.float32), None, "float32 values"),
    (np.zeros((6, 9), np.int32), None, "a grid other than INPUT_RASTER's"),
    (np.zeros((6, 8), np.int32), from_origin(500010, 5000000, 10, 10),
     "a grid other than INPUT_RASTER's: its origin differs"),
    (np.zeros((6, 8), np.int32), from_origin(500000, 5000000, 10, 12),
     "its cell size differs"),
])
def test_refused_off_the_grid_or_as_floats(tmp_path, data, transform, message):
    path = write(tmp_path / "s.tif", data, transform=transform)
    with pytest.raises(InputError, match=f"^SEGMENTED_RASTER: .*{message}"):
        open_segments(path, GRID)


def test_the_table_budget_is_a_quarter_of_the_memory_else_2_gb(monkeypatch):
    """Per-segment tables may take a quarter of the machine's memory; where it cannot be
    read (no sysconf, no Windows call), 2 GB."""
    import os

    from landlearn.core.geo import segments

    total = segments.physical_memory()
    assert total and total > 1 << 28 and segments.table_budget() == total // 4

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert segments.physical_memory() is None  # Linux has no windll either
    assert segments.table_budget() == 2 << 30


def test_segments_in_another_crs_name_both(tmp_path):
    """'its CRS differs' said neither CRS: the same grid in EPSG:32119 beside the image's
    EPSG:32633 (a sweep, stop 71) names both and the fix for the same place."""
    path = write(tmp_path / "s.tif", np.zeros((6, 8), np.int32), crs="EPSG:32119")
    with pytest.raises(InputError, match=r"its CRS differs \(EPSG:32119 against EPSG:32633; "
                                         r"where both are the same place, Assign Projection"):
        open_segments(path, GRID)
