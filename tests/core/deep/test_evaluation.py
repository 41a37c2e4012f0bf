"""Evaluation helpers of deep training (the training loop's own numbers are tested in
test_train_deep_learning_model on real chips)."""

import numpy as np
import pytest

from landlearn.core.deep.evaluation import calibration_groups


def test_calibration_groups_are_map_cells_that_overlapping_chips_share():
    """3 x 3 chips of 64 px every 32 px (one pixel is in up to four chips): every copy of a
    map pixel, whichever chip it was gathered from, is in one group, so the halves of the
    cross-fitted calibration error share no map pixel (grouped by the chips' blocks, the
    chips of one block and their neighbours overlapped across the halves). Chips without
    georeferencing are groups of their own; a single chip's cell splits into its pixels."""
    from types import SimpleNamespace

    chips = _grid(0)
    data = SimpleNamespace(chips=chips, tile_size=(64, 64))
    chip_of = np.repeat(np.arange(9), 64 * 64)
    pixel = np.tile(np.arange(64 * 64), 9)
    groups = calibration_groups(data, chip_of, pixel)
    top_row, left_col = chip_of // 3 * 32 + pixel // 64, chip_of % 3 * 32 + pixel % 64
    where = top_row * 1000 + left_col  # the map pixel
    per_pixel = {}
    for m, g in zip(where.tolist(), groups.tolist()):
        assert per_pixel.setdefault(m, g) == g
    assert len(per_pixel) == 128 * 128 and len(np.unique(groups)) == 4  # 2 x 2 chip cells
    assert groups[chip_of == 0].min() == groups[chip_of == 0].max()  # the corner chip: one cell
    # another folder (another date) over the same place is apart from folder 0's cells
    two = SimpleNamespace(chips=_grid(0) + _grid(1), tile_size=(64, 64))
    g2 = calibration_groups(two, np.array([0, 9]), np.array([0, 0]))
    assert g2[0] != g2[1]
    loose = SimpleNamespace(chips=_grid(0, bounds=False), tile_size=(64, 64))
    g3 = calibration_groups(loose, np.array([0, 0, 1, 4]), np.array([0, 4095, 0, 7]))
    assert g3[0] == g3[1] and len(set(g3.tolist())) == 3
    one = SimpleNamespace(chips=_grid(0)[:1], tile_size=(64, 64))
    assert len(np.unique(calibration_groups(one, np.zeros(5, int), np.arange(5)))) == 5


def _grid(folder=0, n=3, stride=32, size=64, px=10.0, bounds=True):
    from landlearn.core.chips.training_data import Chip

    return [Chip(f"i{folder}_{r}_{c}", "l", folder, 0,
                 (c * stride * px, -(r * stride + size) * px, (c * stride + size) * px,
                  -r * stride * px) if bounds else None)
            for r in range(n) for c in range(n)]


def test_coverage_counts_each_pixel_of_a_folder_once():
    """3 x 3 chips of 64 px every 32 px: a pixel lies in 1, 2 or 4 chips; the weights of all
    chips add up to the 128 x 128 pixels they cover. Another folder's chips over the same
    place (another date) and chips without bounds count apart."""
    from landlearn.core.deep.evaluation import Coverage

    chips = _grid(0) + _grid(1) + _grid(2, bounds=False)
    cov = Coverage(chips, list(range(len(chips))), (64, 64))
    middle = cov.weights(4)
    np.testing.assert_array_equal(middle, 0.25)
    corner = cov.weights(0)
    assert corner[0, 0] == 1 and corner[0, 40] == 0.5 and corner[40, 0] == 0.5
    assert corner[40, 40] == 0.25
    total = sum(cov.weights(i).sum() for i in range(9))
    assert total == 128 * 128
    assert sum(cov.weights(i).sum() for i in range(9, 18)) == 128 * 128  # folder 1 apart
    np.testing.assert_array_equal(cov.weights(20), 1)  # no bounds: every pixel once
    # only the chips evaluated count: the middle chip alone covers its pixels once
    np.testing.assert_array_equal(Coverage(chips, [4], (64, 64)).weights(4), 1)


