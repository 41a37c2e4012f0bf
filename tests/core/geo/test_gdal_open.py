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
