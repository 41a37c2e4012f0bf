"""Checks every exported chip against its source, independently of the export code.

A chip's position is recovered from its own georeferencing (not from the manifest), then
the source is read at that window with plain rasterio: pixels inside the source (and the
extent) must be the source's, the rest NoData padding; labels must equal a reference array.
"""

import json
import os

import numpy as np
import rasterio
from rasterio.windows import Window

from landlearn.core.geo.grid import apply


def manifest(folder):
    with open(os.path.join(folder, "landlearn_manifest.json"), encoding="utf-8") as fh:
        return json.load(fh)


def stats(folder):
    with open(os.path.join(folder, "esri_accumulated_stats.json"), encoding="utf-8") as fh:
        return json.load(fh)


def chip_window(chip_ds, src_ds) -> Window:
    col, row = apply(~src_ds.transform, chip_ds.transform.c, chip_ds.transform.f)
    assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6, "chip off the grid"
    return Window(round(col), round(row), chip_ds.width, chip_ds.height)


def source_at(pixels, window, fill):
    """(bands, h, w) of the source ``pixels`` at ``window`` with ``fill`` outside."""
    out = np.full((pixels.shape[0], int(window.height), int(window.width)), fill,
                  dtype=pixels.dtype)
    inside = _window_of(np.ones(pixels.shape[1:], dtype=bool), window)
    for i, band in enumerate(pixels):
        out[i][inside] = _window_of(band, window)[inside]
    return out


def check_chips(folder, source, bands=None, reference_labels=None, area=None):
    """Assert every chip pair against ``source`` and the ``reference_labels`` array.

    ``area`` (a Window of the source) restricts where source pixels may appear.
    Returns the per-class pixel totals summed over the label chips.
    """
    m = manifest(folder)
    totals = np.zeros(256, dtype=np.int64)
    with rasterio.open(source) as src:
        bands = bands or list(range(1, src.count + 1))
        nodata = src.nodata
        fill = nodata if nodata is not None else 0
        pixels = src.read(bands)
        src_wkt = src.crs.to_wkt()
        inside = np.zeros((src.height, src.width), dtype=bool)
        if area is None:
            inside[:] = True
        else:
            inside[area.row_off:area.row_off + area.height,
                   area.col_off:area.col_off + area.width] = True
        for chip in m["chips"]:
            with rasterio.open(os.path.join(folder, chip["image"])) as ci, \
                    rasterio.open(os.path.join(folder, chip["label"])) as cl:
                assert ci.crs.to_wkt() == src_wkt and cl.transform == ci.transform
                assert ci.dtypes[0] == src.dtypes[0] and ci.nodata == nodata
                win = chip_window(ci, src)
                assert (win.col_off, win.row_off) == (chip["col_off"] + (area.col_off if area else 0),
                                                      chip["row_off"] + (area.row_off if area else 0))
                img = ci.read()
                lab = cl.read(1)
            expected = source_at(pixels, win, fill)
            mask = source_at_mask(inside, win)
            np.testing.assert_array_equal(img[:, mask], expected[:, mask])
            assert np.all(img[:, ~mask] == fill) or (fill != fill and np.isnan(img[:, ~mask]).all())
            if reference_labels is not None:
                ref = np.zeros(lab.shape, dtype=np.uint8)
                ref_src = _window_of(reference_labels, win)
                ref[:] = ref_src
                ref[~mask] = 0
                np.testing.assert_array_equal(lab, ref)
            hist = np.bincount(lab.ravel(), minlength=256)
            totals += hist
            assert {int(k): v for k, v in chip["class_pixels"].items()} == \
                {v: int(hist[v]) for v in np.nonzero(hist[1:])[0] + 1}
    return totals


def source_at_mask(inside, win):
    return _window_of(inside, win).astype(bool)


def _window_of(array, win):
    """``array`` at ``win``, zero/False where the window hangs outside it."""
    h, w = array.shape
    out = np.zeros((int(win.height), int(win.width)), dtype=array.dtype)
    r0, c0 = int(win.row_off), int(win.col_off)
    rs, cs = max(r0, 0), max(c0, 0)
    re, ce = min(r0 + int(win.height), h), min(c0 + int(win.width), w)
    if re > rs and ce > cs:
        out[rs - r0:re - r0, cs - c0:ce - c0] = array[rs:re, cs:ce]
    return out
