"""Chips as normalised tensors: band statistics in, class indices out, NoData ignored.

Normalisation is (x - mean) / std per band from the export's statistics (never /255), so
uint16 reflectance, int16 radar and float32 hyperspectral all arrive near N(0, 1). NoData
pixels become 0 (the band mean) and their labels the ignore index, the same rule as in
export, loss, metrics and inference. Chips are cached in memory as float16 when they fit a
budget, because reading and decoding GeoTIFFs every epoch is what slows CPU training.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..chips.chip_reader import read_label_chip
from ..chips.training_data import Chip, TrainingData
from ..errors import InputError
from ..geo.classes import ClassInfo
from ..geo.raster import band_nodata
from .losses import IGNORE

CACHE_BUDGET_BYTES = 3 * 2**30


def label_lut(class_values: list[int]) -> np.ndarray:
    """uint8 class value -> training index (0..n-1), IGNORE for NoData and ignored classes."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for i, v in enumerate(class_values):
        lut[v] = i
    return lut


F16_MAX = 65000.0  # float16 holds up to 65504


def with_background(data: TrainingData, value: int, progress=None) -> TrainingData:
    """``data`` with a class ``value`` named 'background' for its label chips' 0 (where the
    image has data): arcgis.learn trains Classified Tiles' 0 so, and a model of buildings or
    roads needs the ground between them as a class; LandLearn's 0 is no label otherwise.
    ``value`` 0: ``data`` as it is."""
    if not value:
        return data
    taken = next((c for c in data.classes if c.value == value), None)
    if taken is not None:
        used = {c.value for c in data.classes}
        # above the classes, not 255: the usual NoData of label rasters
        free = next((v for v in range(max(used) + 1, 255) if v not in used),
                    next((v for v in range(1, 255) if v not in used), None))
        raise InputError("background_value", f"{value} is the chips' class '{taken.name}'; "
                         "choose a value no class uses" + (f" (e.g. {free})" if free else ""))
    # a class of the chips named so already (another value): two 'background' entries in
    # the map's legend and report could not be told apart
    named = "background" if all(c.name.casefold() != "background" for c in data.classes) \
        else "background (label 0)"
    if progress is not None:
        progress.info(f"Unlabelled pixels (0) on image data are trained as class {value} "
                      f"'{named}' (BACKGROUND_VALUE)")
    background = ClassInfo(value, named, (224, 224, 224))
    return replace(data, classes=sorted([*data.classes, background], key=lambda c: c.value))


