"""GDAL probing answers the same whether the host turned GDAL exceptions on (QGIS 3.40,
GDAL 4's default) or left them off (QGIS 3.22)."""

import os

import numpy as np
import pytest
import rasterio

from landlearn.core.geo.gdal_open import (
    open_dataset_or_none,
    quiet_gdal,
    vrt_sources,
    vrt_sources_nested,
)
from landlearn.core.geo.outputs import output_files
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import is_vector
from landlearn.core.labels.raster_labels import category_names
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster


@pytest.fixture(params=["exceptions off", "exceptions on"])
def gdal_mode(request):
    from osgeo import gdal

    was = gdal.GetUseExceptions()
    (gdal.UseExceptions if request.param == "exceptions on" else gdal.DontUseExceptions)()
    yield request.param
    (gdal.UseExceptions if was else gdal.DontUseExceptions)()


def test_a_failed_open_is_none_in_both_modes(gdal_mode, sample, tmp_path):
    from osgeo import gdal

    nc = sample / "nc_landsat7"
    assert open_dataset_or_none(str(tmp_path / "missing.tif")) is None
    assert open_dataset_or_none(str(nc / "strata.tif"), gdal.OF_VECTOR) is None
    assert open_dataset_or_none(str(nc / "strata.tif"), gdal.OF_RASTER).RasterXSize == 489
    assert open_dataset_or_none(str(nc / "landsat96_polygons.shp")).GetLayerCount() == 1
    assert gdal.GetUseExceptions() == (gdal_mode == "exceptions on")  # the host's mode is kept
    assert not is_vector(str(nc / "strata.tif")) and is_vector(str(nc / "landsat96_polygons.shp"))
    assert category_names(str(tmp_path / "missing.tif")) == {}
    vrt = tmp_path / "broken.vrt"
    vrt.write_text("<VRTDataset")
    assert output_files(str(vrt))[0] == str(vrt)  # no sources listed, no exception


def test_a_vrts_sources_leave_out_the_vrt_and_its_own_sidecars(gdal_mode, sample, tmp_path):
    """What Classify Raster Collection reads as items and a damaged input's message names:
    the files behind a VRT, not the VRT, its .aux.xml or overviews; None if it cannot open."""
    from osgeo import gdal

    nc = sample / "nc_landsat7"
    vrt = tmp_path / "m.vrt"
    gdal.BuildVRT(str(vrt), [str(nc / "strata.tif")])
    (tmp_path / "m.vrt.aux.xml").write_text("<PAMDataset/>")
    assert [p.replace("\\", "/") for p in vrt_sources(str(vrt))] == [str(nc / "strata.tif")]
    (tmp_path / "broken.vrt").write_text("<VRTDataset")
    assert vrt_sources(str(tmp_path / "broken.vrt")) is None
    assert vrt_sources(str(tmp_path / "missing.vrt")) is None


def test_a_vrt_of_vrts_lists_every_level_and_a_missing_tile_once(gdal_mode, sample, tmp_path):
    """A mosaic of per-year mosaics: the tile two levels down is listed (a missing one
    too, for the damaged-input message), each file once, and a VRT naming its parent is
    not followed round for ever; the depth limit holds."""
    import shutil

    from osgeo import gdal

    tile, gone = tmp_path / "a.tif", tmp_path / "b.tif"
    shutil.copy(sample / "nc_landsat7" / "landsat_multiband.tif", tile)
    shutil.copy(tile, gone)
    gdal.BuildVRT(str(tmp_path / "y1.vrt"), [str(tile), str(gone)])
    gdal.BuildVRT(str(tmp_path / "y2.vrt"), [str(tile)])
    gdal.BuildVRT(str(tmp_path / "all.vrt"), [str(tmp_path / "y1.vrt"), str(tmp_path / "y2.vrt")])
    gone.unlink()
    names = [os.path.basename(p) for p in vrt_sources_nested(str(tmp_path / "all.vrt"))]
    assert sorted(names) == ["a.tif", "b.tif", "y1.vrt", "y2.vrt"]
    assert [os.path.basename(p) for p in vrt_sources(str(tmp_path / "all.vrt"))] \
        == ["y1.vrt", "y2.vrt"]  # the items of a collection stay one level
    assert [os.path.basename(p) for p in vrt_sources_nested(str(tmp_path / "all.vrt"),
                                                            max_depth=1)] == ["y1.vrt", "y2.vrt"]
    # a VRT that names its parent (GDAL refuses to read it; the listing must still end)
    loop = (tmp_path / "y2.vrt").read_text().replace(str(tile), str(tmp_path / "all.vrt"))
    (tmp_path / "y2.vrt").write_text(loop)
    names = [os.path.basename(p) for p in vrt_sources_nested(str(tmp_path / "all.vrt"))]
    assert len(names) == len(set(names)) and "all.vrt" not in names


