"""Neighbourhood features: the numbers, their exactness across tiles and strips, training
equal to classifying, the package, and the errors."""

import json
import zipfile

import numpy as np
import pytest
import rasterio

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.classical import neighbourhood as nbh
from landlearn.core.classical.neighbourhood import Neighbourhood, parse_sizes
from landlearn.core.classical.samples import collect_samples
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.model_package import schema
from landlearn.core.model_package.schema import check_emd


def test_window_sizes_are_parsed_and_bad_ones_named():
    assert parse_sizes("15, 3;7") == (3, 7, 15)
    assert parse_sizes("") == () and parse_sizes(None) == () and parse_sizes(" ") == ()
    for text, why in (("4", "4 is not an odd window size of 3..63"), ("1", "1 is not an odd"),
                      ("65", "65 is not an odd"), ("3,x", "'x' is not a window size"),
                      ("3,3", "3,3 repeats a window size"),
                      ("3,5,7,9,11", "5 window sizes; use at most 4")):
        with pytest.raises(InputError, match=f"^NEIGHBOURHOOD_SIZES: {why}"):
            parse_sizes(text, "neighbourhood_sizes")
    with pytest.raises(InputError, match="^NEIGHBOURHOOD_STATISTICS: 'median' is not one of "
                                         "mean, mean_std"):
        Neighbourhood((3,), "median")


def test_means_and_deviations_leave_nodata_and_the_outside_out():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 20, (2, 9, 11)).astype(np.float32)
    valid = rng.random((9, 11)) > 0.3
    valid[0:3, 0:3] = False  # a 3x3 window with no valid pixel: mean and spread 0
    hood = Neighbourhood((3, 5), "mean_std")
    f = hood.features(data, valid)
    assert f.shape == (hood.feature_count(2), 9, 11) == (10, 9, 11)
    assert hood.feature_names(["red", "nir"]) == [
        "red", "nir", "red mean 3x3", "nir mean 3x3", "red std 3x3", "nir std 3x3",
        "red mean 5x5", "nir mean 5x5", "red std 5x5", "nir std 5x5"]
    for r in range(9):
        for c in range(11):
            for k, size in enumerate((3, 5)):
                h = size // 2
                rows = slice(max(0, r - h), r + h + 1)
                cols = slice(max(0, c - h), c + h + 1)
                v = data[:, rows, cols][:, valid[rows, cols]].astype(np.float64)
                mean = v.mean(axis=1) if v.size else np.zeros(2)
                std = v.std(axis=1) if v.size else np.zeros(2)
                np.testing.assert_allclose(f[2 + 4 * k:4 + 4 * k, r, c], mean, rtol=1e-12)
                np.testing.assert_allclose(f[4 + 4 * k:6 + 4 * k, r, c], std, rtol=1e-6,
                                           atol=1e-6)
    assert np.all(f[2:6, 1, 1] == 0)  # the 3x3 window; the 5x5 reaches valid pixels
    assert np.array_equal(f[:2], np.where(valid, data, 0))  # the bands themselves
    # mean only: the mean rows, without the deviations
    g = Neighbourhood((3, 5), "mean").features(data, valid)
    assert np.array_equal(g, f[[0, 1, 2, 3, 6, 7]])


def test_a_pixel_gets_the_same_bits_in_any_block_and_strip(monkeypatch):
    """No running sums: a pixel whose window lies inside two blocks gets identical features
    from both, and the strip-wise path equals the whole block's."""
    rng = np.random.default_rng(1)
    data = rng.normal(1000, 300, (3, 80, 70)).astype(np.float32)
    valid = rng.random((80, 70)) > 0.1
    hood = Neighbourhood((3, 7, 15))
    whole = hood.features(data, valid)
    part = hood.features(data[:, 20:61, 13:50], valid[20:61, 13:50])
    h = hood.halo
    assert np.array_equal(part[:, h:-h, h:-h], whole[:, 20 + h:61 - h, 13 + h:50 - h])
    keep = rng.random((80, 70)) > 0.5
    monkeypatch.setattr(nbh, "STRIP_VALUES", 3 * 7 * 70 * 5)  # strips of 5 rows
    strips = list(hood.strips(data, valid, keep))
    assert len(strips) == 16
    assert np.array_equal(hood.pixel_features(data, valid, keep), whole[:, keep].T)


