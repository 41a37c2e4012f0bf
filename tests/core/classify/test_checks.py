"""Does this raster fit this model? classify.checks on small rasters, and through Classify Pixels."""

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.checks import (
    check_bands,
    check_cell_size,
    check_scaling,
    check_values,
)
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.model_package.info import ModelInfo
from landlearn.core.progress import RecordingProgress
from small_models import nc_unet
from synthetic import write


def _info(**kw) -> ModelInfo:
    base = dict(kind="deep", class_values=[1, 2], class_names=["a", "b"],
                class_colors=[(1, 2, 3), (4, 5, 6)], band_names=["red", "green", "nir"],
                source_bands=[1, 2, 3], source_band_count=3, in_channels=3,
                mean=np.zeros(3, np.float32), std=np.ones(3, np.float32), dtype="uint16",
                cell_size=(10.0, 10.0), crs_units="metre", tile=64, padding=16,
                value_mean=np.array([100.0, 200.0, 300.0]), value_std=np.array([10.0, 10.0, 10.0]))
    base.update(kw)
    return ModelInfo(**base)


def _raster(tmp_path, names=("red", "green", "nir"), values=(100, 200, 300), dtype=np.uint16,
            **kw):
    data = np.stack([np.full((20, 30), v) for v in values])
    path = write(tmp_path / "r.tif", data.astype(dtype), **kw)
    with rasterio.open(path, "r+") as ds:
        for i, name in enumerate(names, start=1):
            ds.set_band_description(i, name)
    return path


def test_band_count_is_an_error_and_band_names_a_warning(tmp_path):
    path = _raster(tmp_path)
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_bands(src, _info(), progress)
        assert progress.warnings == []
        check_bands(src, _info(band_names=["red", "nir", "green"]), progress)
        assert len(progress.warnings) == 1
        assert "Band names differ" in progress.warnings[0] and "['red', 'green', 'nir']" in \
            progress.warnings[0]
        # generic names (Band_1, band 2, empty) say nothing about the order
        check_bands(src, _info(band_names=["Band_1", "band 2", ""]), progress)
        assert len(progress.warnings) == 1
    with RasterSource(path, bands=(1, 2)) as src, \
            pytest.raises(InputError, match="^BANDS: the model was trained on 3 bands .* but 2 are"):
        check_bands(src, _info(), progress)


def test_generic_band_names_read_in_another_order_are_warned_about(tmp_path):
    """Band_1..Band_3 tell nothing; BANDS 3,2,1 of a raster laid out as the training one (as
    many bands) classified without a word (a qgis_process sweep, stop 67)."""
    path = _raster(tmp_path, names=("", "", ""))
    generic = dict(band_names=["Band_1", "Band_2", "Band_3"])
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_bands(src, _info(**generic), progress)
    with RasterSource(path, bands=(3, 2, 1)) as src:
        check_bands(src, _info(source_band_count=5, **generic), progress)  # another layout
        assert progress.warnings == []
        check_bands(src, _info(**generic), progress)
    assert len(progress.warnings) == 1 and progress.warnings[0].startswith(
        "BANDS [3, 2, 1] differ from the bands the model was trained on ([1, 2, 3] of a "
        "3-band raster")


def test_a_bands_own_nodata_does_not_count_in_its_mean(tmp_path):
    """One band's -99999 hole where the others hold data: its mean read -2862 against 66,
    'far' (a qgis_process sweep, stop 67)."""
    data = np.stack([np.full((20, 30), v, np.float32) for v in (100, 200, 300)])
    data[1, :10] = -99999
    path = write(tmp_path / "hole.tif", data, nodata=-99999)
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_values(src, _info(dtype="float32"), progress)
    assert progress.warnings == []


