"""deep.split: whole spatial blocks held out, overlapping training chips dropped (counted in
chips here; in labelled pixels: test_label_cells.py)."""

import pytest

from landlearn.core.chips.training_data import Chip, read_training_data
from landlearn.core.deep.chip_dataset import ChipData
from landlearn.core.deep.label_cells import label_cells
from landlearn.core.deep.split import spatial_split
from landlearn.core.errors import InputError


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _grid_chips(n=16, stride=32, size=64, block=4, folder=0, bounds=True):
    """n x n chips of ``size`` map units every ``stride``, in blocks of block x block chips."""
    return [Chip(f"i{folder}_{i}_{j}.tif", f"l{folder}_{i}_{j}.tif", folder,
                 (i // block) * 100 + j // block,
                 (j * stride, i * stride, j * stride + size, i * stride + size) if bounds else None)
            for i in range(n) for j in range(n)]


@pytest.mark.parametrize("percent", [5, 10, 25, 40])
def test_blocks_are_never_on_both_sides_and_about_the_percent_is_held_out(percent):
    chips = _grid_chips()
    split = spatial_split(chips, percent, seed=3)
    train, valid, dropped = set(split.train), set(split.valid), set(split.dropped)
    assert train | valid | dropped == set(range(len(chips)))
    assert len(train) + len(valid) + len(dropped) == len(chips)
    assert not {chips[i].block for i in train} & {chips[i].block for i in valid}
    assert not {chips[i].block for i in dropped} & {chips[i].block for i in valid}
    # whole blocks until the target is reached: at most one block (16 chips) beyond it
    target = round(len(chips) * percent / 100)
    assert target <= len(valid) < target + 16
    # no training chip shares a pixel with a validation chip; dropped ones all would
    for t in train:
        assert not any(_overlap(chips[t].bounds, chips[v].bounds) for v in valid)
    for d in dropped:
        assert any(_overlap(chips[d].bounds, chips[v].bounds) for v in valid)
    assert split.valid == sorted(split.valid)


def test_the_split_is_reproducible_and_follows_the_seed():
    chips = _grid_chips()
    a, b = spatial_split(chips, 20, seed=1), spatial_split(chips, 20, seed=1)
    assert (a.train, a.valid, a.dropped) == (b.train, b.valid, b.dropped)
    assert spatial_split(chips, 20, seed=2).valid != a.valid


def test_overlap_counts_within_a_folder_only_and_needs_bounds():
    # two folders over the same area: folder 1's chips are not dropped for folder 0's
    chips = _grid_chips(folder=0) + _grid_chips(folder=1)
    split = spatial_split(chips, 20, seed=0)
    for d in split.dropped:
        assert any(chips[v].folder == chips[d].folder and
                   _overlap(chips[d].bounds, chips[v].bounds) for v in split.valid)
    # chips without georeferencing cannot be compared: none is dropped
    plain = _grid_chips(bounds=False)
    split = spatial_split(plain, 20, seed=0)
    assert split.dropped == [] and len(split.train) + len(split.valid) == len(plain)


def test_no_validation_and_impossible_requests():
    chips = _grid_chips(n=8)
    split = spatial_split(chips, 0)
    assert split.train == list(range(64)) and split.valid == [] and split.dropped == []
    with pytest.raises(InputError, match="^VALIDATION_PERCENT: 100 is not a percentage below 100"):
        spatial_split(chips, 100)
    with pytest.raises(InputError, match="^VALIDATION_PERCENT: all chips lie in one spatial block"):
        spatial_split(_grid_chips(n=4), 10)
    # two blocks of overlapping chips: holding one out drops every chip of the other
    two = _grid_chips(n=2, stride=32, size=64, block=1)[:2]
    with pytest.raises(InputError, match="^VALIDATION_PERCENT: holding out 50% leaves no training"):
        spatial_split(two, 50)


def test_validation_blocks_never_overlap_training_chips(chips):
    data = read_training_data([str(chips)])
    cd = ChipData(data, [c.value for c in data.classes if c.value != 0])
    split = spatial_split(data.chips, 20, 0, label_cells(data.chips, cd.labelled))
    assert split.valid and split.train and split.dropped
    train_blocks = {data.chips[i].block for i in split.train}
    assert not train_blocks & {data.chips[i].block for i in split.valid}
    for v in split.valid:
        a = data.chips[v].bounds
        for t in split.train:
            b = data.chips[t].bounds
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    # VALIDATION_PERCENT counts labelled pixels (each once), not chips
    assert 0.2 <= split.held_out / split.total <= 0.3