def test_labels_are_rasterized_the_same_in_both_modes(gdal_mode, sample, tmp_path):
    """The whole label path (vector probe, OGR layer, GeoTIFF commit and its read-back)."""
    s2 = sample / "s2_osm_sparse"
    out = tmp_path / "labels.tif"
    write_label_raster(LabelRasterConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"),
                                         LabelConfig(str(s2 / "osm_landuse_subset.gpkg"),
                                                     class_field="fclass"), str(out)))
    with rasterio.open(out) as ds:
        counts = np.bincount(ds.read(1).ravel())
    assert counts[0] > 0 and counts[1:].sum() > 0 and len(category_names(str(out))) >= 2


def test_quiet_gdal_hides_errors_and_restores_the_handler(tmp_path):
    from osgeo import gdal

    seen = []
    was = gdal.GetUseExceptions()
    gdal.DontUseExceptions()  # with exceptions on, GDAL 3.10 raises instead of calling handlers
    gdal.PushErrorHandler(lambda level, number, message: seen.append(message))
    try:
        with quiet_gdal():
            assert gdal.Open(str(tmp_path / "missing.tif")) is None
        assert seen == []
        assert gdal.Open(str(tmp_path / "missing.tif")) is None  # the caller's handler is back
        assert len(seen) == 1 and "missing.tif" in seen[0]
    finally:
        gdal.PopErrorHandler()
        (gdal.UseExceptions if was else gdal.DontUseExceptions)()


