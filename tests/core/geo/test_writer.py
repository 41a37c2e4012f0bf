import os
import re

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import Grid
from landlearn.core.geo.writer import GeoTiffWriter
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from synthetic import class_map_fixture, write_class_map

CLASSES, GRID = class_map_fixture()
_write = write_class_map


def test_classified_output_is_tiled_compressed_coloured_and_named(tmp_path):
    path = str(tmp_path / "out" / "map.tif")  # the folder is created
    data = _write(path)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1), data)
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression.name.lower() == "deflate"
        assert ds.colormap(1)[3][:3] == (0, 128, 0)
        assert ds.nodata == 0 and ds.crs.to_epsg() == 32633
    qml = (tmp_path / "out" / "map.qml").read_text()
    assert 'type="paletted"' in qml and 'label="forest &amp; wood"' in qml and "#0000ff" in qml
    # names survive a round trip through GDAL's category names
    labels = open_labels(LabelConfig(path), GRID)
    assert [(c.value, c.name, c.color) for c in labels.classes] == \
        [(1, "water", (0, 0, 255)), (3, "forest & wood", (0, 128, 0))]
    assert sorted(os.listdir(tmp_path / "out")) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_failure_leaves_nothing_and_keeps_the_previous_result(tmp_path):
    path = str(tmp_path / "map.tif")
    _write(path)
    before = open(path, "rb").read()
    with pytest.raises(RuntimeError):
        with GeoTiffWriter(path, GRID, 1, np.uint8, classes=CLASSES) as out:
            out.write(np.full((300, 256), 9, np.uint8), Window(0, 0, 256, 300))
            raise RuntimeError("boom")
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_multiband_float_output_without_classes(tmp_path):
    path = str(tmp_path / "prob.tif")
    data = np.random.default_rng(0).random((3, 300, 600)).astype(np.float32)
    with GeoTiffWriter(path, GRID, 3, np.float32, band_names=["a", "b", "c"]) as out:
        out.write(data, GRID.full_window)
        out.update_tags(LANDLEARN_SKIPPED_TILES=7)  # known once the pixels are written
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(), data)
        assert ds.descriptions == ("a", "b", "c")
        assert ds.tags()["LANDLEARN_SKIPPED_TILES"] == "7"
    assert sorted(os.listdir(tmp_path)) == ["prob.tif"]


def test_bad_destinations_name_the_parameter(tmp_path):
    with pytest.raises(InputError, match="OUTPUT: .* is not a GeoTIFF path"):
        GeoTiffWriter(str(tmp_path / "x.png"), GRID, 1, np.uint8)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(InputError, match="OUTPUT: the folder .* is not writable"):
            GeoTiffWriter(str(ro / "x.tif"), GRID, 1, np.uint8)
    finally:
        ro.chmod(0o700)


def test_unwritable_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="OUTPUT: cannot create the folder"):
        GeoTiffWriter(str(blocker / "sub" / "x.tif"), GRID, 1, np.uint8)


def test_a_class_map_without_sidecars_keeps_its_colours_and_names_in_tags(tmp_path):
    """sidecars=False (Dask parts): no .qml, no .aux.xml; the colour table and the classes
    tag are still in the file."""
    path = str(tmp_path / "part.tif")
    data = _write(path, sidecars=False)
    assert sorted(os.listdir(tmp_path)) == ["part.tif"]
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1), data)
        assert ds.colormap(1)[3][:3] == (0, 128, 0)
        assert "forest & wood" in ds.tags()["LANDLEARN_CLASSES"]


def _damaged(tmp_path, damage):
    """A writer whose closed temporary file is damaged before it is verified."""
    out = GeoTiffWriter(str(tmp_path / "map.tif"), GRID, 1, np.uint8, nodata=0)
    noise = np.random.default_rng(0).integers(1, 255, (300, 600), dtype=np.uint8)
    out.write(noise, GRID.full_window)
    out._ds.close()
    damage(out._tmp)
    return out


def test_verification_finds_a_truncated_file(tmp_path):
    def cut(path):
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)

    out = _damaged(tmp_path, cut)
    with pytest.raises(OSError, match="missing from the file|cannot be read back"):
        out._verify()
    out.abort()
    assert os.listdir(tmp_path) == []