def test_the_training_nodata_in_a_raster_that_declares_none_is_warned_about(tmp_path):
    """A copy of the training raster that lost its NoData tag: its -99999 fill (15% of the
    image) was classified as land cover, and the only word was 'band means are far'
    (deep-learning sweep, stop 69). Said with the share and the fix; not where the raster
    declares a NoData, nor where the package records none."""
    data = np.stack([np.full((20, 30), v, np.float32) for v in (100, 200, 300)])
    data[:, :3] = -99999  # 3 of 20 rows, every band
    bare = write(tmp_path / "bare.tif", data)
    progress = RecordingProgress()
    with RasterSource(bare) as src:
        check_values(src, _info(dtype="float32", nodata=-99999.0), progress)
    said = [w for w in progress.warnings if "training data's NoData" in w]
    assert said == ["15.0% of the sampled pixels hold -99999 in every band, the training "
                    "data's NoData, but the raster declares no NoData: they are classified as "
                    "land cover, and their neighbours with them as context. Set the raster's "
                    "NoData to -99999 (Layer Properties > Transparency, or gdal_edit -a_nodata "
                    "-99999) and run again."]
    quiet = RecordingProgress()
    with RasterSource(write(tmp_path / "tagged.tif", data, nodata=-99999)) as src:
        check_values(src, _info(dtype="float32", nodata=-99999.0), quiet)
    with RasterSource(bare) as src:
        check_values(src, _info(dtype="float32"), quiet)
    assert not [w for w in quiet.warnings if "training data's NoData" in w]


def test_values_far_from_training_and_another_dtype_are_warned_about(tmp_path):
    path = _raster(tmp_path)
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_values(src, _info(), progress)
        assert progress.warnings == []  # same dtype, means within 3 std
        check_values(src, _info(dtype="float32", value_mean=np.array([100.0, 200.0, 380.0])),
                     progress)
    assert len(progress.warnings) == 2
    assert "The raster is uint16 but the model was trained on float32" in progress.warnings[0]
    far = progress.warnings[1]
    # only the band that is off is named, with both means
    assert "band means are far" in far and "nir: 300 vs 380" in far and "red" not in far


def test_a_raster_of_other_scale_or_offset_than_training_is_warned_about(tmp_path):
    """Sentinel-2 L2A from processing baseline 04.00 on declares an offset of -1000: its
    stored values are 1000 above an older scene's for the same reflectance, and a model
    trained on one silently shifted the other (the 3 sd value check can miss it)."""
    from osgeo import gdal

    path = _raster(tmp_path)
    ds = gdal.Open(path, gdal.GA_Update)
    for b in (1, 2, 3):
        ds.GetRasterBand(b).SetScale(0.0001)
        ds.GetRasterBand(b).SetOffset(-1000)
    ds = None
    with RasterSource(path) as src:
        assert src.scaling == [[0.0001, -1000.0]] * 3
        progress = RecordingProgress()
        check_scaling(src, _info(scaling_known=True), progress)
        assert len(progress.warnings) == 1 and progress.warnings[0].startswith(
            "The raster declares scale and offset [[0.0001, -1000.0], ")
        assert "training raster none (1, 0)" in progress.warnings[0]
        progress = RecordingProgress()
        check_scaling(src, _info(scaling_known=True, source_scaling=[[0.0001, -1000.0]] * 3),
                      progress)
        check_scaling(src, _info(), progress)  # a package from before: unknown, not said
        assert progress.warnings == []


def test_values_of_an_all_nodata_raster_are_not_compared(tmp_path):
    path = write(tmp_path / "empty.tif", np.zeros((3, 8, 8), np.uint16), nodata=0)
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_values(src, _info(), progress)
    assert progress.warnings == []


def test_cell_size_and_crs_units(tmp_path):
    path = _raster(tmp_path)  # 10 m cells in UTM
    progress = RecordingProgress()
    with RasterSource(path) as src:
        for ok in (_info(), _info(cell_size=(12.0, 12.0)), _info(cell_size=None)):
            check_cell_size(src, ok, progress)
        assert progress.warnings == []
        check_cell_size(src, _info(cell_size=(30.0, 30.0)), progress)
        check_cell_size(src, _info(cell_size=(2.0, 2.0)), progress)
        check_cell_size(src, _info(cell_size=(0.0001, 0.0001), crs_units="degree"), progress)
    coarse, fine, units = progress.warnings
    assert "cell size (10) is 0.33x the model's (30)" in coarse and "look larger" in coarse
    assert "CELL_SIZE=30" in coarse
    assert "5.00x the model's (2)" in fine and "look smaller" in fine and "CELL_SIZE=2" in fine
    assert "CRS units (metre) differ from the training data's (degree)" in units