def test_training_features_are_the_features_classify_pixels_computes(sample):
    """Every labelled pixel drawn (no cap): the rows training sees are, row for row, the
    whole raster's features at those pixels, from the values as Classify Pixels reads them."""
    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    hood = Neighbourhood((3, 7))
    s = collect_samples(image, LabelConfig(str(nc / "strata.tif")), max_per_class=0,
                        neighbourhood=hood)
    with rasterio.open(image) as ds:
        data = ds.read().astype(np.float32)
        valid = ~np.all(data == ds.nodata, axis=0)
        labels = rasterio.open(str(nc / "strata.tif")).read(1)
    keep = valid & (labels > 0)
    expected = hood.pixel_features(data, valid, keep)
    assert s.x.shape == expected.shape == (int(keep.sum()), 25)
    assert s.feature_names == hood.feature_names(s.band_names)
    order = np.lexsort(expected.T[::-1])
    got = np.lexsort(s.x.T[::-1])
    assert np.array_equal(s.x[got], expected[order])


def test_with_an_extent_the_windows_still_see_the_image_past_it(sample):
    """Classify Pixels' padded tiles read past EXTENT; training counted the image past it
    as outside the raster, so the pixels near its edge (within 31 px with 63 px windows:
    about half of a 200 px extent's) had other features than classifying gives them."""
    from rasterio.windows import Window, bounds

    from landlearn.core.geo.extent import Extent

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    hood = Neighbourhood((15, 63), "mean")
    with rasterio.open(image) as ds:
        data = ds.read().astype(np.float32)
        valid = ~np.all(data == ds.nodata, axis=0)
        labels = rasterio.open(str(nc / "strata.tif")).read(1)
        box = bounds(Window(150, 120, 200, 200), ds.transform)
    s = collect_samples(image, LabelConfig(str(nc / "strata.tif")), max_per_class=0,
                        neighbourhood=hood, extent=Extent(*box))
    inside = np.zeros_like(valid)
    inside[120:320, 150:350] = True
    keep = valid & (labels > 0) & inside
    data[:, ~valid] = 0
    expected = hood.pixel_features(data, valid, keep)
    assert s.x.shape == expected.shape and len(s.x) > 30_000
    order = np.lexsort(expected.T[::-1])
    got = np.lexsort(s.x.T[::-1])
    assert np.array_equal(s.x[got], expected[order])


def test_the_package_records_its_neighbourhood_and_maps_the_same_in_any_tiles(
        sample, rf_neighbourhood, rf, tmp_path):
    out, result, progress = rf_neighbourhood
    with zipfile.ZipFile(out) as zf:
        info = json.loads(zf.read("rf.emd"))["LandLearn"]
        page = zf.read("report/report.html").decode()
    assert ("<p>Features: 25 per pixel: the 5 bands, then each band&#x27;s mean and standard "
            "deviation over 3x3, 7x7 px windows (NoData pixels left out).</p>") in page
    with zipfile.ZipFile(rf[0]) as zf:
        assert "<p>Features: the 5 bands of each pixel (" in zf.read("report/report.html").decode()
    assert info["neighbourhood"]["sizes"] == [3, 7]
    assert info["neighbourhood"]["statistics"] == "mean_std"
    assert len(info["neighbourhood"]["features"]) == 25 and info["padding"] == 3
    assert info["version"] == schema.NEIGHBOURHOOD_VERSION == 4
    assert info["in_channels"] == 5 and len(info["normalization"]["sample_mean"]) == 5
    assert "neighbourhood" not in info["training"]["parameters"]
    assert any(m.startswith("Neighbourhood features: 25 per pixel (the bands, then each "
                            "band's mean and std over 3x3, 7x7 px windows)") for m in
               progress.messages)
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    maps = {}
    for tile in (None, 64):
        path = tmp_path / f"map_{tile}.tif"
        classify_pixels(ClassifyConfig(image, str(out), str(path), tile_size=tile,
                                       output_probabilities=str(tmp_path / f"p_{tile}.tif")))
        with rasterio.open(path) as ds, rasterio.open(tmp_path / f"p_{tile}.tif") as p:
            maps[tile] = ds.read(1), p.read()
    assert np.array_equal(maps[None][0], maps[64][0])
    assert np.array_equal(maps[None][1], maps[64][1])
    # the forest on the bands alone maps the scene differently (the features are used)
    plain = tmp_path / "plain.tif"
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(plain)))
    with rasterio.open(plain) as ds:
        assert (ds.read(1) != maps[None][0]).mean() > 0.1
    acc = assess_accuracy(AssessConfig(str(tmp_path / "map_None.tif"),
                                       LabelConfig(str(sample / "nc_landsat7" / "strata.tif"))))
    assert acc.accuracy.overall > 0.45 and acc.accuracy.macro_f1 > 0.3


