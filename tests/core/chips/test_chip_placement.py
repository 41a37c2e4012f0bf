"""Where chips from others lie: blocks for the training/validation split from each chip's own
georeferencing (a folder as ArcGIS leaves it, no CRS, south-up, rotated, several CRSs), and
which chips keep bounds (only north-up ones: what reads them takes row 0 for north)."""

import json
import os
import shutil

import numpy as np
import pytest
import rasterio
from chip_folders import arcgis_copy, nc_export, read_json

from landlearn.core.chips.training_data import read_training_data
from landlearn.core.progress import RecordingProgress


@pytest.fixture(scope="module")
def export(sample, tmp_path_factory):
    return nc_export(sample, tmp_path_factory.mktemp("place") / "chips")


@pytest.mark.heavy
def test_an_arcgis_style_folder_gets_blocks_from_georeferencing_and_stats_from_its_chips(export, tmp_path):
    arcgis = tmp_path / "arcgis"
    shutil.copytree(export, arcgis)
    os.remove(arcgis / "landlearn_manifest.json")
    emd = read_json(arcgis / "esri_model_definition.emd")
    expected = emd.pop("AllTilesStats")
    emd.pop("LandLearn")
    (arcgis / "esri_model_definition.emd").write_text(json.dumps(emd))
    # map.txt as ArcGIS on another machine wrote it: paths into a folder that is not here
    lines = (arcgis / "map.txt").read_text().splitlines()
    (arcgis / "map.txt").write_text("".join(
        "/mnt/old/chips/" + line.replace(" ", " ../elsewhere/").replace("\\", "/") + "\n"
        for line in lines))
    progress = RecordingProgress()
    td = read_training_data([arcgis], progress)
    assert progress.messages == [f"'{arcgis}' carries no band statistics; computing them from its chips."]
    ours = read_training_data([export])
    assert [os.path.basename(c.image) for c in td.chips] == [os.path.basename(c.image) for c in ours.chips]
    assert all(os.path.dirname(c.image) == str(arcgis / "images") for c in td.chips)
    assert all(os.path.dirname(c.label) == str(arcgis / "labels") for c in td.chips)
    np.testing.assert_allclose(td.mean, [b["Mean"] for b in expected], rtol=1e-9)
    np.testing.assert_allclose(td.std, [b["StdDev"] for b in expected], rtol=1e-9)
    assert (td.source_bands, td.class_pixels) == (None, ours.class_pixels)
    assert td.foreign == [str(arcgis)] and ours.foreign == []  # ArcGIS's 0 is its background
    # blocks from each chip's own transform: chips share a block exactly when the export
    # put them in one (both count tile-sized cells from the same corner here)
    manifest = read_json(export / "landlearn_manifest.json")["chips"]
    assert min(c["col_off"] for c in manifest) % 128 == 0 and min(c["row_off"] for c in manifest) % 128 == 0
    pairs = range(len(td.chips))
    assert {(i, j) for i in pairs for j in pairs if td.chips[i].block == td.chips[j].block} == \
        {(i, j) for i in pairs for j in pairs if ours.chips[i].block == ours.chips[j].block}
    assert len({c.block for c in td.chips}) < len(td.chips)  # overlapping chips share blocks


def test_chips_placed_by_a_transform_without_a_crs_still_get_blocks(export, tmp_path):
    """A world file without .prj: the chips lie somewhere all the same (each chip was its
    own block, so overlapping chips fell on both sides of the split and none was dropped)."""
    arcgis = arcgis_copy(export, tmp_path / "nocrs", keep_stats=True)
    for chip in sorted((arcgis / "images").iterdir()):
        with rasterio.open(chip) as ds:
            data, profile = ds.read(), ds.profile
        profile.pop("crs")
        chip.unlink()
        with rasterio.open(chip, "w", **profile) as ds:
            ds.write(data)
    td = read_training_data([arcgis])
    ours = read_training_data([export])
    assert td.crs_wkt is None and all(c.bounds is not None for c in td.chips)
    pairs = range(len(td.chips))
    assert {(i, j) for i in pairs for j in pairs if td.chips[i].block == td.chips[j].block} == \
        {(i, j) for i in pairs for j in pairs if ours.chips[i].block == ours.chips[j].block}
    assert len({c.block for c in td.chips}) < len(td.chips)


def _rewrite_chips(folder, how):
    for chip in sorted((folder / "images").iterdir()):
        with rasterio.open(chip) as ds:
            data, profile = ds.read(), ds.profile
        data, profile = how(data, profile)
        chip.unlink()
        with rasterio.open(chip, "w", **profile) as ds:
            ds.write(data)