def test_an_object_model_counting_pixels_is_warned_of_any_other_cell_size(tmp_path):
    """COUNT reads 1/ratio^2 of training's for the same object: a 12 m raster under a
    10 m model (1.2x, under the 1.5x warning of other models) is said."""
    path = _raster(tmp_path)  # 10 m cells
    progress = RecordingProgress()
    with RasterSource(path) as src:
        check_cell_size(src, _info(counts_pixels=True, cell_size=(10.2, 10.2)), progress)
        assert progress.warnings == []  # within 5%
        check_cell_size(src, _info(counts_pixels=True, cell_size=(12.0, 12.0)), progress)
        check_cell_size(src, _info(cell_size=(12.0, 12.0)), progress)  # no COUNT: fine
    (said,) = progress.warnings
    assert "0.83x the model's (12)" in said and "pixel COUNT, which then reads 1.44x" in said
    assert "CELL_SIZE=12" in said


def test_values_far_from_the_training_samples_are_warned_about(sample, rf, tmp_path):
    out, _, _ = rf
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    scaled = tmp_path / "x100.tif"
    with rasterio.open(image) as src:
        data = src.read()
        profile = dict(src.profile)
    data = np.where(data == src.nodata, data, data * 100)  # reflectance x 100, say
    with rasterio.open(scaled, "w", **profile) as dst:
        dst.write(data)
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(str(scaled), str(out), str(tmp_path / "m.tif")), progress)
    assert len(progress.warnings) == 1 and "band means are far" in progress.warnings[0]
    assert "Band_1: 8057 vs 83.02" in progress.warnings[0]  # against the samples, not 0


@pytest.mark.heavy
def test_naip_with_a_four_band_model_warns_about_scale(shared, sample, tmp_path):
    pytest.importorskip("segmentation_models_pytorch")
    model4 = nc_unet(tmp_path, epochs=3, bands=(1, 2, 3, 4))
    naip = str(shared / "naip_rgbn" / "m_4709963_se_14_1_20200831.tif")
    progress = RecordingProgress()
    out = tmp_path / "naip.tif"
    with pytest.raises(InputError, match="^BANDS: the model expects bands .1, 2, 3, 4. of a "
                       "5-band raster, but .* has 4 bands"):
        classify_pixels(ClassifyConfig(naip, model4, str(out), device="cpu"))
    classify_pixels(ClassifyConfig(naip, model4, str(out), bands=(1, 2, 3, 4), device="cpu",
                                   tile_size=256, test_time_augmentation=True), progress)
    with rasterio.open(out) as ds, rasterio.open(naip) as src:
        assert ds.shape == src.shape and ds.transform == src.transform
        assert set(np.unique(ds.read(1))) <= {0, 1, 2, 3, 4, 5, 6, 7}
    text = " ".join(progress.warnings)
    assert "cell size" in text and "CELL_SIZE=28.5" in text
    assert "uint8 but the model was trained on float32" in text


def test_a_raster_naming_the_models_bands_elsewhere_is_told_which_bands_to_read(tmp_path):
    """A 4-band copy of bands B04, B03, B02, B08 of a 10-band Sentinel-2 stack: the model
    reads bands 3, 2, 1, 7 of a 10-band raster and was refused as 'band(s) [7] do not
    exist', the fix unsaid (a sweep, stop 69). The refusal names the bands that match."""
    from types import SimpleNamespace

    from landlearn.core.classify.stream import open_source

    names = ("B04", "B03", "B02", "B08")
    path = _raster(tmp_path, names=("B02", "B03", "B04", "B08"), values=(1, 2, 3, 4))
    info = _info(band_names=list(names), source_bands=[3, 2, 1, 7], source_band_count=10,
                 in_channels=4, mean=np.zeros(4, np.float32), std=np.ones(4, np.float32),
                 value_mean=np.ones(4), value_std=np.ones(4))
    config = SimpleNamespace(input_raster=path, bands=None, extent=None, cell_size=None)
    with pytest.raises(InputError, match=r"^BANDS: the model reads bands \[3, 2, 1, 7\] .*: "
                       r"this raster's bands named B04, B03, B02, B08 are bands 3;2;1;4, so "
                       r"BANDS 3;2;1;4$"):
        open_source(config, info, RecordingProgress())
    (tmp_path / "g").mkdir()  # names that say nothing: no bands offered
    generic = _raster(tmp_path / "g", names=("Band_1", "Band_2", "Band_3"))
    with pytest.raises(InputError) as said:
        open_source(SimpleNamespace(**{**vars(config), "input_raster": generic}), info,
                    RecordingProgress())
    assert "named" not in str(said.value)
