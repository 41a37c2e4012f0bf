"""segment.output from hand-made local labels: final ids, mean colours, NoData and polygons."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.geo.grid import Grid
from landlearn.core.progress import NullProgress
from landlearn.core.segment.output import write_outputs
from landlearn.core.segment.segment_mean_shift import SegmentConfig
from synthetic import write


def _case(tmp_path):
    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 8, 6)
    local = np.array([[0, 0, 1, 1, 1, 2, 2, 2],
                      [0, 0, 1, 1, 1, 2, 2, 2],
                      [0, 0, -1, -1, 3, 3, 2, 2],
                      [0, 0, -1, -1, 3, 3, 4, 4],
                      [5, 5, 5, 5, 3, 3, 4, 4],
                      [5, 5, 5, 5, 3, 3, 4, 4]], dtype=np.int64)
    path = tmp_path / "labels.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=6, count=1, dtype="int64",
                       crs=grid.crs, transform=grid.transform) as ds:
        ds.write(local[None])
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 1000, (2, 6, 8)).astype(np.float64)
    sel = local >= 0
    n_local = 6
    stats = SimpleNamespace(
        count=np.bincount(local[sel], minlength=n_local).astype(np.float64),
        raw_sums=np.stack([np.bincount(local[sel], raw[b][sel], n_local) for b in range(2)], 1))
    final = np.array([1, 2, 3, 2, 4, 1])  # local 3 joined 1, local 5 joined 0
    return grid, str(path), local, raw, stats, final


def test_ids_and_mean_colours_follow_the_final_table(tmp_path):
    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output=str(tmp_path / "mean.tif"),
                           output_segment_ids=str(tmp_path / "ids.tif"))
    out = write_outputs(config, grid, labels, final, 4, stats, ["red", "nir"], NullProgress(),
                        np.dtype(np.uint16), 65535)
    assert out == {"segments": 4}
    expected_ids = np.where(local >= 0, final[local], 0)
    with rasterio.open(tmp_path / "ids.tif") as ds:
        assert ds.dtypes[0] == "uint32" and ds.nodata == 0 and ds.transform == grid.transform
        np.testing.assert_array_equal(ds.read(1), expected_ids)
    with rasterio.open(tmp_path / "mean.tif") as ds:
        assert ds.dtypes[0] == "uint16" and ds.nodata == 65535 and ds.descriptions == ("red", "nir")
        mean = ds.read()
    for sid in range(1, 5):
        where = expected_ids == sid
        np.testing.assert_array_equal(mean[:, where],
                                      np.round(raw[:, where].mean(axis=1))[:, None].repeat(
                                          where.sum(), 1))
    assert np.all(mean[:, expected_ids == 0] == 65535)


@pytest.mark.parametrize("dtype,nodata,moved", [(np.uint8, 0, 1), (np.uint8, 255, 254),
                                                 (np.float32, 0.0, np.nextafter(
                                                     np.float32(0), np.float32(1)))])
def test_a_mean_colour_on_nodata_is_moved_off_it(tmp_path, dtype, nodata, moved):
    """A dark segment whose first band rounds to NoData was a hole in QGIS and GDAL (a
    pixel NoData on any one band is NoData there), though its other band had data."""
    grid, labels, local, raw, stats, final = _case(tmp_path)
    stats.raw_sums[:, 0] = stats.count * nodata  # every segment's first band on NoData
    stats.raw_sums[:, 1] = stats.count * 7
    config = SegmentConfig("unused.tif", output=str(tmp_path / "mean.tif"))
    write_outputs(config, grid, labels, final, 4, stats, ["b1", "b2"], NullProgress(),
                  np.dtype(dtype), nodata)
    with rasterio.open(tmp_path / "mean.tif") as ds:
        mean = ds.read()
        masks = ds.read_masks()
    seg = local >= 0
    assert np.all(mean[0][seg] == np.asarray(moved, dtype)) and np.all(mean[1][seg] == 7)
    assert np.all(masks[:, seg] == 255) and np.all(masks[:, ~seg] == 0)
    assert np.all(mean[:, ~seg] == nodata)


def test_polygons_carry_id_pixel_count_and_band_means(tmp_path):
    from osgeo import ogr

    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output_polygons=str(tmp_path / "segments.gpkg"))
    out = write_outputs(config, grid, labels, final, 4, stats, ["red", "nir"], NullProgress(),
                        np.dtype(np.uint16), None)
    assert out["polygons"] == str(tmp_path / "segments.gpkg")
    ids = np.where(local >= 0, final[local], 0)
    ds = ogr.Open(out["polygons"])
    feats = list(ds.GetLayer(0))
    assert sorted(f.GetField("id") for f in feats) == [1, 2, 3, 4]
    for f in feats:
        sel = ids == f.GetField("id")
        assert f.GetField("pixels") == int(sel.sum())
        assert f.GetField("mean_red") == pytest.approx(raw[0][sel].mean())
        assert f.GetField("mean_nir") == pytest.approx(raw[1][sel].mean())
        # each polygon covers its segment's pixels (10 m cells)
        assert f.GetGeometryRef().GetArea() == pytest.approx(100.0 * sel.sum())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not (tmp_path / "polygon_ids.tif").exists()  # the ids on disk, then removed


def test_a_cancel_while_polygonizing_is_heard_and_leaves_nothing(tmp_path):
    """The ids were polygonized in one GDAL call without a callback: a cancel waited for
    the whole raster. (The ids went to /vsimem, in memory however large the raster.)"""
    from landlearn.core.errors import Cancelled
    from landlearn.core.segment.output import write_polygons

    grid, labels, local, raw, stats, final = _case(tmp_path)

    class CancelInPolygonize(NullProgress):
        asked = 0

        def is_canceled(self):
            self.asked += 1
            return True

    progress = CancelInPolygonize()
    lut = np.concatenate([[0], final]).astype(np.uint32)
    with pytest.raises(Cancelled):
        write_polygons(str(tmp_path / "segments.gpkg"), grid, labels,
                       lambda local, _w: lut[local + 1], stats.count, np.zeros((4, 2)),
                       ["a", "b"], progress=progress)
    assert progress.asked >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]


def test_output_formats_are_refused_before_any_work(tmp_path, monkeypatch):
    """A .shp for the polygons (it became a .gpkg QGIS did not look for) or an .img for a
    raster (refused only after all the mean shift): named before anything is read."""
    from landlearn.core.errors import InputError
    from landlearn.core.segment import segment

    image = write(tmp_path / "in.tif", np.ones((3, 16, 16), np.uint8))
    for kw, message in ((dict(output_polygons=str(tmp_path / "p.shp")),
                         "^OUTPUT_POLYGONS: .* not a GeoPackage path"),
                        (dict(output=str(tmp_path / "s.img")), "^OUTPUT: .* not a GeoTIFF"),
                        (dict(output_segment_ids=str(tmp_path / "i.sdat")),
                         "^OUTPUT_SEGMENT_IDS: .* not a GeoTIFF")):
        with pytest.raises(InputError, match=message):
            segment(SegmentConfig(image, **kw))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_more_segments_than_uint32_ids_hold_are_refused(tmp_path):
    from landlearn.core.errors import InputError

    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output_segment_ids=str(tmp_path / "ids.tif"))
    with pytest.raises(InputError, match="^MIN_SEGMENT_SIZE: 4,294,967,296 segments do not fit"):
        write_outputs(config, grid, labels, final, 2 ** 32, stats, ["red", "nir"],
                      NullProgress(), np.dtype(np.uint16), None)
    assert not (tmp_path / "ids.tif").exists()


def test_polygons_that_fail_leave_the_rasters_as_they_were(tmp_path, monkeypatch):
    """The polygons were written after the rasters had replaced the earlier ones: a
    failure there left new rasters beside old polygons. They are made first now."""
    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output_segment_ids=str(tmp_path / "ids.tif"),
                           output_polygons=str(tmp_path / "p.gpkg"))
    write_outputs(config, grid, labels, final, 4, stats, ["red", "nir"], NullProgress(),
                  np.dtype(np.uint16), None)
    before = (tmp_path / "ids.tif").read_bytes()

    def broken(*args, **kw):
        raise OSError("Polygonize failed")

    from osgeo import gdal

    monkeypatch.setattr(gdal, "Polygonize", broken)
    with pytest.raises(OSError, match="Polygonize failed"):
        write_outputs(config, grid, labels, 5 - final, 4, stats, ["red", "nir"],
                      NullProgress(), np.dtype(np.uint16), None)
    assert (tmp_path / "ids.tif").read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_polygons_that_cannot_replace_the_old_ones_say_why_and_leave_no_temporary(tmp_path,
                                                                                monkeypatch):
    """On Windows the old GeoPackage, open as a QGIS layer, cannot be replaced: the message
    names OUTPUT_POLYGONS; the rasters published with it are taken back (all outputs or
    none), and no temporary is left."""
    from landlearn.core.errors import InputError
    from landlearn.core.segment import output

    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output_segment_ids=str(tmp_path / "ids.tif"),
                           output_polygons=str(tmp_path / "p.gpkg"))
    real = os.replace

    def locked(src, dst):
        if str(dst).endswith("p.gpkg"):
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", locked)
    with pytest.raises(InputError, match="^OUTPUT_POLYGONS: .*p.gpkg' cannot be replaced "
                       r"\(Permission denied\): it may be open in another program .*choose "
                       "another OUTPUT_POLYGONS; no output of the run was changed$"):
        write_outputs(config, grid, labels, final, 4, stats, ["red", "nir"], NullProgress(),
                      np.dtype(np.uint16), None)
    assert sorted(os.listdir(tmp_path)) == ["labels.tif"]


def test_an_input_nodata_its_type_cannot_hold_is_no_nodata_and_nothing_is_left(tmp_path,
                                                                               monkeypatch):
    """A uint16 input whose NoData says -1 (GDAL lets it be set): no pixel can equal it.
    rasterio refused the value when the mean-colour file was created, after the whole mean
    shift, with a message naming no parameter, and the ids' writer, opened before, left
    its hidden temporary behind. The output has no NoData value now, its pixels outside
    the segments masked, and a writer refused later aborts the ones opened before it."""
    from landlearn.core.errors import InputError
    from landlearn.core.geo import writer as writer_module

    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output=str(tmp_path / "mean.tif"),
                           output_segment_ids=str(tmp_path / "ids.tif"))
    write_outputs(config, grid, labels, final, 4, stats, ["b1", "b2"], NullProgress(),
                  np.dtype(np.uint16), -1.0, masked=True)
    with rasterio.open(tmp_path / "mean.tif") as ds:
        assert ds.nodata is None
        masks = ds.read_masks()
    assert np.all(masks[:, local >= 0] == 255) and np.all(masks[:, local < 0] == 0)
    before = sorted(os.listdir(tmp_path))

    class Refusing(writer_module.GeoTiffWriter):
        def __init__(self, path, *a, **kw):
            if kw.get("parameter") == "output":
                raise InputError("output", "refused")
            super().__init__(path, *a, **kw)

    monkeypatch.setattr("landlearn.core.segment.output.GeoTiffWriter", Refusing)
    with pytest.raises(InputError, match="^OUTPUT: refused"):
        write_outputs(config, grid, labels, final, 4, stats, ["b1", "b2"], NullProgress(),
                      np.dtype(np.uint16), 0)
    assert sorted(os.listdir(tmp_path)) == before  # the ids' temporary went with the error


def test_an_int64_raster_gets_mean_colours_that_read_back_negative(tmp_path):
    """rasterio 1.3 (Debian 12) writes int64 as GDAL UInt64: an Int64 input's negative
    mean colours read back as about 1.8e19 elsewhere. Such a rasterio gets float64 mean
    colours, exact to 2**53; rasterio 1.4 writes Int64."""
    from landlearn.core.geo.writer import int64_written_as_uint64

    grid, labels, local, raw, stats, final = _case(tmp_path)
    stats.raw_sums[:, 0] = -stats.count * 5  # every segment's first band: -5
    config = SegmentConfig("unused.tif", output=str(tmp_path / "mean.tif"))
    write_outputs(config, grid, labels, final, 4, stats, ["b1", "b2"], NullProgress(),
                  np.dtype(np.int64), None)
    from osgeo import gdal

    ds = gdal.Open(str(tmp_path / "mean.tif"))
    kind = gdal.GetDataTypeName(ds.GetRasterBand(1).DataType)
    assert kind == ("Float64" if int64_written_as_uint64() else "Int64")
    assert np.all(ds.GetRasterBand(1).ReadAsArray()[local >= 0] == -5)


def test_bands_of_one_name_get_fields_of_their_own(tmp_path):
    """GeoPackage compares field names ignoring case: a second "mean_red" failed to be
    made and its means went into the first band's field."""
    from osgeo import ogr

    from landlearn.core.segment.output import field_names

    assert field_names(["red", "Red", "x" * 70, "x" * 70]) == [
        "mean_red", "mean_Red_2", "mean_" + "x" * 55, "mean_" + "x" * 53 + "_4"]
    # a renamed field that is another band's name is renamed again
    names = field_names(["B_3", "B", "b"])
    assert len({n.casefold() for n in names}) == 3 and names[:2] == ["mean_B_3", "mean_B"]
    grid, labels, local, raw, stats, final = _case(tmp_path)
    config = SegmentConfig("unused.tif", output_polygons=str(tmp_path / "segments.gpkg"))
    write_outputs(config, grid, labels, final, 4, stats, ["red", "RED"], NullProgress(),
                  np.dtype(np.uint16), None)
    ids = np.where(local >= 0, final[local], 0)
    ds = ogr.Open(str(tmp_path / "segments.gpkg"))
    for f in ds.GetLayer(0):
        sel = ids == f.GetField("id")
        assert f.GetField("mean_red") == pytest.approx(raw[0][sel].mean())
        assert f.GetField("mean_RED_2") == pytest.approx(raw[1][sel].mean())


