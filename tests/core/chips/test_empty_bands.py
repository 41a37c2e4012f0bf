"""chips.empty_bands: bands with no valid pixel in any chip (an EnMAP scene's bad bands) are
left out of training, said, and mapped back to the raster's bands the model reads."""

from types import SimpleNamespace

import numpy as np
import pytest
import rasterio

from landlearn.core.chips.empty_bands import kept_bands, pooled_stats
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress


def test_empty_bands_are_named_and_left_out_and_all_empty_is_refused():
    progress = RecordingProgress()
    names = [f"Band_{i}" for i in range(1, 6)]
    assert kept_bands(np.array([5.0, 0, 3, 0, 1]), names, progress) == [0, 2, 4]
    warning = " ".join(progress.warnings)
    assert "2 band(s)" in warning and "Band_2, Band_4" in warning and "other 3 bands" in warning
    quiet = RecordingProgress()
    assert kept_bands(np.ones(5), names, quiet) == [0, 1, 2, 3, 4] and not quiet.warnings
    with pytest.raises(InputError, match="no valid pixel in any band"):
        kept_bands(np.zeros(5), names)


def test_pooled_statistics_are_the_moments_of_the_pooled_pixels_of_the_kept_bands():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, (2, 300)), rng.normal(14, 3, (2, 100))

    def part(x):
        return SimpleNamespace(mean=np.r_[x.mean(1), 0], std=np.r_[x.std(1), 0],
                               minimum=np.r_[x.min(1), 0], maximum=np.r_[x.max(1), 0])

    w = np.array([[300, 300, 0], [100, 100, 0]], np.float64)
    mean, std, lo, hi = pooled_stats(w, [part(a), part(b)], [0, 1])
    both = np.concatenate([a, b], axis=1)
    np.testing.assert_allclose(mean, both.mean(1), rtol=1e-12)
    np.testing.assert_allclose(std, both.std(1), rtol=1e-12)
    np.testing.assert_array_equal(lo, both.min(1))
    np.testing.assert_array_equal(hi, both.max(1))
    # a folder without pixels in a band does not pull its min and max to its 0
    w[1, 1] = 0
    _, _, lo, hi = pooled_stats(w, [part(a), part(b)], [1])
    assert (lo[0], hi[0]) == (a[1].min(), a[1].max())


def _with_empty_bands(src: str, out: str, at=(2, 5)) -> str:
    """``src``'s bands with all-NoData bands inserted at the 0-based positions ``at``."""
    with rasterio.open(src) as ds:
        data, profile, nodata = ds.read(), ds.profile, ds.nodata
    for i in sorted(at):
        data = np.insert(data, i, np.full(data.shape[1:], nodata, data.dtype), axis=0)
    profile.update(count=data.shape[0])
    with rasterio.open(out, "w", **profile) as ds:
        ds.write(data)
    return out


@pytest.mark.heavy
def test_chips_with_empty_bands_train_the_model_of_the_chips_without_them(tmp_path):
    """nc's five bands with two all-NoData bands inserted (positions 3 and 6 of 7): the
    folder was refused ('export without them'); now the model is trained on the other five
    and reads bands 1, 2, 4, 5, 7 of the 7-band raster, and it is the model the 5-band
    chips train: the same weights, the same map."""
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.chips.training_data import read_training_data
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.labels.base import LabelConfig
    from small_models import NC, quick_config

    five = str(NC / "landsat_multiband.tif")
    seven = _with_empty_bands(five, str(tmp_path / "seven.tif"))
    maps = {}
    for name, raster in (("five", five), ("seven", seven)):
        chips = tmp_path / f"chips_{name}"
        export_training_data(ExportConfig(raster, LabelConfig(str(NC / "strata.tif")),
                                          str(chips), tile_size_x=64, tile_size_y=64,
                                          stride_x=32, stride_y=32))
        progress = RecordingProgress()
        data = read_training_data([str(chips)], progress)
        if name == "seven":
            assert data.band_count == 5 and data.chip_band_count == 7
            assert (data.source_bands, data.source_band_count) == ([1, 2, 4, 5, 7], 7)
            assert data.band_names == ["Band_1", "Band_2", "Band_4", "Band_5", "Band_7"]
            assert any("Band_3, Band_6" in w for w in progress.warnings)
            pixels, missing, nodata = data.read_image(data.chips[0])
            assert pixels.shape[0] == 5 and len(nodata) == 5 and not missing.all()
            np.testing.assert_allclose(data.mean, maps["five_mean"], rtol=1e-9)
        else:
            maps["five_mean"] = data.mean
        train_model(quick_config(chips, tmp_path / f"{name}.dlpk", epochs=1, seed=5),
                    RecordingProgress())
        out = str(tmp_path / f"{name}_map.tif")
        classify_pixels(ClassifyConfig(raster, str(tmp_path / f"{name}.dlpk"), out),
                        RecordingProgress())
        with rasterio.open(out) as ds:
            maps[name] = ds.read(1)
    valid = maps["five"] != 0
    assert valid.mean() > 0.5
    # one process, one seed, the same normalised chips: the same network up to the float
    # sums of a 5- against a 7-band statistics pass
    assert (maps["seven"] == maps["five"]).mean() > 0.99


