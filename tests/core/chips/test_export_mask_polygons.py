"""Export Training Data's MASK_POLYGONS: only chips wholly inside the polygons are written
(ArcGIS's in_mask_polygons), the rest counted in the summary."""

import json

import pytest

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from synthetic import polygons

# the nc sample (EPSG:32119, 28.5 m, right edge 644470.5): its eastern half and a box
# smaller than a chip
EAST = (637500.0, 215488.5, 644470.5, 228114.0)
TINY = (631000.0, 220000.0, 632000.0, 221000.0)


def _export(sample, out, **kw):
    nc = sample / "nc_landsat7"
    return export_training_data(ExportConfig(
        str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")), str(out),
        tile_size_x=64, tile_size_y=64, stride_x=32, stride_y=32, **kw))


def _bounds(folder):
    manifest = json.loads((folder / "landlearn_manifest.json").read_text())
    return [tuple(c["bounds"]) for c in manifest["chips"]]


@pytest.mark.heavy
def test_only_chips_wholly_inside_the_mask_are_written(sample, tmp_path):
    mask = polygons(tmp_path / "east.gpkg", [(1, EAST)], 32119)
    every = _export(sample, tmp_path / "all")
    masked = _export(sample, tmp_path / "masked", mask_polygons=mask)
    inside = [b for b in _bounds(tmp_path / "all")
              if b[0] >= EAST[0] - 1e-6]
    assert 0 < masked.chips == len(inside) < every.chips
    # chips at the right edge hang over the raster's edge: padding is not refused
    assert max(b[2] for b in inside) > EAST[2]
    assert sorted(_bounds(tmp_path / "masked")) == sorted(inside)
    assert masked.skipped_outside_mask > 0
    assert f"{masked.skipped_outside_mask} not wholly inside MASK_POLYGONS" in masked.summary()


def test_a_mask_no_chip_fits_in_is_named_with_the_fix(sample, tmp_path):
    mask = polygons(tmp_path / "tiny.gpkg", [(1, TINY)], 32119)
    with pytest.raises(InputError, match="^MASK_POLYGONS: no 64 x 64 px chip lies wholly "
                                         "inside the mask polygons"):
        _export(sample, tmp_path / "none", mask_polygons=mask)
    assert not (tmp_path / "none").exists()


def test_the_mask_may_not_be_the_output(sample, tmp_path):
    mask = polygons(tmp_path / "east.gpkg", [(1, EAST)], 32119)
    with pytest.raises(InputError, match="MASK_POLYGONS|OUTPUT_FOLDER"):
        _export(sample, tmp_path / "east.gpkg", mask_polygons=mask)


@pytest.mark.heavy
def test_the_automatic_chip_size_counts_blocks_inside_the_mask(sample, tmp_path):
    """Counted over the whole raster, the automatic rule chose 128 px chips, of which few fit
    in the eastern half; counted inside the mask, it takes the size that gives the split its
    blocks there, and every chip still lies wholly inside."""
    nc = sample / "nc_landsat7"
    mask = polygons(tmp_path / "east.gpkg", [(1, EAST)], 32119)

    def auto(out, **kw):
        return export_training_data(ExportConfig(
            str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")), str(out),
            tile_size_x=0, tile_size_y=0, stride_x=0, stride_y=0, **kw))

    every = auto(tmp_path / "all")
    masked = auto(tmp_path / "masked", mask_polygons=mask)
    assert every.description.tile_size == (128, 128)
    assert masked.description.tile_size == (64, 64)
    assert masked.chips > 0 and all(b[0] >= EAST[0] - 1e-6 for b in _bounds(tmp_path / "masked"))


def test_a_mask_outside_extent_is_named_as_such(sample, tmp_path):
    """The mask over the west, EXTENT the east: "draw them larger than a chip" helped no
    one; the mask and EXTENT miss each other."""
    from landlearn.core.geo.extent import Extent

    west = polygons(tmp_path / "west.gpkg", [(1, (630534.0, 215488.5, 637400.0, 228114.0))],
                    32119)
    with pytest.raises(InputError, match="^MASK_POLYGONS: no mask polygon lies inside EXTENT; "
                                         "widen EXTENT or draw the mask polygons inside it"):
        _export(sample, tmp_path / "none", mask_polygons=west, extent=Extent(*EAST))
    assert not (tmp_path / "none").exists()
