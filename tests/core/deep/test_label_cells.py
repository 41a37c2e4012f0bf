"""deep.label_cells: labelled pixels of overlapping chips, each counted once; and the split
that holds out VALIDATION_PERCENT of them."""

import numpy as np
import pytest

from landlearn.core.chips.training_data import Chip, read_training_data
from landlearn.core.deep.chip_dataset import ChipData
from landlearn.core.deep.label_cells import chip_cells, label_cells
from landlearn.core.deep.split import OVERSHOOT, spatial_split
from landlearn.core.errors import InputError


def _cut(labels: np.ndarray, size: int, stride: int, block: int, folder=0, cell=10.0,
         offset=(0, 0), keep_empty=True):
    """Chips of ``size`` px every ``stride`` px cut from one label raster, as an export
    cuts them (blocks of ``block`` x ``block`` chip origins); bounds in map units of
    ``cell`` per pixel, the raster's corner ``offset`` (rows, columns; may be fractional)
    from the map's origin. Returns (chips, masks)."""
    chips, masks = [], []
    h, w = labels.shape
    for r in range(0, h - size + 1, stride):
        for c in range(0, w - size + 1, stride):
            m = labels[r:r + size, c:c + size] > 0
            if not keep_empty and not m.any():
                continue
            x0, y1 = (offset[1] + c) * cell, -(offset[0] + r) * cell
            chips.append(Chip(f"i{folder}_{r}_{c}", f"l{folder}_{r}_{c}", folder,
                              (r // (stride * block)) * 1000 + c // (stride * block),
                              (x0, y1 - size * cell, x0 + size * cell, y1)))
            masks.append(m)
    return chips, masks


def _truth(chips, masks, subset, cell=10.0):
    """Brute force: labelled pixels under the union of ``subset``'s chips, per folder."""
    total = 0
    for folder in {chips[i].folder for i in subset}:
        canvas = {}
        for i in subset:
            if chips[i].folder != folder:
                continue
            b = chips[i].bounds
            r0, c0 = round(-b[3] / cell), round(b[0] / cell)
            for (r, c) in zip(*np.nonzero(masks[i])):
                canvas[(r0 + r, c0 + c)] = True
        total += len(canvas)
    return total


def _labels(seed=0, shape=(160, 160), share=0.3):
    rng = np.random.default_rng(seed)
    lab = (rng.random((shape[0] // 8, shape[1] // 8)) < share).astype(np.uint8)
    return np.kron(lab, np.ones((8, 8), np.uint8))  # patches, as polygons burn


@pytest.mark.parametrize("stride", [8, 16, 32])
def test_each_labelled_pixel_counts_once_however_many_chips_cover_it(stride):
    lab = _labels()
    chips, masks = _cut(lab, 32, stride, 2)
    cells = label_cells(chips, lambda i: masks[i])
    # the chips tile the 160 px raster whole (160 - 32 is a multiple of each stride)
    assert cells.total() == _truth(chips, masks, range(len(chips))) == np.count_nonzero(lab)
    some = list(range(0, len(chips), 3))
    held = {}
    for i in some:
        for k, n in cells.of(i):
            held[k] = max(held.get(k, 0), n)
    assert sum(held.values()) == _truth(chips, masks, some)


def test_folders_and_plain_chips_are_counted_apart():
    lab = _labels(1)
    a, ma = _cut(lab, 32, 16, 2, folder=0)
    b, mb = _cut(lab, 32, 16, 2, folder=1)  # the same place, another folder: counted again
    plain = [Chip("p", "q", 2, 0, None), Chip("p2", "q2", 2, 1, None)]
    pm = [np.ones((32, 32), bool), np.zeros((32, 32), bool)]
    masks = ma + mb + pm
    cells = label_cells(a + b + plain, lambda i: masks[i])
    assert cells.total() == 2 * np.count_nonzero(lab) + 32 * 32
    # without labels to count, each chip weighs 1: the split counts chips, as it did
    chips = a + b
    for seed in range(3):
        by_chip = spatial_split(chips, 20, seed, chip_cells(len(chips)))
        assert (by_chip.valid, by_chip.held_out) == (spatial_split(chips, 20, seed).valid,
                                                     len(by_chip.valid))


def test_chips_of_several_pixel_sizes_in_one_folder_are_counted_on_a_grid_each():
    lab = _labels(5)
    a, ma = _cut(lab, 32, 16, 2, cell=10.0)
    coarse = lab[::2, ::2]  # the same place at 20 m: other pixels, counted apart
    b, mb = _cut(coarse, 32, 16, 2, cell=20.0)
    masks = ma + mb
    cells = label_cells(a + b, lambda i: masks[i])
    assert cells.total() == (_truth(a, ma, range(len(a)), 10.0)
                             + _truth(b, mb, range(len(b)), 20.0))


def test_chips_off_a_common_grid_are_estimated_low_but_close():
    lab = _labels(2)
    a, ma = _cut(lab, 32, 16, 2)
    b, mb = _cut(lab[3:, 5:], 32, 16, 2, offset=(3, 5))  # another export's grid, same labels
    chips, masks = a + b, ma + mb
    cells = label_cells(chips, lambda i: masks[i])
    truth = _truth(chips, masks, range(len(chips)))
    assert 0.8 * truth <= cells.total() <= truth
    # and off whole pixels (half a pixel: a grid from a shifted raster), placed as rounded
    c, mc = _cut(lab[3:, 5:], 32, 16, 2, offset=(3.5, 5.5))
    cells = label_cells(a + c, lambda i: (ma + mc)[i])
    truth = _truth(a + c, ma + mc, range(len(a + c)))
    assert 0.8 * truth <= cells.total() <= truth


@pytest.mark.parametrize("percent", [5, 10, 20])
def test_the_split_holds_out_the_percent_of_labelled_pixels_not_of_chips(percent):
    lab = _labels(3, (256, 256), 0.35)
    chips, masks = _cut(lab, 32, 8, 4)  # a quarter stride: a block's chips cover 1.75 tiles
    cells = label_cells(chips, lambda i: masks[i])
    total = cells.total()
    for seed in range(4):
        split = spatial_split(chips, percent, seed, cells)
        held = _truth(chips, masks, split.valid)
        assert split.held_out == held and split.total == total
        assert percent / 100 <= held / total <= OVERSHOOT * percent / 100
        # counted in chips, the same percentage held out far more of the labels
        old = spatial_split(chips, percent, seed)
        assert _truth(chips, masks, old.valid) / total > 1.5 * held / total
        train = set(split.train)
        for t in train:
            assert not any(_overlap(chips[t].bounds, chips[v].bounds) for v in split.valid)


def test_blocks_without_labels_are_never_held_out():
    lab = _labels(4, (192, 192), 0.3)
    lab[:, :96] = 0  # the west half unlabelled: chips there exist, with no labels
    chips, masks = _cut(lab, 32, 16, 2)
    cells = label_cells(chips, lambda i: masks[i])
    blocks = {c.block for c in chips}
    unlabelled = {b for b in blocks if all(c.bounds[2] <= 960 for c in chips if c.block == b)}
    assert len(unlabelled) >= len(blocks) / 3
    for seed in range(5):
        split = spatial_split(chips, 10, seed, cells)
        for block in {chips[i].block for i in split.valid}:
            assert any(masks[i].any() for i in range(len(chips)) if chips[i].block == block)
        assert {chips[i].block for i in split.valid}.isdisjoint(unlabelled)


def test_when_every_block_is_too_large_the_smallest_is_held_out():
    lab = np.zeros((64, 128), np.uint8)
    lab[:, :64] = 1  # block 0: 4096 labelled px
    lab[:8, 64:72] = 1  # block 1: 64
    chips, masks = _cut(lab, 64, 64, 1)
    cells = label_cells(chips, lambda i: masks[i])
    for seed in range(4):  # 10% is 416 px: neither fits, the smaller is taken alone
        split = spatial_split(chips, 10, seed, cells)
        assert (split.valid, split.train, split.held_out, split.total) == ([1], [0], 64, 4160)
    empty = [np.zeros_like(m) for m in masks]
    with pytest.raises(InputError, match="^IGNORE_CLASSES: the training chips hold no labelled"):
        spatial_split(chips, 10, 0, label_cells(chips, lambda i: empty[i]))


def test_blocks_that_fit_but_fall_short_are_topped_up_by_the_nearest_share():
    # two full blocks and one with 4 labelled pixels: only the small one fits 1.5 x 10%,
    # and 4 pixels are no validation; one large block is added (by ratio, 4,100 of 8,196
    # is nearer 10% than 4 is)
    lab = np.zeros((64, 192), np.uint8)
    lab[:, :128] = 1
    lab[:2, 128:130] = 1
    chips, masks = _cut(lab, 64, 64, 1)
    cells = label_cells(chips, lambda i: masks[i])
    for seed in range(4):
        split = spatial_split(chips, 10, seed, cells)
        assert 2 in split.valid and len(split.valid) == 2 and split.held_out == 4100
    # where what fits is near enough, nothing is added
    lab[:32, 128:192] = 1  # the third block: 2,048 of 10,240, 20% asked: fits
    chips, masks = _cut(lab, 64, 64, 1)
    split = spatial_split(chips, 20, 0, label_cells(chips, lambda i: masks[i]))
    assert split.valid == [2] and split.held_out == 2048


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_real_chips_hold_out_the_labelled_share(chips):
    data = read_training_data([str(chips)])
    cd = ChipData(data, [c.value for c in data.classes if c.value != 0])
    cells = label_cells(data.chips, cd.labelled)
    split = spatial_split(data.chips, 20, 0, cells)
    assert 0.2 <= split.held_out / split.total <= 0.2 * OVERSHOOT
    # an export on a grid: every cell is a whole stride square (64 px chips every 32 px
    # here: 4 cells a chip), so the count is exact, not an estimate
    assert {len(k) for k in cells.keys} == {4}
    labelled = sum(int(np.count_nonzero(cd.labelled(i))) for i in range(len(data.chips)))
    assert split.total < labelled  # overlapping chips' pixels counted once
