"""deep.split and deep.label_cells by class: the held-out area's classes resemble the labels'
(each class held out near VALIDATION_PERCENT of its pixels), so early stopping and the
temperature see the rare classes too."""

import numpy as np
import pytest

from landlearn.core.chips.training_data import Chip, read_training_data
from landlearn.core.deep.chip_dataset import ChipData
from landlearn.core.deep.label_cells import label_cells
from landlearn.core.deep.losses import IGNORE
from landlearn.core.deep.split import CANDIDATES, OVERSHOOT, _mix_error, spatial_split


def _cut(labels: np.ndarray, size: int, stride: int, block: int, cell=10.0):
    """Chips cut from one label raster (0 = no label, 1.. = classes) as an export cuts
    them: (chips, per chip its class indices, IGNORE where no label)."""
    chips, classes = [], []
    h, w = labels.shape
    for r in range(0, h - size + 1, stride):
        for c in range(0, w - size + 1, stride):
            x0, y1 = c * cell, -r * cell
            chips.append(Chip(f"i{r}_{c}", f"l{r}_{c}", 0,
                              (r // (stride * block)) * 1000 + c // (stride * block),
                              (x0, y1 - size * cell, x0 + size * cell, y1)))
            lab = labels[r:r + size, c:c + size].astype(np.int64) - 1
            classes.append(np.where(lab < 0, IGNORE, lab).astype(np.uint8))
    return chips, classes


def _truth_by_class(chips, classes, subset, n, cell=10.0):
    """Brute force: pixels of each class under the union of ``subset``'s chips."""
    canvas = {}
    for i in subset:
        b = chips[i].bounds
        r0, c0 = round(-b[3] / cell), round(b[0] / cell)
        for (r, c) in zip(*np.nonzero(classes[i] != IGNORE)):
            canvas[(r0 + r, c0 + c)] = int(classes[i][r, c])
    return np.bincount(np.fromiter(canvas.values(), np.int64, len(canvas)), minlength=n)


def _map(seed=0, shape=(256, 256)):
    """Two common classes in 8 px patches, and a rare third in four patches far apart."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice([0, 1, 2], size=(shape[0] // 8, shape[1] // 8), p=[0.5, 0.3, 0.2])
    lab = np.kron(coarse, np.ones((8, 8), np.int64)).astype(np.uint8)
    for r, c in [(24, 40), (96, 200), (176, 72), (216, 216)]:
        lab[r:r + 12, c:c + 12] = 3
    return lab


@pytest.mark.parametrize("stride", [8, 16])
def test_cells_count_each_class_once_however_many_chips_cover_it(stride):
    lab = _map()
    chips, classes = _cut(lab, 32, stride, 2)
    by_class = label_cells(chips, lambda i: classes[i], 3)
    plain = label_cells(chips, lambda i: classes[i] != IGNORE)
    truth = np.bincount(lab.ravel(), minlength=4)[1:]
    assert by_class.class_totals().tolist() == truth.tolist()
    assert by_class.total() == plain.total() == truth.sum()
    for i in range(len(chips)):  # the same cells and counts, now split by class
        assert by_class.keys[i].tolist() == plain.keys[i].tolist()
        assert by_class.classes[i].sum(axis=1).tolist() == plain.counts[i].tolist()
    assert plain.classes is None and plain.class_totals() is None


def test_the_held_out_area_holds_every_class_near_the_percent():
    lab = _map(1)
    chips, classes = _cut(lab, 32, 8, 4)  # a quarter stride, 64 blocks
    by_class = label_cells(chips, lambda i: classes[i], 3)
    blind = label_cells(chips, lambda i: classes[i] != IGNORE)
    totals = by_class.class_totals()
    rare_missed = 0
    for seed in range(8):
        split = spatial_split(chips, 10, seed, by_class)
        held = _truth_by_class(chips, classes, split.valid, 3)
        assert split.held_out == held.sum() and split.total == totals.sum()
        assert split.held_classes.tolist() == held.tolist()  # what the log names as unseen
        assert split.class_totals.tolist() == totals.tolist()
        assert 0.1 <= held.sum() / totals.sum() <= 0.1 * OVERSHOOT  # the share, as before
        assert (held > 0).all()  # the rare class is validated on every seed
        assert (held / totals <= 0.35).all()
        # counted without classes the first of the seed's draws is kept: no nearer the mix
        old = spatial_split(chips, 10, seed, blind)
        old_held = _truth_by_class(chips, classes, old.valid, 3)
        assert old.held_classes is None
        rare_missed += old_held[2] == 0

        def error(h):
            return float(np.abs(np.log((h + 1) / (totals * 0.1 + 1))).mean())
        assert error(held) <= error(old_held)
        train = set(split.train)
        assert train.isdisjoint(split.valid) and len(train) + len(split.valid) + len(
            split.dropped) == len(chips)
    assert rare_missed >= 4  # which the blind split's draws did on most seeds


def test_the_split_by_class_follows_the_seed_and_is_reproducible():
    lab = _map(2)
    chips, classes = _cut(lab, 32, 16, 2)
    cells = label_cells(chips, lambda i: classes[i], 3)
    a = spatial_split(chips, 10, 0, cells)
    assert spatial_split(chips, 10, 0, cells).valid == a.valid
    assert len({tuple(spatial_split(chips, 10, s, cells).valid) for s in range(6)}) > 1
    assert CANDIDATES > 1


def test_the_mix_error_weighs_each_class_alike():
    wanted = np.array([1000.0, 10.0])
    # leaving out a class asked for n pixels costs log(n + 1) of the mean
    held = {0: (1000.0, np.array([1000.0, 0.0]))}
    both = {0: (2000.0, np.array([2000.0, 10.0]))}
    assert _mix_error(held, wanted) == pytest.approx(np.log(11) / 2)
    assert _mix_error(both, wanted) == pytest.approx(np.log(2001 / 1001) / 2)
    # a class without labels anywhere is not asked for
    assert _mix_error(held, np.array([1000.0, 0.0])) == 0


def test_real_chips_counted_by_class(chips):
    data = read_training_data([str(chips)])
    values = [c.value for c in data.classes if c.value != 0]
    cd = ChipData(data, values)
    cells = label_cells(data.chips, cd.label_classes, len(values))
    plain = label_cells(data.chips, cd.labelled)
    assert cells.class_totals().sum() == cells.total() == plain.total()
    assert (cells.class_totals() > 0).sum() >= 5
    split = spatial_split(data.chips, 20, 0, cells)
    assert 0.2 <= split.held_out / split.total <= 0.2 * OVERSHOOT
    blind = spatial_split(data.chips, 20, 0, plain)
    assert split.valid != blind.valid  # another draw resembled the labels' classes better


def test_a_class_no_block_can_hold_is_named_unvalidated():
    # class 3 only inside one block that holds over half the labels: holding it out would
    # overshoot, so no draw validates it, and the split says so
    lab = np.kron(np.random.default_rng(5).choice([0, 1, 2], (16, 32), p=[0.7, 0.15, 0.15]),
                  np.ones((8, 8), np.uint8)).astype(np.uint8)
    lab[:64, :64] = 1  # a block full of labels: a third of them, over 1.5 x 10%
    lab[20:40, 20:40] = 3
    chips, classes = _cut(lab, 32, 16, 4)  # 4 x 2 blocks of 64 px
    cells = label_cells(chips, lambda i: classes[i], 3)
    for seed in range(3):
        split = spatial_split(chips, 10, seed, cells)
        held = _truth_by_class(chips, classes, split.valid, 3)
        assert held[2] == 0 and split.unvalidated() == [2]
    assert spatial_split(chips, 10, 0, label_cells(
        chips, lambda i: classes[i] != IGNORE)).unvalidated() == []  # not counted by class