def test_the_validation_matrix_holds_each_held_out_labelled_pixel_once(chips):
    """s2 sample, 64 px chips every 32 px, 20% held out: the matrix's total and supports
    are the labelled pixels the split held out (label_cells, each counted once), not the
    sum over overlapping chips (2.1x as many here)."""
    import torch

    from landlearn.core.chips.training_data import read_training_data
    from landlearn.core.deep.chip_dataset import IGNORE, ChipData
    from landlearn.core.deep.evaluation import evaluate
    from landlearn.core.deep.label_cells import label_cells
    from landlearn.core.deep.split import spatial_split
    from landlearn.core.progress import NullProgress

    data = read_training_data([str(chips)])
    values = [c.value for c in data.classes if c.value != 0]
    cd = ChipData(data, values)
    split = spatial_split(data.chips, 20, 0, label_cells(data.chips, cd.label_classes,
                                                         len(values)))

    class Constant(torch.nn.Module):  # every pixel class 0: the matrix is its first column
        def forward(self, x):
            out = torch.zeros((x.shape[0], len(values)) + tuple(x.shape[2:]))
            out[:, 0] = 1
            return out

    loss = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    _, acc = evaluate(torch, Constant(), cd, split.valid, loss, torch.device("cpu"), 8,
                      len(values), [str(v) for v in values], False, torch.float32,
                      NullProgress())
    stacked = sum(int((cd.label_classes(i) != IGNORE).sum()) for i in split.valid)
    assert stacked > 2 * split.held_out
    np.testing.assert_allclose(acc.matrix.sum(), split.held_out, rtol=1e-9)
    np.testing.assert_allclose(acc.support, split.held_classes, rtol=1e-9)


def test_gathered_pixels_stand_for_their_batchs_labelled_pixels(chips, monkeypatch):
    """Each batch gives up to the same number of pixels to the temperature fit: a pixel
    drawn from a densely labelled batch stands for more pixels than one of a sparse batch
    taken whole. The gathered weights add up to the labelled pixels they stand for (each
    map pixel once), batch by batch; and non-finite outputs are refused, not scored."""
    import torch

    from landlearn.core.chips.training_data import read_training_data
    from landlearn.core.deep import evaluation
    from landlearn.core.deep.chip_dataset import IGNORE, ChipData
    from landlearn.core.errors import InputError
    from landlearn.core.progress import NullProgress

    data = read_training_data([str(chips)])
    values = [c.value for c in data.classes if c.value != 0]
    cd = ChipData(data, values)
    labelled = [i for i in range(len(data.chips)) if (cd.label_classes(i) != IGNORE).any()]
    counts = {i: int((cd.label_classes(i) != IGNORE).sum()) for i in labelled}
    dense, sparse = max(labelled, key=counts.get), min(labelled, key=counts.get)
    assert counts[dense] > 4 * counts[sparse]
    monkeypatch.setattr(evaluation, "CALIBRATION_PIXELS", 2 * counts[sparse])

    class Constant(torch.nn.Module):
        def __init__(self, value=1.0):
            super().__init__()
            self.value = value

        def forward(self, x):
            return torch.full((x.shape[0], len(values)) + tuple(x.shape[2:]), self.value)

    loss = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    args = (loss, torch.device("cpu"), 1, len(values), [str(v) for v in values], False,
            torch.float32, NullProgress())
    gather: list = []
    evaluation.evaluate(torch, Constant(), cd, [dense, sparse], *args, gather=gather)
    cover = [evaluation.Coverage(data.chips, [dense, sparse], data.tile_size).weights(i)
             for i in (dense, sparse)]
    for got, chip, c in zip(gather, (dense, sparse), cover):
        want = c[cd.label_classes(chip) != IGNORE].sum()
        np.testing.assert_allclose(got[5].sum(), want, rtol=0.05)
    assert len(gather[0][5]) == len(gather[1][5]) == counts[sparse]
    with pytest.raises(InputError, match="^LEARNING_RATE: the network's outputs on validation "
                                         "chips are not finite"):
        evaluation.evaluate(torch, Constant(float("nan")), cd, [dense], *args)