def test_verification_finds_a_last_block_that_reads_back_wrong(tmp_path):
    def scramble_last_block(path):
        with rasterio.open(path) as ds:
            off = int(ds.get_tag_item("BLOCK_OFFSET_2_1", "TIFF", bidx=1))
            n = int(ds.get_tag_item("BLOCK_SIZE_2_1", "TIFF", bidx=1))
        with open(path, "r+b") as fh:
            fh.seek(off + n // 4)
            fh.write(bytes(n // 2))

    out = _damaged(tmp_path, scramble_last_block)
    with pytest.raises(OSError, match="cannot be read back|does not read back"):
        out._verify()
    out.abort()
    assert os.listdir(tmp_path) == []


def test_replacing_a_map_drops_the_old_maps_overviews(tmp_path):
    """Pyramids built in QGIS beside a map (map.tif.ovr) describe that map: left beside a
    new one, the zoomed-out view showed the old classes."""
    path = str(tmp_path / "map.tif")
    _write(path)
    from osgeo import gdal

    ds = gdal.Open(path, gdal.GA_ReadOnly)  # read-only: external overviews, as QGIS does
    ds.BuildOverviews("NEAREST", [2, 4])
    ds = None
    assert os.path.exists(path + ".ovr")
    _write(path)
    assert not os.path.exists(path + ".ovr")
    assert sorted(os.listdir(tmp_path)) == ["map.qml", "map.tif", "map.tif.aux.xml"]
    # a map deleted by hand leaves its overviews and statistics: they go too
    other = str(tmp_path / "conf.tif")
    for stale in (other + ".ovr", other + ".aux.xml"):
        with open(stale, "w") as fh:
            fh.write("left from an earlier conf.tif")
    with GeoTiffWriter(other, GRID, 1, np.float32) as out:
        out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    assert not os.path.exists(other + ".ovr") and not os.path.exists(other + ".aux.xml")


def test_a_narrow_corridor_keeps_a_corner_not_the_whole_raster_for_its_check(tmp_path):
    """Under a block wide (striped), 100 x 20,000 px of 8 float bands: what is kept to
    compare at the end is a block's corner, and the check still finds a wrong last row."""
    corridor = Grid(GRID.crs, GRID.transform, 100, 20_000)
    out = GeoTiffWriter(str(tmp_path / "c.tif"), corridor, 8, np.float32)
    assert out._last_data.nbytes <= 8 * 256 * 256 * 4
    data = np.random.default_rng(0).random((8, 1000, 100)).astype(np.float32)
    for r0 in range(0, 20_000, 1000):
        out.write(data, Window(0, r0, 100, 1000))
    out._last_data[0, -1, -1] += 1  # as if the file's last row had come back different
    with pytest.raises(InputError, match="could not be written completely"):
        out.commit()
    assert not (tmp_path / "c.tif").exists()


def test_a_mask_inside_the_file_marks_nodata_where_no_value_is_free(tmp_path):
    """Every byte value is a colour: NoData goes into a mask inside the GeoTIFF (GDAL 3.6
    put it in a .msk beside the temporary file, which the rename left behind)."""
    path = tmp_path / "rgb.tif"
    valid = np.ones((300, 600), bool)
    valid[:40, :] = False
    valid[:, 590:] = False
    with GeoTiffWriter(path, GRID, 3, np.uint8, mask=True) as out:
        for c0 in range(0, 600, 256):
            win = Window(c0, 0, min(256, 600 - c0), 300)
            out.write(np.full((3, 300, int(win.width)), 255, np.uint8), win,
                      valid=valid[:, c0:c0 + 256])
    assert os.listdir(tmp_path) == ["rgb.tif"]
    with rasterio.open(path) as ds:
        assert ds.nodata is None and ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        np.testing.assert_array_equal(ds.dataset_mask() > 0, valid)
    with pytest.raises(ValueError, match="needs the valid pixels"):
        with GeoTiffWriter(tmp_path / "b.tif", GRID, 1, np.uint8, mask=True) as out:
            out.write(np.zeros((300, 600), np.uint8), Window(0, 0, 600, 300))
    assert os.listdir(tmp_path) == ["rgb.tif"]
    # the verification reads the last block's mask back too
    out = GeoTiffWriter(tmp_path / "c.tif", GRID, 1, np.uint8, mask=True)
    out.write(np.zeros((300, 600), np.uint8), Window(0, 0, 600, 300), valid=valid)
    out._last_valid[:] = True  # as if the mask's last block had not reached the disk
    with pytest.raises(InputError, match="mask does not read back"):
        out.commit()
    assert os.listdir(tmp_path) == ["rgb.tif"]


@pytest.mark.parametrize("dtype,nodata", [(np.uint16, -1), (np.uint8, -9999), (np.uint8, 2.5),
                                          (np.int16, float("nan")), (np.float32, 1e300)])
def test_a_nodata_the_type_cannot_hold_is_refused_by_name_before_any_file(tmp_path, dtype,
                                                                          nodata):
    """rasterio refused such a value with its own ValueError (no parameter named) when it
    created the file."""
    from landlearn.core.geo.writer import nodata_fits

    assert not nodata_fits(nodata, dtype)
    with pytest.raises(InputError, match=re.escape(f"OUTPUT_CONFIDENCE: NoData {nodata} cannot "
                                                   f"be stored in a {np.dtype(dtype).name} raster")):
        GeoTiffWriter(str(tmp_path / "x.tif"), GRID, 1, dtype, nodata=nodata,
                      parameter="output_confidence")
    assert os.listdir(tmp_path) == []
    for dtype, nodata in ((np.uint8, 255), (np.int16, -32768), (np.float32, float("nan")),
                          (np.float32, -3.4e38), (np.float64, float("-inf"))):
        assert nodata_fits(nodata, dtype)


def test_an_unstyled_raster_over_an_old_class_map_drops_its_style_and_mask(tmp_path):
    """Mean colours written where a LandLearn class map was: its .qml (paletted) painted the
    new raster's values as classes in QGIS, and a .msk beside it masked the new pixels. A
    .qml LandLearn did not write (restyled in QGIS) stays."""
    path = str(tmp_path / "map.tif")
    _write(path)
    with open(path + ".msk", "w") as fh:
        fh.write("an old external mask")
    with GeoTiffWriter(path, GRID, 1, np.float32) as out:
        out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    assert sorted(os.listdir(tmp_path)) == ["map.tif"]
    _write(path)
    (tmp_path / "map.qml").write_text("<qgis>the user's own style</qgis>")
    with GeoTiffWriter(path, GRID, 1, np.float32) as out:
        out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    assert (tmp_path / "map.qml").read_text() == "<qgis>the user's own style</qgis>"


def test_an_unstyled_raster_keeps_the_style_of_another_raster_of_its_stem(tmp_path):
    """A class map.tif (styled: map.qml) and an unstyled map.tiff share the stem: the
    unstyled one written again removed map.qml, and the class map lost its palette
    (review, stop 69). A style whose stem another file shares stays."""
    _write(str(tmp_path / "map.tif"))
    qml = (tmp_path / "map.qml").read_text()
    for _ in range(2):  # the second replaces a raster at map.tiff
        with GeoTiffWriter(str(tmp_path / "map.tiff"), GRID, 1, np.float32) as out:
            out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    assert (tmp_path / "map.qml").read_text() == qml
    assert sorted(os.listdir(tmp_path)) == ["map.qml", "map.tif", "map.tif.aux.xml",
                                            "map.tiff"]
    # files of the stem that are no rasters (Segment's map.gpkg, a .prj) own no palette:
    # the old class map's style still goes when an unstyled raster replaces it
    os.remove(tmp_path / "map.tiff")
    (tmp_path / "map.gpkg").write_bytes(b"polygons")
    (tmp_path / "map.prj").write_text("a projection")
    with GeoTiffWriter(str(tmp_path / "map.tif"), GRID, 1, np.float32) as out:
        out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    assert not (tmp_path / "map.qml").exists()


def test_a_foreign_file_that_appears_at_the_output_during_the_run_is_kept(tmp_path):
    """The writer claimed OUTPUT when it opened; a file another program put there during a
    long run was replaced at the end. Claimed again before the rename."""
    path = tmp_path / "map.tif"
    out = GeoTiffWriter(str(path), GRID, 1, np.float32)
    out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    path.write_text("someone else's file")
    with pytest.raises(InputError, match="^OUTPUT: .*map.tif' exists and was not written by "
                       "LandLearn"):
        out.commit()
    assert path.read_text() == "someone else's file"
    assert sorted(os.listdir(tmp_path)) == ["map.tif"]


def test_int64_is_refused_where_rasterio_would_write_uint64(tmp_path):
    from landlearn.core.geo.writer import int64_written_as_uint64

    if not int64_written_as_uint64():
        pytest.skip("this rasterio writes int64 as GDAL Int64")
    with pytest.raises(InputError, match="^OUTPUT: this rasterio .* writes int64 rasters as "
                       "GDAL UInt64"):
        GeoTiffWriter(str(tmp_path / "x.tif"), GRID, 1, np.int64)
    assert os.listdir(tmp_path) == []
