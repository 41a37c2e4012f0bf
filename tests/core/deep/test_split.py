"""deep.split: whole spatial blocks held out, overlapping training chips dropped (counted in
chips here; in labelled pixels: test_label_cells.py)."""

from dataclasses import replace

import pytest
from rasterio.crs import CRS

from landlearn.core.chips.shared_grid import share_blocks
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


def test_folders_on_one_grid_hold_out_one_place_in_all_of_them():
    # two image dates over the same labels, in one CRS: a place held out is held out in
    # both folders, and no training chip of either overlaps a validation chip of either
    # (chip-sized blocks, as Export Training Data numbers them)
    one = _grid_chips(folder=0, block=2)
    shifted = [replace(c, bounds=(c.bounds[0] + 16, c.bounds[1] + 16, c.bounds[2] + 16,
                                  c.bounds[3] + 16)) for c in _grid_chips(folder=1, block=2)]
    wkt = CRS.from_epsg(32633).to_wkt()
    alone = spatial_split(one, 20, seed=0)
    kept = []
    for second in (_grid_chips(folder=1, block=2), shifted):  # one grid, another origin
        a, b = share_blocks([one, second], [wkt, wkt])
        chips = a + b
        split = spatial_split(chips, 20, seed=0)
        assert not any(_overlap(chips[t].bounds, chips[v].bounds)
                       for t in split.train for v in split.valid)
        assert {chips[v].folder for v in split.valid} == {0, 1}
        kept.append(len(split.train) / len(chips))
    # only the edge of the held-out places is lost: on one grid as much as in one folder;
    # on grids a quarter chip apart a place's chips reach further and drop more of their
    # neighbours (measured 0.32 of the chips kept, one folder 0.46; a split per folder
    # that drops whatever overlaps any folder's validation loses far more)
    assert kept[0] == len(alone.train) / len(one)
    assert kept[1] > 0.6 * kept[0]


def test_overlap_counts_within_a_folder_only_without_a_shared_grid_and_needs_bounds():
    # two folders over the same area in two CRSs: folder 1's chips are not dropped for
    # folder 0's (their bounds cannot be compared)
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


def test_three_image_dates_hold_out_the_same_places(shared, tmp_path):
    """slovenia_s2: three dates of Sentinel-2 over one land-cover raster. Before the shared
    grid, 24 of the 87 training chips overlapped another date's validation chips (the
    model had trained on the places it was scored on); now none, and as many chips train
    as with one date (81 of 108, 27 of 36)."""
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.labels.base import LabelConfig

    s2 = shared / "slovenia_s2"
    folders = []
    for k in (2, 3, 4):
        folders.append(str(tmp_path / f"date{k}"))
        export_training_data(ExportConfig(str(s2 / f"s2_l1c_reference_scene_{k}.tif"),
                                          LabelConfig(str(s2 / "lulc.tif")), folders[-1],
                                          tile_size_x=32, tile_size_y=32, stride_x=16,
                                          stride_y=16))
    kept = []
    for some in (folders[:1], folders):
        data = read_training_data(some)
        cd = ChipData(data, [c.value for c in data.classes if c.value != 0])
        split = spatial_split(data.chips, 10, 0, label_cells(data.chips, cd.labelled))
        chips = data.chips
        assert not any(_overlap(chips[t].bounds, chips[v].bounds)
                       for t in split.train for v in split.valid)
        kept.append(len(split.train) / len(chips))
    # every place held out is held out in every date
    assert {c.folder for c in chips} == {0, 1, 2}
    places = [{chips[v].bounds for v in split.valid if chips[v].folder == f} for f in range(3)]
    assert places[0] and places[0] == places[1] == places[2]
    assert kept[1] == kept[0]


def test_chips_that_only_share_an_edge_with_a_held_out_chip_are_kept():
    """Chips side by side (STRIDE = tile) placed at 0.1 map units a pixel: a chip's right
    edge (0.1 * 3) and its neighbour's left (0.3) differ in the last place, and the chip
    was dropped as overlapping a held-out neighbour, around every held-out block. Float
    noise is no overlap; a pixel's overlap is."""
    # left edges 0.3 * j, right edges 0.1 * 3 * (j + 1): 0.30000000000000004, ...
    side = [Chip(f"i{j}.tif", f"l{j}.tif", 0, j, (0.3 * j, 0.0, 0.1 * 3 * (j + 1), 1.0))
            for j in range(8)]
    noisy = [j for j in range(7) if side[j].bounds[2] > side[j + 1].bounds[0]]
    assert len(noisy) >= 4  # by float noise alone
    split = spatial_split(side, 20, seed=0)
    assert split.dropped == []
    wide = [replace(c, bounds=(c.bounds[0] - 0.01 if c.folder == 0 and c.block else
                               c.bounds[0], *c.bounds[1:])) for c in side]  # 0.1 px over
    split = spatial_split(wide, 20, seed=0)
    held = set(split.valid)
    assert split.dropped and all(any(v in held for v in (d - 1, d + 1)) for d in split.dropped)


def test_cancel_is_heard_between_draws_and_in_the_overlap_test():
    from landlearn.core.errors import Cancelled

    chips = _grid_chips()
    calls = []
    plain = spatial_split(chips, 20, seed=1, check=lambda: calls.append(1))
    assert len(calls) >= 2  # the draw and at least one slab of the overlap test
    assert (plain.train, plain.valid) == (spatial_split(chips, 20, seed=1).train,
                                          spatial_split(chips, 20, seed=1).valid)

    def cancel():
        raise Cancelled()

    with pytest.raises(Cancelled):
        spatial_split(chips, 20, seed=1, check=cancel)


def test_turned_copies_in_held_out_blocks_drop_no_training_chip():
    """A 45-degree copy's footprint (the box round its corners) is 1.4 x its chip: while
    the copies stood among the held-out chips, they dropped the training chips all round
    each held-out block, though a copy is neither trained on nor scored (review, stop 66).
    A folder whose chips are all turned (a rotated world file) keeps them for validation."""
    upright = _grid_chips(n=12, stride=64, size=64)  # chips that touch, none overlapping
    pad = 64 * (2 ** 0.5 - 1) / 2
    copies = [replace(c, image="t" + c.image, label="t" + c.label, bounds=None, turn=45.0,
                      footprint=(c.bounds[0] - pad, c.bounds[1] - pad, c.bounds[2] + pad,
                                 c.bounds[3] + pad)) for c in upright]
    alone = [replace(c, folder=1, bounds=None, turn=30.0, footprint=c.bounds)
             for c in _grid_chips(n=8, stride=64, size=64, folder=1)]
    chips = upright + copies + alone
    split = spatial_split(chips, 20, seed=1)
    valid = [chips[i] for i in split.valid]
    assert valid and all(not c.turn for c in valid if c.folder == 0)
    assert {chips[i].image for i in split.turned} == {
        "t" + chips[i].image for i in split.valid if chips[i].folder == 0}
    assert any(c.folder == 1 for c in valid)  # all turned: validated as before
    scored = [c.ground for c in valid if c.folder == 0]
    lost = [i for i in split.dropped if chips[i].folder == 0 and not chips[i].turn
            and not any(_overlap(chips[i].bounds, g) for g in scored)]
    assert lost == []  # an upright chip is dropped only for a held-out chip it overlaps
    assert len(split.train) + len(split.valid) + len(split.turned) + len(split.dropped) == \
        len(chips)