class ChipData:
    def __init__(self, data: TrainingData, class_values: list[int], background: int = 0):
        """``background``: the class value the label chips' 0 is trained as (0: none); the
        image's NoData stays out whatever the label says (``_read``)."""
        self.data = data
        self.lut = label_lut(class_values)
        if background and background in class_values:
            self.lut[0] = class_values.index(background)
        self.mean = data.mean.astype(np.float32)[:, None, None]
        std = data.std.astype(np.float32)
        self.scale = (1.0 / np.where(std > 0, std, 1.0)).astype(np.float32)[:, None, None]
        w, h = data.tile_size
        per_chip = data.band_count * w * h * 2 + w * h
        self.cached = per_chip * len(data.chips) <= CACHE_BUDGET_BYTES
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # the class values the folders declare (0: no label); a label chip's other values
        # are left out, and said (``undeclared``)
        self.declared = np.zeros(256, bool)
        self.declared[[0] + [c.value for c in data.classes if 0 <= c.value <= 255]] = True
        if background:
            # a label pixel holding the background's own value is no class the folders
            # declared (fill, such as 255): left out and said, not trained as background
            self.declared[background] = False
            self.lut[background] = IGNORE
        self._undeclared: dict[str, tuple[int, tuple[int, ...]]] = {}

    def indices(self, label_path: str, lab: np.ndarray) -> np.ndarray:
        """(h, w) training class indices of a label chip's values: IGNORE for NoData,
        classes not trained, values past 0..255 (clipped, a uint16 label of 300 became
        class 255) and values the folders declare no class for (recorded per chip: a
        label chip of class 5 in a folder listing 1-4 was dropped without a word)."""
        inside = (lab >= 0) & (lab <= 255)
        byte = np.where(inside, lab, 0).astype(np.uint8)
        out = self.lut[byte]
        unknown = ~inside | ~self.declared[byte]
        if unknown.any():
            out[unknown] = IGNORE
            odd = lab[unknown]
            values = np.unique(odd[np.isfinite(odd)])[:8]
            self._undeclared[label_path] = (int(np.count_nonzero(unknown)),
                                            tuple(int(v) for v in values))
        return out

    def undeclared(self) -> tuple[int, int, list[int]] | None:
        """(labelled pixels, chips, some values) of label values no class is declared for,
        in the chips read so far; None when there are none."""
        if not self._undeclared:
            return None
        seen = sorted({v for _, vs in self._undeclared.values() for v in vs})
        return (sum(n for n, _ in self._undeclared.values()), len(self._undeclared), seen[:8])

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(bands, h, w) float32 normalised image and (h, w) uint8 index labels of a chip."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit[0].astype(np.float32), hit[1]
        x, y = self._read(self.data.chips[index])
        if self.cached:  # the first epoch must see what later ones see: float16-rounded values
            self._cache[index] = (x.astype(np.float16), y)
            return self._cache[index][0].astype(np.float32), y
        return x, y

    def label_classes(self, index: int) -> np.ndarray:
        """(h, w) uint8 training class indices of the chip, IGNORE where no class (what the
        validation split counts): from its label chip alone, without reading the image,
        unless the chip is cached already (then the image's NoData is IGNORE too; with a
        background class, uncached, its 0s over the image's NoData count as background in
        the split's balance, though training leaves them out)."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit[1]
        chip = self.data.chips[index]
        return self.indices(chip.label, read_label_chip(chip.label, self.data.tile_size))

    def labelled(self, index: int) -> np.ndarray:
        """(h, w) bool: the chip's pixels with a class to learn (what the validation split
        counts): from its label chip alone, without reading the image, unless the chip is
        cached already (then the image's NoData is left out too)."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit[1] != IGNORE
        chip = self.data.chips[index]
        return self.indices(chip.label, read_label_chip(chip.label, self.data.tile_size)) != IGNORE

    def _read(self, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
        # NaN, +-inf, NoData and the chip's mask: what Classify Pixels reads as missing
        raw, invalid, nodata = self.data.read_image(chip)
        lab = read_label_chip(chip.label, self.data.tile_size)
        x = (raw.astype(np.float32) - self.mean) * self.scale
        x[:, invalid] = 0.0
        holes = band_nodata(raw, nodata)
        if holes is not None:
            # one band's own NoData where others have data: that band's mean (z 0), as the
            # export's statistics leave it out and Classify Pixels reads it (stream.py)
            x[holes] = 0.0
        # within float16 (the cache's type): an undeclared -9999 fill on reflectance is a
        # z-score of -1e5, which float16 makes -inf, and one inf makes a batch's loss NaN
        np.clip(np.nan_to_num(x, copy=False), -F16_MAX, F16_MAX, out=x)
        y = self.indices(chip.label, lab)
        y[invalid] = IGNORE
        return x, y

    def batch(self, indices, torch, device, augment: bool, rng: np.random.Generator | None,
              jitter: float = 0.0):
        xs, ys = zip(*(self.load(i) for i in indices))
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys).astype(np.int64))
        if augment and rng is not None:
            x, y = augment_batch(torch, x, y, rng)
        if jitter and rng is not None:
            x = radiometric_jitter(torch, x, rng, jitter)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def augment_batch(torch, x, y, rng: np.random.Generator):
    """Random flips and 90-degree rotations per chip (180 only when chips are not square)."""
    square = x.shape[-1] == x.shape[-2]
    xs, ys = [], []
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        if k:
            xi, yi = torch.rot90(xi, k, (1, 2)), torch.rot90(yi, k, (0, 1))
        if rng.random() < 0.5:
            xi, yi = torch.flip(xi, (2,)), torch.flip(yi, (1,))
        xs.append(xi)
        ys.append(yi)
    return torch.stack(xs), torch.stack(ys)


def radiometric_jitter(torch, x, rng: np.random.Generator, amount: float):
    """Each chip's bands scaled by 1 +- ``amount`` and shifted by +- ``amount`` (in standard
    deviations, the chips' normalised units), drawn per chip and band: the brightness and
    contrast changes arcgis.learn's default augmentation makes, for a mapped area whose
    light, season or sensor calibration is not the training area's. Pixels at 0 (NoData,
    read as the band's mean) are left there."""
    n, bands = x.shape[0], x.shape[1]
    gain = torch.from_numpy(rng.uniform(1 - amount, 1 + amount, (n, bands, 1, 1))
                            .astype(np.float32))
    shift = torch.from_numpy(rng.uniform(-amount, amount, (n, bands, 1, 1)).astype(np.float32))
    # within float16 again, as the chips are (an undeclared fill clipped to its end)
    return torch.where(x == 0, x, x * gain + shift).clamp_(-F16_MAX, F16_MAX)