def test_an_all_nan_band_of_float_chips_without_statistics_is_left_out_not_every_pixel(
        tmp_path):
    """ArcGIS float chips (no statistics to read) with one band all NaN: a pixel was
    missing where any band was NaN, so every pixel was, and the folder had 'no valid
    pixel'; the band is left out, and the pixels are judged on the bands kept."""
    import json
    import shutil

    from landlearn.core.chips.training_data import read_training_data
    from synthetic import two_class_chips

    rng = np.random.default_rng(4)
    image = rng.normal(0.2, 0.05, (3, 64, 64)).astype(np.float32)
    theirs = tmp_path / "theirs"
    shutil.copytree(two_class_chips(tmp_path, image, "ours"), theirs)
    (theirs / "landlearn_manifest.json").unlink()
    for name, key in (("esri_model_definition.emd", "AllTilesStats"),
                      ("esri_accumulated_stats.json", "BandStatsState")):
        meta = json.loads((theirs / name).read_text())
        meta.pop(key, None)
        meta.pop("LandLearn", None)
        (theirs / name).write_text(json.dumps(meta))
    for chip in (theirs / "images").glob("*.tif"):
        with rasterio.open(chip, "r+") as ds:
            ds.write(np.full((32, 32), np.nan, np.float32), 2)
    progress = RecordingProgress()
    data = read_training_data([str(theirs)], progress)
    assert data.band_names == ["Band_1", "Band_3"] and data.chip_bands == [0, 2]
    assert any("Band_2" in w for w in progress.warnings)
    pixels, missing, _ = data.read_image(data.chips[0])
    assert pixels.shape == (2, 32, 32) and not missing.any()
    np.testing.assert_allclose(data.mean, image[[0, 2]].mean(axis=(1, 2)), rtol=1e-4)


@pytest.mark.heavy
def test_band_names_for_every_chip_band_are_narrowed_to_the_bands_trained(tmp_path):
    """BAND_NAMES naming all 7 chip bands while 2 are empty: the match uses the 5 kept,
    and the package records those 5 (a fine-tune from it matches by them; recorded as 7,
    they no longer fitted and the chips' generic names were used)."""
    import json
    import zipfile

    pytest.importorskip("segmentation_models_pytorch")
    from safetensors.torch import save_file

    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.deep.models import build_model
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.labels.base import LabelConfig
    from small_models import NC, quick_config

    seven = _with_empty_bands(str(NC / "landsat_multiband.tif"), str(tmp_path / "seven.tif"))
    chips = tmp_path / "chips"
    export_training_data(ExportConfig(seven, LabelConfig(str(NC / "strata.tif")), str(chips),
                                      tile_size_x=64, tile_size_y=64, stride_x=64,
                                      stride_y=64))
    enc = {k.removeprefix("encoder."): v.contiguous() for k, v in
           build_model("unet", "resnet18", 5, 2).state_dict().items() if k.startswith("encoder.")}
    save_file(enc, str(tmp_path / "five.safetensors"))
    names = ("blue", "green", "gap1", "red", "nir", "gap2", "swir1")
    out = tmp_path / "m.dlpk"
    result = train_model(quick_config(chips, out, epochs=1, band_names=names,
                                      pretrained_weights=str(tmp_path / "five.safetensors"),
                                      pretrained_bands="blue,green,red,nir,swir1"))
    assert any("5 of 5 training bands matched" in n for n in result.notes), result.notes
    with zipfile.ZipFile(out) as zf:
        info = json.loads(zf.read("m.emd"))["LandLearn"]
    assert info["training"]["parameters"]["band_names"] == ["blue", "green", "red", "nir",
                                                            "swir1"]
    assert info["source_bands"] == [1, 2, 4, 5, 7] and info["in_channels"] == 5
    assert ("trained on 5 of the chips' 7 bands, reading bands [1, 2, 4, 5, 7] of the raster "
            "(the others hold no valid pixel in any chip)") in info["training"]["notes"]