def test_south_up_chips_and_one_made_up_transform_are_placed_as_they_are(export, tmp_path):
    """A south-up world file (e > 0) gave bounds with bottom over top: no overlap was ever
    found; its chips are blocked by their centres and keep no bounds. One pixel-space transform on every chip, without a CRS, put all chips in one
    block (no split possible); such chips lie nowhere and stay apart."""
    ours = read_training_data([export])
    pairs = range(len(ours.chips))

    def south_up(data, profile):
        t = profile["transform"]
        bottom = t.f + t.e * profile["height"]
        flipped = rasterio.Affine(t.a, 0, t.c, 0, -t.e, bottom)
        return data[:, ::-1], dict(profile, transform=flipped, crs=None)

    flipped = arcgis_copy(export, tmp_path / "south", keep_stats=True)
    _rewrite_chips(flipped, south_up)
    td = read_training_data([flipped])
    assert {(i, j) for i in pairs for j in pairs if td.chips[i].block == td.chips[j].block} == \
        {(i, j) for i in pairs for j in pairs if ours.chips[i].block == ours.chips[j].block}
    # no bounds: Coverage and label_cells take a chip's row 0 for its northern edge, and
    # a south-up chip's row 0 is its southern one (its weights fell on mirrored rows)
    assert all(c.bounds is None and c.turn == 0 for c in td.chips)
    # but the ground it covers, for the split's overlap test: training chips beside a
    # held-out block are still dropped
    for a, b in zip(td.chips, ours.chips):
        np.testing.assert_allclose(a.ground, b.bounds)
    from landlearn.core.deep.split import spatial_split

    split = spatial_split(td.chips, 20)
    assert split.dropped
    held = np.array([td.chips[i].ground for i in split.valid])
    for i in split.train:
        b = td.chips[i].ground
        assert not ((b[0] < held[:, 2] - 1) & (held[:, 0] < b[2] - 1)
                    & (b[1] < held[:, 3] - 1) & (held[:, 1] < b[3] - 1)).any()

    def made_up(data, profile):
        return data, dict(profile, transform=rasterio.Affine(2, 0, 100, 0, -2, 500), crs=None)

    plain = arcgis_copy(export, tmp_path / "plain", keep_stats=True)
    _rewrite_chips(plain, made_up)
    td = read_training_data([plain])
    assert all(c.bounds is None for c in td.chips)
    assert len({c.block for c in td.chips}) == len(td.chips)


@pytest.mark.heavy
@pytest.mark.parametrize("angle", [90, 30])
def test_rotated_chips_lie_in_the_block_of_their_centre(export, tmp_path, angle):
    """Chips written with a rotated world file (ArcGIS's ROTATION_ANGLE copies) were placed
    nowhere, each a block of its own, so a validation chip's rotated twin could be trained
    on; placed by their centres they fall in their unrotated twins' blocks."""
    ours = read_training_data([export])
    pairs = range(len(ours.chips))

    def rotated(data, profile):
        pivot = (profile["width"] / 2, profile["height"] / 2)
        return data, dict(profile, transform=profile["transform"]
                          * rasterio.Affine.rotation(angle, pivot=pivot))

    turned = arcgis_copy(export, tmp_path / "turned", keep_stats=True)
    _rewrite_chips(turned, rotated)
    td = read_training_data([turned])
    assert {(i, j) for i in pairs for j in pairs if td.chips[i].block == td.chips[j].block} == \
        {(i, j) for i in pairs for j in pairs if ours.chips[i].block == ours.chips[j].block}
    assert len({c.block for c in td.chips}) < len(td.chips)
    # no bounds: label_cells and evaluation would take their pixels for map rows and
    # columns (a quarter turn's pixel (0, 0) is another corner of the same ground)
    assert all(c.bounds is None and c.footprint is not None for c in td.chips)
    assert {round(c.turn) for c in td.chips} == {angle % 360}


def test_chips_of_two_crss_in_one_folder_are_blocked_apart(export, tmp_path):
    """An ArcGIS export of raster items separately can hold chips in two UTM zones: their
    coordinates are read in their own CRS only, blocks drawn per CRS, and only the first
    CRS's chips keep bounds (the folder's CRS is its first chip's)."""
    ours = read_training_data([export])
    two = arcgis_copy(export, tmp_path / "two", keep_stats=True)
    names = sorted(p.name for p in (two / "images").iterdir())
    moved = set(names[1::2])  # every other chip: the same coordinates, another CRS
    for chip in sorted((two / "images").iterdir()):
        if chip.name in moved:
            with rasterio.open(chip, "r+") as ds:
                ds.crs = rasterio.crs.CRS.from_epsg(32618)
    td = read_training_data([two])
    other = [c for c in td.chips if os.path.basename(c.image) in moved]
    first = [c for c in td.chips if os.path.basename(c.image) not in moved]
    assert other and first and all(c.bounds is None for c in other)
    assert all(c.bounds is not None for c in first)
    assert not {c.block for c in other} & {c.block for c in first}
    # within a CRS, chips that shared a block still do
    by_name = {os.path.basename(c.image): c.block for c in ours.chips}
    pairs = [(a, b) for a in first for b in first
             if by_name[os.path.basename(a.image)] == by_name[os.path.basename(b.image)]]
    assert all(a.block == b.block for a, b in pairs)
