"""Export Training Data's ROTATION_ANGLE: turned copies of each chip (ArcGIS's
rotation_angle), read back by training in their chips' blocks."""

import json

import numpy as np
import pytest
import rasterio

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.deep.split import spatial_split
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig


def _export(sample, out, **kw):
    nc = sample / "nc_landsat7"
    kw = {"stride_x": 64, "stride_y": 64, **kw}
    return export_training_data(ExportConfig(
        str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")), str(out),
        tile_size_x=64, tile_size_y=64, **kw))


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform


@pytest.fixture(scope="module")
def turned(sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rot")
    plain = _export(sample, folder / "plain")
    quarter = _export(sample, folder / "quarter", rotation_angle=90)
    return folder, plain, quarter


@pytest.mark.heavy
def test_a_right_angle_writes_three_turned_copies_of_each_chip(turned):
    folder, plain, quarter = turned
    manifest = json.loads((folder / "quarter" / "landlearn_manifest.json").read_text())
    chips = manifest["chips"]
    originals = [c for c in chips if "rotation" not in c]
    copies = [c for c in chips if "rotation" in c]
    assert len(originals) == plain.chips and quarter.rotated_copies == len(copies)
    # the nc sample is labelled wall to wall: every copy holds labels
    assert len(copies) == 3 * plain.chips and quarter.chips == 4 * plain.chips
    assert f"{len(copies)} of the chips are copies turned by ROTATION_ANGLE (90 degree" \
        in quarter.summary()
    assert manifest["rotation_angle"] == 90
    by_place = {(c["col_off"], c["row_off"]): c for c in originals}
    for c in copies:
        twin = by_place[(c["col_off"], c["row_off"])]
        assert c["bounds"] is None and c["block"] == twin["block"]
        # a quarter turn of a square chip is its own box of ground
        np.testing.assert_allclose(c["footprint"], twin["bounds"], atol=1e-6)
        image, t = _read(folder / "quarter" / c["image"])
        label, _ = _read(folder / "quarter" / c["label"])
        own, _ = _read(folder / "quarter" / twin["image"])
        own_label, _ = _read(folder / "quarter" / twin["label"])
        turns = {90: 1, 180: 2, 270: 3}[int(c["rotation"])]
        k = [n for n in (turns, -turns) if np.array_equal(image, np.rot90(own, n, (1, 2)))]
        assert k and np.array_equal(label, np.rot90(own_label, k[0], (1, 2)))
        assert not t.is_rectilinear or int(c["rotation"]) == 180 or abs(t.b) > 0
        assert sum(c["class_pixels"].values()) == sum(twin["class_pixels"].values())


@pytest.mark.heavy
def test_training_reads_copies_in_their_chips_blocks_and_the_split_keeps_them_apart(
        sample, tmp_path):
    """Half-chip stride: chips beside a held-out block overlap it and are dropped; their
    turned copies (no bounds) were kept, and trained on ground held out."""
    _export(sample, tmp_path / "half", rotation_angle=90, stride_x=32, stride_y=32)
    td = read_training_data([tmp_path / "half"])
    manifest = json.loads((tmp_path / "half" / "landlearn_manifest.json").read_text())
    assert [c.block for c in td.chips] == [c["block"] for c in manifest["chips"]]
    copies = [c for c, m in zip(td.chips, manifest["chips"]) if "rotation" in m]
    assert copies and all(c.bounds is None and c.footprint is not None for c in copies)
    split = spatial_split(td.chips, 20, seed=0)
    assert split.dropped and any(td.chips[i].bounds is None for i in split.dropped)
    # held-out blocks' copies are neither scored nor trained: their ground is scored once
    assert split.turned and all(td.chips[i].turn for i in split.turned)
    assert not any(td.chips[i].turn for i in split.valid)
    assert not set(split.turned) & set(split.train)
    held = {td.chips[i].block_key for i in split.valid}
    assert not held & {td.chips[i].block_key for i in split.train}
    # no training chip, copy or not, overlaps a held-out chip's ground
    boxes = np.array([td.chips[i].ground for i in split.valid])
    for i in split.train:
        b = td.chips[i].ground
        tx, ty = (b[2] - b[0]) * 1e-4, (b[3] - b[1]) * 1e-4
        assert not ((b[0] < boxes[:, 2] - tx) & (boxes[:, 0] < b[2] - tx)
                    & (b[1] < boxes[:, 3] - ty) & (boxes[:, 1] < b[3] - ty)).any()


@pytest.mark.heavy
def test_oblique_copies_keep_their_chips_rules(sample, tmp_path):
    """30 degrees: eleven copies a chip, and a copy is kept by the chip's rules: with
    MIN_LABELED_FRACTION 1 and a stripe of unlabelled pixels, copies over it are left out
    and every copy kept is fully labelled where it lies on the raster."""
    nc = sample / "nc_landsat7"
    with rasterio.open(nc / "strata.tif") as ds:
        labels, profile = ds.read(), ds.profile
    labels[:, :, 200:204] = 0  # unlabelled columns
    holed = tmp_path / "holed.tif"
    with rasterio.open(holed, "w", **dict(profile, nodata=0, dtype="uint8")) as ds:
        ds.write(labels.astype("uint8"))

    def export(out, fraction):
        return export_training_data(ExportConfig(
            str(nc / "landsat_multiband.tif"), LabelConfig(str(holed)), str(out),
            tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64, rotation_angle=30,
            min_labeled_fraction=fraction))

    every, strict = export(tmp_path / "any", 0.0), export(tmp_path / "strict", 1.0)
    assert 0 < strict.rotated_copies < every.rotated_copies <= 11 * (every.chips -
                                                                    every.rotated_copies)
    manifest = json.loads((tmp_path / "strict" / "landlearn_manifest.json").read_text())
    copies = [c for c in manifest["chips"] if "rotation" in c]
    assert {c["rotation"] for c in copies} <= {30.0 * k for k in range(1, 12)}
    with rasterio.open(nc / "landsat_multiband.tif") as ds:
        left, bottom, right, top = ds.bounds
    inside = [c for c in copies if c["footprint"][0] >= left and c["footprint"][2] <= right
              and c["footprint"][1] >= bottom and c["footprint"][3] <= top]
    assert inside and all(sum(c["class_pixels"].values()) == 64 * 64 for c in inside)
    copies = [c for c in json.loads((tmp_path / "any" / "landlearn_manifest.json").read_text())[
        "chips"] if "rotation" in c]
    some = next(c for c in copies if c["rotation"] == 30.0)
    box = some["footprint"]
    assert (box[2] - box[0]) == pytest.approx(64 * 28.5 * (np.cos(np.pi / 6) + np.sin(np.pi / 6)))


def test_a_step_under_ten_degrees_is_refused_with_the_range(sample, tmp_path):
    with pytest.raises(InputError, match=r"^ROTATION_ANGLE: 5 is not a rotation step; use 0 "
                                         r"\(no rotated copies\) or 10..359 degrees"):
        _export(sample, tmp_path / "fine", rotation_angle=5)
    assert not (tmp_path / "fine").exists()


@pytest.mark.heavy
def test_a_unet_trains_on_a_folder_with_turned_copies(sample, tmp_path):
    """Copies without bounds go through the split, the label cells, the validation's
    coverage weights and the package (one epoch: this is about the path, not accuracy)."""
    from landlearn.core.deep.train_deep_learning_model import train_model
    from small_models import quick_config

    _export(sample, tmp_path / "chips", rotation_angle=90)
    result = train_model(quick_config(tmp_path / "chips", tmp_path / "m.dlpk", epochs=1))
    assert (tmp_path / "m.dlpk").is_file() and result.chips["valid"] > 0
    assert result.accuracy is not None and result.accuracy.total > 0


@pytest.mark.heavy
def test_two_dates_with_copies_share_one_grid_of_blocks(sample, tmp_path):
    """Folders with turned copies kept blocks of their own (the copies have no bounds):
    a place held out in one date was trained on through the other."""
    _export(sample, tmp_path / "a", rotation_angle=90)
    _export(sample, tmp_path / "b", rotation_angle=90)
    td = read_training_data([tmp_path / "a", tmp_path / "b"])
    half = len(td.chips) // 2
    assert all(c.region is not None for c in td.chips)
    assert [c.block_key for c in td.chips[:half]] == [c.block_key for c in td.chips[half:]]
    # a copy shares its chip's block
    manifest = json.loads((tmp_path / "a" / "landlearn_manifest.json").read_text())
    by_place = {}
    for chip, entry in zip(td.chips[:half], manifest["chips"]):
        by_place.setdefault((entry["col_off"], entry["row_off"]), set()).add(chip.block_key)
    assert all(len(keys) == 1 for keys in by_place.values())