def test_a_vrts_missing_source_is_listed_too(sample, tmp_path):
    """GDAL lists only the sources that exist: a mosaic VRT whose tile was deleted read as a
    mosaic with a hole (Classify Raster Collection's LIST_FILE dropped the item unsaid;
    the damaged-input message named no input). The missing one is listed after the rest,
    relative paths resolved against the VRT's folder (GDAL 3.10 lists it itself, in its
    place; 3.6 leaves it out and it comes after the rest)."""
    import shutil

    from osgeo import gdal

    nc = sample / "nc_landsat7"
    for name in ("a.tif", "b.tif"):
        shutil.copy(nc / "strata.tif", tmp_path / name)
    vrt = tmp_path / "m.vrt"
    gdal.BuildVRT(str(vrt), [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")])
    text = vrt.read_text()
    assert 'relativeToVRT="1"' in text  # gdalbuildvrt writes paths relative to the VRT
    (tmp_path / "a.tif").unlink()
    listed = vrt_sources(str(vrt))
    assert sorted(os.path.basename(p) for p in listed) == ["a.tif", "b.tif"]
    assert os.path.join(str(tmp_path), "a.tif") in [os.path.abspath(p) for p in listed]


def test_a_vrt_declaring_entities_is_not_expanded(sample, tmp_path):
    """A VRT whose document type declares entities (GDAL's never do) could expand a small
    file into gigabytes while its missing sources were looked for (review, stop 68):
    that reading stops at the declaration; GDAL's own list is what is returned."""
    from osgeo import gdal

    vrt = tmp_path / "m.vrt"
    gdal.BuildVRT(str(vrt), [str(sample / "nc_landsat7" / "strata.tif")])
    text = vrt.read_text()
    # an entity referenced in the sources' place: expanded, it would name a file
    (tmp_path / "bomb.vrt").write_text(
        '<!DOCTYPE VRTDataset [<!ENTITY a "gone.tif">]>\n'
        + text.replace(str(sample / "nc_landsat7" / "strata.tif"), "&a;"))
    from landlearn.core.geo import gdal_open

    assert gdal_open._named_sources(str(tmp_path / "bomb.vrt")) == []
    missing = text.replace("strata.tif", "gone.tif")
    (tmp_path / "gone.vrt").write_text(missing)
    assert [os.path.basename(p) for p in gdal_open._named_sources(str(tmp_path / "gone.vrt"))] \
        == ["gone.tif"]


@pytest.fixture
def qgis_shape_encoding():
    """GDAL as QGIS leaves it for its whole process once it opens a shapefile: no recoding of
    any shapefile's text (SHAPE_ENCODING '')."""
    from osgeo import gdal

    before = gdal.GetConfigOption("SHAPE_ENCODING")
    gdal.SetConfigOption("SHAPE_ENCODING", "")
    yield
    gdal.SetConfigOption("SHAPE_ENCODING", before)


def _texts(path):
    ds = open_dataset_or_none(path)
    return [f.GetField("kind") for f in ds.GetLayer(0)]


@pytest.mark.parametrize("declared", ["cpg", "ldid"])
def test_a_shapefiles_declared_encoding_is_read_where_qgis_turned_recoding_off(
        qgis_shape_encoding, declared, tmp_path):
    """In a PyQGIS script (or any process where QGIS had opened a shapefile) GDAL recoded no
    shapefile: a Latin-1 'Forêt' with a .cpg saying so came as bytes that are not UTF-8,
    and Rasterize Labels refused it, telling the user to write the .cpg they had. Read as
    GDAL reads it by default: the .cpg, else the .dbf's code page byte."""
    from synthetic import latin1_shapefile

    path = latin1_shapefile(str(tmp_path), [("Forêt", (0, 0, 10, 10)), ("Pré", (10, 0, 20, 10))])
    if declared == "cpg":
        with open(tmp_path / "latin1.cpg", "w") as f:
            f.write("windows-1252")
    else:
        with open(tmp_path / "latin1.dbf", "r+b") as f:
            f.seek(29)
            f.write(bytes([0x57]))  # LDID 87: ISO-8859-1
    assert _texts(path) == ["Forêt", "Pré"]


def test_a_shapefile_declaring_nothing_and_other_settings_are_left_as_they_are(
        qgis_shape_encoding, tmp_path):
    """Nothing declared: the bytes as they are (the labels' own check names the fix); a
    SHAPE_ENCODING the user set to a code page is theirs, and wins."""
    from osgeo import gdal

    from synthetic import latin1_shapefile

    path = latin1_shapefile(str(tmp_path), [("Forêt", (0, 0, 10, 10))])
    as_bytes = ["For\udceat"]  # the Latin-1 byte that is no UTF-8, as Python hands it over
    assert _texts(path) == as_bytes
    with open(tmp_path / "latin1.cpg", "w") as f:
        f.write("UTF-8")  # wrong, and said: read as said
    assert _texts(path) == as_bytes
    gdal.SetConfigOption("SHAPE_ENCODING", "ISO-8859-1")
    assert _texts(path) == ["Forêt"]


def test_a_folder_of_shapefiles_takes_the_encoding_its_layers_agree_on(qgis_shape_encoding,
                                                                      tmp_path):
    """A folder opened as one source takes one encoding for all its layers: the one they
    declare alike; where they differ none is applied (the labels' check names the fix)."""
    import shutil

    from synthetic import latin1_shapefile

    path = latin1_shapefile(str(tmp_path), [("Forêt", (0, 0, 10, 10))])
    for part in ("shp", "shx", "dbf", "prj"):
        shutil.copy(tmp_path / f"latin1.{part}", tmp_path / f"other.{part}")
    for name in ("latin1", "other"):
        (tmp_path / f"{name}.cpg").write_text("ISO-8859-1")
    os.remove(tmp_path / "utf8.gpkg")
    folder = os.path.dirname(path)

    def texts():
        ds = open_dataset_or_none(folder)
        return sorted(f.GetField("kind") for i in range(ds.GetLayerCount())
                      for f in ds.GetLayer(i))
    assert texts() == ["Forêt", "Forêt"]
    (tmp_path / "other.cpg").write_text("UTF-8")
    assert texts() == ["For\udceat", "For\udceat"]