def test_classify_pixels_refuses_a_padding_or_blend_that_breaks_the_windows(
        sample, rf_neighbourhood, tmp_path):
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    out = str(rf_neighbourhood[0])
    with pytest.raises(InputError, match="^PADDING: 2 px is less than the 3 px this model's "
                                         "neighbourhood features look around each pixel"):
        classify_pixels(ClassifyConfig(image, out, str(tmp_path / "a.tif"), padding=2))
    with pytest.raises(InputError, match="^BLEND: weighted blending averages overlapping "
                                         "tiles.*use BLEND=centre"):
        classify_pixels(ClassifyConfig(image, out, str(tmp_path / "b.tif"), blend="weighted"))
    assert not list(tmp_path.iterdir())
    # more padding than needed changes nothing
    classify_pixels(ClassifyConfig(image, out, str(tmp_path / "c.tif"), padding=10,
                                   tile_size=64))
    classify_pixels(ClassifyConfig(image, out, str(tmp_path / "d.tif")))
    with rasterio.open(tmp_path / "c.tif") as c, rasterio.open(tmp_path / "d.tif") as d:
        assert np.array_equal(c.read(), d.read())


def test_a_segmented_raster_and_neighbourhood_features_do_not_mix(tmp_path):
    config = ClassicalConfig("in.tif", LabelConfig("l.gpkg"), str(tmp_path / "m.dlpk"),
                             segmented_raster="seg.tif", neighbourhood=Neighbourhood((3,)))
    with pytest.raises(InputError, match="^NEIGHBOURHOOD_SIZES: neighbourhood features are "
                                         "for pixel classifiers"):
        config.validate()


def test_a_damaged_neighbourhood_in_a_package_is_a_model_error(rf_neighbourhood, monkeypatch):
    with zipfile.ZipFile(rf_neighbourhood[0]) as zf:
        emd = json.loads(zf.read("rf.emd"))
    check_emd(json.loads(json.dumps(emd)), "x")

    def damaged(**changes):
        e = json.loads(json.dumps(emd))
        for key, value in changes.items():
            if key == "padding":
                e["LandLearn"]["padding"] = value
            else:
                e["LandLearn"]["neighbourhood"][key] = value
        return e

    for changes, field in (({"sizes": [4]}, "LandLearn.neighbourhood.sizes"),
                           ({"sizes": [7, 3]}, "LandLearn.neighbourhood.sizes"),
                           ({"sizes": [3, 7, 9, 11, 13]}, "LandLearn.neighbourhood.sizes"),
                           ({"sizes": [3, 99]}, "LandLearn.neighbourhood.sizes"),
                           ({"statistics": "median"}, "LandLearn.neighbourhood.statistics"),
                           ({"features": ["a"] * 24}, "LandLearn.neighbourhood.features"),
                           ({"padding": 0}, "LandLearn.padding")):
        with pytest.raises(InputError, match=f"^MODEL: 'x' is not a valid model package: "
                                             f"{field.replace('.', '[.]')} "):
            check_emd(damaged(**changes), "x")
    # a LandLearn from before neighbourhood features refuses the package by its version
    monkeypatch.setattr(schema, "FORMAT_VERSION", 3)
    with pytest.raises(InputError, match="written by a newer LandLearn .package version 4.; "
                                         "update the plugin"):
        check_emd(json.loads(json.dumps(emd)), "x")