def test_polygons_the_user_changed_are_not_replaced(tmp_path):
    """Segments labelled by hand in a new field, or a layer of training polygons saved
    into the GeoPackage: a second run into it refuses (the file still carries LandLearn's
    mark); as written, it is replaced."""
    from osgeo import ogr

    from landlearn.core.errors import InputError
    from landlearn.core.geo.outputs import LAYOUT_TAG

    grid, labels, local, raw, stats, final = _case(tmp_path)
    path = str(tmp_path / "segments.gpkg")
    config = SegmentConfig("unused.tif", output_polygons=path)

    def run():
        return write_outputs(config, grid, labels, final, 4, stats, ["red", "nir"],
                             NullProgress(), np.dtype(np.uint16), None)

    run()
    run()  # as written: LandLearn's to replace
    ds = ogr.Open(path, 1)
    ds.CreateLayer("layer_styles", None, ogr.wkbNone)  # QGIS: 'Save as Default' style
    ds = None
    run()  # QGIS's own table is no change of the polygons
    ds = ogr.Open(path, 1)
    ds.GetLayer(0).CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    ds = None
    with pytest.raises(InputError, match="^OUTPUT_POLYGONS: .*segments.gpkg' exists and was "
                       "not written by LandLearn"):
        run()
    ds = ogr.Open(path, 1)
    assert ds.GetLayer(0).GetLayerDefn().GetFieldIndex("class") >= 0  # untouched
    ds.GetLayer(0).DeleteField(ds.GetLayer(0).GetLayerDefn().GetFieldIndex("class"))
    ds.CreateLayer("training", None, ogr.wkbPolygon)
    ds = None
    with pytest.raises(InputError, match="exists and was not written by LandLearn"):
        run()
    ds = ogr.Open(path, 1)
    ds.DeleteLayer(1)
    ds = None
    run()  # both taken away again: as LandLearn wrote it
    ds = ogr.Open(path)
    assert ds.GetMetadataItem(LAYOUT_TAG) is not None
