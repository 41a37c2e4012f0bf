"""Turning tile probabilities into the classified raster (and confidence / probabilities).

Centre blending writes each tile's centre straight away. Weighted blending adds every
tile's probabilities, times a weight that fades to its edges, into a strip one tile high;
rows become final once the next row of tiles has started below them, and are written then.
All outputs are verified together at the end and only then renamed into place
(commit.commit_together), or all removed on error or cancel.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import numpy as np
from rasterio.windows import Window

from ..accuracy.calibration import apply_temperature
from ..errors import InputError
from ..geo.commit import commit_together
from ..geo.writer import GeoTiffWriter

NODATA_FLOAT = -1.0
FLUSH_COLUMNS = 2048  # weighted blending writes its finished rows this many columns at a time


def hann_weight(tile: int, pad: int) -> np.ndarray:
    """A 2D weight that is 1 over the centre and fades towards the tile edges (never 0),
    symmetric: with PADDING over a quarter of the tile the two fades meet (the falling one
    was written over the rising one: the weight jumped to 1 inside the left padding and the
    blend leant on pixels with little context on one side)."""
    ramp = np.ones(tile, dtype=np.float32)
    if pad > 0:
        n = min(2 * pad, tile)
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / (2 * pad))
        ramp[:n] = edge
        ramp = np.minimum(ramp, ramp[::-1])
    return np.outer(ramp, ramp) + 1e-3


def open_writers(stack: ExitStack, config, grid, info, part: bool = False):
    """(class map, confidence or None, probabilities or None) writers on ``grid``, entered
    into ``stack``: one place that says what Classify Pixels' outputs look like, for the
    single-process stream, Dask workers' parts (``part``: zstd, faster and read once, and
    no class-name sidecars, so a worker needs rasterio but not GDAL's Python bindings)
    and the assembly of those parts."""
    compress = "zstd" if part else "deflate"
    tags = {"LANDLEARN_MODEL": config.model}
    with ExitStack() as opened:  # one that fails (a read-only folder) closes the others
        cls, conf, prob = _open_writers(opened, config, grid, info, compress, part, tags)
        stack.enter_context(opened.pop_all())
    return cls, conf, prob


def _open_writers(stack, config, grid, info, compress, part, tags):
    cls = stack.enter_context(GeoTiffWriter(
        config.output, grid, 1, np.uint8, nodata=0, classes=info.classes, tags=tags,
        parameter="output", compress=compress, sidecars=not part))
    conf = prob = None
    if config.output_confidence:
        conf = stack.enter_context(GeoTiffWriter(
            config.output_confidence, grid, 1, np.float32, nodata=NODATA_FLOAT,
            band_names=["confidence"], tags=tags, parameter="output_confidence",
            compress=compress))
    if config.output_probabilities:
        prob = stack.enter_context(GeoTiffWriter(
            config.output_probabilities, grid, len(info.class_values), np.float32,
            nodata=NODATA_FLOAT, band_names=info.class_names,
            # which class each band is, and below which confidence the class map left a
            # pixel unclassified, for Refine Classification
            tags=dict(tags, LANDLEARN_CLASSES=json.dumps([c.to_esri() for c in info.classes]),
                      **({"LANDLEARN_CONFIDENCE_THRESHOLD": repr(float(
                          config.confidence_threshold))}
                         if config.confidence_threshold > 0 else {})),
            parameter="output_probabilities", compress=compress))
    return cls, conf, prob


class ClassifyOutputs:
    def __init__(self, config, grid, info, area: Window, tile: int, pad: int,
                 part: bool = False):
        self.config, self.info, self.area = config, info, area
        self.tile, self.pad, self.core = tile, pad, tile - 2 * pad
        self.values = np.asarray(info.class_values, dtype=np.uint8)
        self.threshold = config.confidence_threshold
        self.counts = np.zeros(256, dtype=np.int64)
        self._stack = ExitStack()
        self.cls, self.conf, self.prob = open_writers(self._stack, config, grid, info,
                                                      part=part)
        self.weighted = config.blend == "weighted"
        # the weighted blend gets raw probabilities (stream.py) and tempers their blend:
        # p^(1/T) blended could take another class than the blend of p, and the class
        # map must not depend on the calibration
        deep_tta = config.test_time_augmentation and info.kind != "classical"
        self.temperature = info.tta_temperature if deep_tta else info.temperature
        if self.weighted:
            try:
                width = int(area.width) + 2 * pad + tile
                self.weight = hann_weight(tile, pad)
                self.acc = np.zeros((len(self.values), tile, width), dtype=np.float32)
                self.wsum = np.zeros((tile, width), dtype=np.float32)
                self.valid = np.zeros((tile, width), dtype=bool)
            except BaseException as exc:  # MemoryError: the writers' files go
                self._stack.__exit__(type(exc), exc, exc.__traceback__)
                raise
            self.top = int(area.row_off) - pad  # raster row of strip row 0

    @property
    def class_counts(self) -> dict[int, int]:
        return {int(v): int(self.counts[v]) for v in np.nonzero(self.counts)[0]}

    def add(self, core_win: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        """Probabilities of the tile whose centre is ``core_win`` (raster coordinates)."""
        if self.weighted:
            self._accumulate(core_win, probs, valid)
            return
        p, c = self.pad, self.core
        self._write(core_win, probs[:, p:p + c, p:p + c], valid[p:p + c, p:p + c])

    def _accumulate(self, core_win, probs, valid) -> None:
        row0 = int(core_win.row_off) - self.pad
        while row0 > self.top:  # a new row of tiles: the strip's first `core` rows are final
            self._flush_rows()
        c0 = int(core_win.col_off) - self.pad - (int(self.area.col_off) - self.pad)
        t = self.tile
        self.acc[:, :, c0:c0 + t] += probs * self.weight
        self.wsum[:, c0:c0 + t] += self.weight
        self.valid[:, c0:c0 + t] |= valid

    def _flush_rows(self) -> None:
        """Write strip rows [0, core) (final: no later tile reaches them) and shift the strip."""
        c, p = self.core, self.pad
        width = int(self.area.width)
        # a block of columns at a time: the blended and calibrated copies and the outputs'
        # follow the block, not the raster's width (whole rows of 20 classes across 40,000
        # px were ~1.4 GB each, four at once, beside a strip check_strip had allowed)
        for x0 in range(0, width, FLUSH_COLUMNS):
            w = min(FLUSH_COLUMNS, width - x0)
            win = Window(int(self.area.col_off) + x0, self.top, w, c)
            sl = (slice(0, c), slice(p + x0, p + x0 + w))
            probs = self.acc[(slice(None),) + sl] / np.maximum(self.wsum[sl], 1e-12)
            self._write(win, apply_temperature(probs, self.temperature, axis=0),
                        self.valid[sl])
        # the rows later tiles still reach move up in place (np.roll copied the whole strip:
        # twice the memory check_strip allows, and every row copied per row of tiles)
        keep = self.tile - c
        self.acc[:, :keep] = self.acc[:, c:].copy()
        self.wsum[:keep] = self.wsum[c:].copy()
        self.valid[:keep] = self.valid[c:].copy()
        self.acc[:, keep:] = 0
        self.wsum[keep:] = 0
        self.valid[keep:] = False
        self.top += c

    def finish(self) -> None:
        if self.weighted:
            end = int(self.area.row_off + self.area.height)
            while self.top < end:
                self._flush_rows()

    def _write(self, win: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        """Write the part of ``win`` inside the area; ``probs`` is (classes, h, w) for ``win``."""
        a = self.area
        r0, c0 = max(int(win.row_off), int(a.row_off)), max(int(win.col_off), int(a.col_off))
        r1 = min(int(win.row_off + win.height), int(a.row_off + a.height))
        c1 = min(int(win.col_off + win.width), int(a.col_off + a.width))
        if r1 <= r0 or c1 <= c0:
            return
        sl = (slice(r0 - int(win.row_off), r1 - int(win.row_off)),
              slice(c0 - int(win.col_off), c1 - int(win.col_off)))
        p = probs[(slice(None),) + sl]
        v = valid[sl]
        if not (np.isfinite(p).all(axis=0) | ~v).all():  # no copy of the valid pixels
            # argmax takes NaN for the largest value: such pixels became the first class,
            # confidence NaN, above any threshold
            bad = int((~np.isfinite(p) & v).any(axis=0).sum())
            raise InputError("input_raster", f"the model gave probabilities that are not "
                             f"numbers for {bad:,} valid pixels near row {r0}, column {c0}: "
                             "the raster may hold an undeclared fill value (such as "
                             "-3.4e38 or -9999) far outside what the model was trained on; "
                             "set the raster's NoData value, or choose other BANDS")
        best = p.argmax(axis=0)
        conf = p.max(axis=0)
        cls = self.values[best]
        cls[~v | (conf < self.threshold)] = 0
        out = Window(c0 - int(a.col_off), r0 - int(a.row_off), c1 - c0, r1 - r0)
        self.cls.write(cls, out)
        self.counts += np.bincount(cls.ravel(), minlength=256)
        if self.conf is not None:
            self.conf.write(np.where(v, conf, NODATA_FLOAT).astype(np.float32), out)
        if self.prob is not None:
            self.prob.write(np.where(v[None], p, np.float32(NODATA_FLOAT))
                            .astype(np.float32, copy=False), out)

    def __enter__(self) -> ClassifyOutputs:
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return self._stack.__exit__(exc_type, exc, tb)
        try:
            commit_together(self.writers)
        finally:
            self._stack.close()  # every writer is published or aborted by now
        return None

    @property
    def writers(self) -> list[GeoTiffWriter]:
        return [w for w in (self.cls, self.conf, self.prob) if w is not None]
