"""geo.commit: a run's outputs replaced together, or none of them."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.writer import GeoTiffWriter
from synthetic import class_map_fixture, write_class_map

CLASSES, GRID = class_map_fixture()
_write = write_class_map


def test_an_output_that_cannot_be_replaced_changes_nothing_and_says_why(tmp_path,
                                                                         monkeypatch):
    """On Windows a map still open as a QGIS layer cannot be replaced: the old map keeps
    its own style and statistics, no temporary is left, and OUTPUT is named. Of several
    outputs published together, the others' temporaries go too."""
    from landlearn.core.geo import commit as w

    path = str(tmp_path / "map.tif")
    _write(path)
    before = {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)}
    real = os.replace

    def replace(src, dst):  # an open file on Windows: neither replaced nor moved
        if path in (src, dst):
            raise PermissionError(13, "The process cannot access the file")
        return real(src, dst)

    monkeypatch.setattr(w.os, "replace", replace)
    other = str(tmp_path / "conf.tif")
    first = GeoTiffWriter(path, GRID, 1, np.uint8, nodata=0, classes=CLASSES, parameter="output")
    second = GeoTiffWriter(other, GRID, 1, np.float32, parameter="output_confidence")
    for out in (first, second):
        out.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    with pytest.raises(InputError, match="^OUTPUT: .*map.tif' cannot be replaced .*open in "
                                         "another program"):
        w.commit_together([first, second])
    assert {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)} == before


def test_when_the_second_output_is_open_the_first_is_not_replaced_either(tmp_path,
                                                                         monkeypatch):
    """The class map renamed first, then the confidence raster (open in QGIS on Windows)
    failed: a new map stood beside the old confidence, and the error said nothing had
    changed. The old files are moved aside first now; one that cannot move stops the run
    before any output changes."""
    from landlearn.core.geo import commit as w

    path, conf = str(tmp_path / "map.tif"), str(tmp_path / "conf.tif")
    _write(path)
    with GeoTiffWriter(conf, GRID, 1, np.float32, parameter="output_confidence") as out:
        out.write(np.zeros((300, 600)), Window(0, 0, 600, 300))
    before = {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)}
    real = os.replace

    def replace(src, dst):
        if conf in (src, dst):
            raise PermissionError(13, "The process cannot access the file")
        return real(src, dst)

    monkeypatch.setattr(w.os, "replace", replace)
    first = GeoTiffWriter(path, GRID, 1, np.uint8, nodata=0, classes=CLASSES, parameter="output")
    second = GeoTiffWriter(conf, GRID, 1, np.float32, parameter="output_confidence")
    first.write(np.full((300, 600), 3, np.uint8), Window(0, 0, 600, 300))
    second.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    with pytest.raises(InputError, match="^OUTPUT_CONFIDENCE: .*conf.tif' cannot be replaced"):
        w.commit_together([first, second])
    assert {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)} == before
    monkeypatch.setattr(w.os, "replace", real)
    first = GeoTiffWriter(path, GRID, 1, np.uint8, nodata=0, classes=CLASSES, parameter="output")
    second = GeoTiffWriter(conf, GRID, 1, np.float32, parameter="output_confidence")
    first.write(np.full((300, 600), 3, np.uint8), Window(0, 0, 600, 300))
    second.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    w.commit_together([first, second])  # with nothing open, both replaced, nothing left over
    assert sorted(os.listdir(tmp_path)) == ["conf.tif", "map.qml", "map.tif", "map.tif.aux.xml"]
    with rasterio.open(conf) as ds:
        assert ds.read(1).min() == 1


def test_a_failure_after_the_first_output_is_in_place_puts_every_old_file_back(tmp_path,
                                                                              monkeypatch):
    """The second output failing after the first was published (a scanner holding its
    temporary on Windows): the old map came back without its statistics and style, beside
    the new run's. Every old file is back now, and no new one is left."""
    from landlearn.core.geo import commit as w

    path, conf = str(tmp_path / "map.tif"), str(tmp_path / "conf.tif")
    _write(path)
    with GeoTiffWriter(conf, GRID, 1, np.float32, parameter="output_confidence") as out:
        out.write(np.zeros((300, 600)), Window(0, 0, 600, 300))
    (tmp_path / "map.tif.ovr").write_text("the old map's overviews")
    before = {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)}
    assert sorted(before) == ["conf.tif", "map.qml", "map.tif", "map.tif.aux.xml",
                              "map.tif.ovr"]
    first = GeoTiffWriter(path, GRID, 1, np.uint8, nodata=0, classes=[CLASSES[0]],
                          parameter="output")
    second = GeoTiffWriter(conf, GRID, 1, np.float32, parameter="output_confidence")
    first.write(np.full((300, 600), 1, np.uint8), Window(0, 0, 600, 300))
    second.write(np.ones((300, 600)), Window(0, 0, 600, 300))

    def fail():
        raise InputError("output_confidence", "cannot take its name")

    monkeypatch.setattr(second, "publish", fail)
    with pytest.raises(InputError, match="^OUTPUT_CONFIDENCE: cannot take its name"):
        w.commit_together([first, second])
    assert {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)} == before


def test_a_finished_file_is_published_with_the_rasters_and_takes_its_sidecars(tmp_path):
    """Segment's GeoPackage goes in with its rasters: the old database's -wal (SQLite would
    replay it into the new one) goes with the old file; if a raster cannot be replaced,
    the old GeoPackage and its -wal stay as they were."""
    from osgeo import ogr

    from landlearn.core.geo import commit as w
    from landlearn.core.geo.outputs import GENERATOR, WRITER_TAG

    old = tmp_path / "p.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(old))
    ds.SetMetadataItem(WRITER_TAG, GENERATOR)  # an earlier run's polygons
    ds.CreateLayer("segments", None, ogr.wkbPolygon)
    ds = None
    (tmp_path / "p.gpkg-wal").write_bytes(b"old journal")
    tmp = tmp_path / ".p.gpkg.1234abcd.part.gpkg"
    tmp.write_bytes(b"new database")
    raster = GeoTiffWriter(str(tmp_path / "map.tif"), GRID, 1, np.uint8, parameter="output")
    raster.write(np.ones((300, 600)), Window(0, 0, 600, 300))
    w.commit_together([raster, w.FinishedFile(str(tmp), str(old), "output_polygons")])
    assert old.read_bytes() == b"new database"
    assert sorted(os.listdir(tmp_path)) == ["map.tif", "p.gpkg"]
