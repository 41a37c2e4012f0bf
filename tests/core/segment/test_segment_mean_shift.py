"""Mean-shift segmentation on real imagery: tiles stitch exactly, parameters behave."""

import os

import numpy as np
import pytest
import rasterio

from landlearn.core.errors import InputError
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

pytest.importorskip("torch")


def _ids(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def _s2(sample):
    return str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")


@pytest.mark.parametrize("method", ["joint", "fast"])
def test_tiles_stitch_exactly_and_a_segment_crossing_tiles_keeps_one_id(sample, tmp_path,
                                                                        method):
    image = _s2(sample)
    cfg = dict(band_indexes=(3, 2, 1), min_segment_size=20, spectral_detail=16, method=method)
    one = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "one.tif"),
                                tile_size=1024, **cfg))
    tiled = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "tiled.tif"),
                                  tile_size=128, **cfg))
    a, b = _ids(tmp_path / "one.tif"), _ids(tmp_path / "tiled.tif")
    assert one.segments == tiled.segments > 50
    np.testing.assert_array_equal(a, b)
    # segments that own pixels on both sides of a tile border (row/column 128, 256, 384)
    crossing = set()
    for k in (128, 256, 384):
        crossing |= set(np.unique(b[:, k - 1][b[:, k - 1] == b[:, k]]).tolist())
        crossing |= set(np.unique(b[k - 1, :][b[k - 1, :] == b[k, :]]).tolist())
    assert len(crossing - {0}) > 10
    for sid in list(crossing - {0})[:20]:  # each is one connected region
        from scipy.ndimage import label

        _, parts = label(b == sid)
        assert parts == 1


def test_min_size_ids_and_mean_colour(shared, tmp_path):
    naip = str(shared / "naip_rgbn" / "m_4709963_se_14_1_20200831.tif")
    res = segment(SegmentConfig(naip, output=str(tmp_path / "mean.tif"),
                                output_segment_ids=str(tmp_path / "ids.tif"),
                                band_indexes=(1, 2, 3, 4), spatial_radius=5, range_radius=15,
                                min_segment_size=50))
    ids = _ids(tmp_path / "ids.tif")
    sizes = np.bincount(ids.ravel())
    assert ids.min() == 1 and ids.max() == res.segments == len(sizes) - 1
    assert sizes[1:].min() >= 50
    with rasterio.open(naip) as src, rasterio.open(tmp_path / "mean.tif") as m:
        raw, mean = src.read().astype(np.float64), m.read()
        assert m.transform == src.transform and m.dtypes[0] == "uint8" and m.count == 4
    for sid in (1, res.segments // 2, res.segments):
        sel = ids == sid
        np.testing.assert_array_equal(mean[:, sel][:, 0], np.round(raw[:, sel].mean(axis=1)))
    # the same call gives the same result (no randomness)
    segment(SegmentConfig(naip, output_segment_ids=str(tmp_path / "again.tif"),
                          band_indexes=(1, 2, 3, 4), spatial_radius=5, range_radius=15,
                          min_segment_size=50))
    np.testing.assert_array_equal(_ids(tmp_path / "again.tif"), ids)


def test_more_detail_never_gives_fewer_segments(sample, tmp_path):
    image = _s2(sample)
    counts = []
    for detail in (8, 12, 16, 19):
        r = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / f"s{detail}.tif"),
                                  band_indexes=tuple(range(1, 11)), spectral_detail=detail,
                                  min_segment_size=10))
        counts.append(r.segments)
    assert counts == sorted(counts) and counts[-1] > counts[0]
    spatial = [segment(SegmentConfig(image, output_segment_ids=str(tmp_path / f"p{d}.tif"),
                                     spatial_detail=d, min_segment_size=10)).segments
               for d in (5, 19)]
    assert spatial[1] >= spatial[0]
    with rasterio.open(tmp_path / "s8.tif") as ds:
        assert ds.dtypes[0] == "uint32" and ds.nodata == 0


def test_nodata_border_and_polygons(shared, tmp_path):
    from osgeo import ogr

    image = str(shared / "rgb_byte" / "RGB.byte.tif")
    res = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "ids.tif"),
                                output_polygons=str(tmp_path / "polys.gpkg"),
                                spectral_detail=14, min_segment_size=30))
    ids = _ids(tmp_path / "ids.tif")
    with rasterio.open(image) as ds:
        nodata = np.all(ds.read() == 0, axis=0)
    assert np.all(ids[nodata] == 0) and np.all(ids[~nodata] > 0)
    ds = ogr.Open(str(tmp_path / "polys.gpkg"))  # keep the dataset: its layer dies with it
    feats = list(ds.GetLayer(0))
    assert len(feats) == res.segments
    sizes = np.bincount(ids.ravel())
    for f in feats[:50]:
        assert f.GetField("pixels") == sizes[f.GetField("id")]
        assert f.GetField("mean_Band_1") is not None


def test_wide_integers_are_scaled_without_float32_rounding_and_all_nodata_is_refused(
        tmp_path):
    """A uint32 band near 4e9 with detail over 1,000 values: narrowed to float32 before the
    offset came off, it kept three levels 512 apart. It segments as the same values less
    4e9 in uint16 do. A byte image that is NoData inside EXTENT is refused, not 0 segments."""
    from synthetic import write

    rng = np.random.default_rng(3)
    base = np.repeat(np.repeat(rng.integers(0, 1000, (8, 8)), 12, 0), 12, 1)
    noisy = base + rng.integers(0, 3, base.shape)
    wide = write(tmp_path / "wide.tif", (noisy + 4_000_000_000).astype(np.uint32)[None])
    narrow = write(tmp_path / "narrow.tif", noisy.astype(np.uint16)[None])
    a = segment(SegmentConfig(wide, output_segment_ids=str(tmp_path / "a.tif"),
                              min_segment_size=4))
    b = segment(SegmentConfig(narrow, output_segment_ids=str(tmp_path / "b.tif"),
                              min_segment_size=4))
    assert a.segments == b.segments > 40
    np.testing.assert_array_equal(_ids(tmp_path / "a.tif"), _ids(tmp_path / "b.tif"))
    blank = write(tmp_path / "blank.tif", np.zeros((3, 20, 20), np.uint8), nodata=0)
    with pytest.raises(InputError, match="^INPUT_RASTER: every pixel is NoData"):
        segment(SegmentConfig(blank, output_segment_ids=str(tmp_path / "c.tif")))
    assert not (tmp_path / "c.tif").exists()


def test_bad_parameters(sample, tmp_path):
    image = _s2(sample)
    with pytest.raises(InputError, match="^SPECTRAL_DETAIL: 0 is outside 1..20"):
        segment(SegmentConfig(image, output=str(tmp_path / "x.tif"), spectral_detail=0))
    with pytest.raises(InputError, match="^OUTPUT: choose at least one output"):
        segment(SegmentConfig(image))
    with pytest.raises(InputError, match="^BAND_INDEXES: band\\(s\\) \\[12\\] do not exist"):
        segment(SegmentConfig(image, output=str(tmp_path / "x.tif"), band_indexes=(1, 12)))
    with pytest.raises(InputError, match="^BAND_INDEXES: band\\(s\\) \\[2\\] are named more"):
        segment(SegmentConfig(image, output=str(tmp_path / "x.tif"), band_indexes=(2, 1, 2)))
    # cells of isqrt(24) = 4 px a side are 16 px, under the minimum: joined again past 24
    with pytest.raises(InputError, match="^MAX_SEGMENT_SIZE: 24 px cuts .* 16 px, under "
                                         "MIN_SEGMENT_SIZE \\(20\\); use at least 25"):
        segment(SegmentConfig(image, output=str(tmp_path / "x.tif"), max_segment_size=24))
    for bad, message in ((dict(method="otb"), "^METHOD: 'otb' is not one of fast, joint"),
                         (dict(threshold=-1.0), "^THRESHOLD: -1.0 is not 0 or more and under 10"),
                         (dict(max_iterations=0), "^MAX_ITERATIONS: 0 is not in 1..1000"),
                         # a negative radius shrank the joint method's halo for ever
                         (dict(spatial_radius=-3), "^SPATIAL_RADIUS: -3 is not a radius"),
                         (dict(spatial_radius=0), "^SPATIAL_RADIUS: 0 is not a radius"),
                         (dict(range_radius=-5.0), "^RANGE_RADIUS: -5.0 is not a range"),
                         (dict(range_radius=0.0), "^RANGE_RADIUS: 0.0 is not a range")):
        with pytest.raises(InputError, match=message):
            segment(SegmentConfig(image, output=str(tmp_path / "x.tif"), **bad))
    assert [p.name for p in tmp_path.iterdir()] == []


def test_joint_mean_shift_tiles_stitch_exactly(sample, tmp_path):
    """METHOD=joint: halos grow where modes travel far, so 96 px tiles give the untiled ids
    and mean values bit for bit."""
    image = _s2(sample)
    cfg = dict(band_indexes=(3, 2, 1), min_segment_size=20, spectral_detail=16,
               method="joint")
    from landlearn.core.progress import RecordingProgress

    log = RecordingProgress()
    one = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "one.tif"),
                                output=str(tmp_path / "one_m.tif"), tile_size=1024, **cfg), log)
    # the log says the joint method's own limits (it said "3 iterations", the fast method's)
    assert any("joint, at most 100 steps to a shift under 0.1" in m for m in log.messages)
    tiled = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "tiled.tif"),
                                  output=str(tmp_path / "tiled_m.tif"), tile_size=96, **cfg))
    assert one.segments == tiled.segments > 50
    np.testing.assert_array_equal(_ids(tmp_path / "one.tif"), _ids(tmp_path / "tiled.tif"))
    with rasterio.open(tmp_path / "one_m.tif") as a, rasterio.open(tmp_path / "tiled_m.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_joint_mean_shift_finds_more_of_the_reference_boundaries(shared, tmp_path):
    """On nb_aerial 1of2 at the same radii, joint mean shift recovers more reference
    boundaries than the fast filter with less leakage across them (bench_segment's measures;
    the full comparison with Orfeo ToolBox is in BENCHMARKS.md)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from bench_segment import quality

    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster

    nb = shared / "nb_aerial"
    image = str(nb / "23322E759967N_clipped_1m_1of2.tif")
    write_label_raster(LabelRasterConfig(image, LabelConfig(str(nb / "labels_1of2.tif")),
                                         str(tmp_path / "ref.tif")))
    ref = _ids(tmp_path / "ref.tif")
    q = {}
    for method in ("fast", "joint"):
        segment(SegmentConfig(image, output_segment_ids=str(tmp_path / f"{method}.tif"),
                              spatial_radius=5, range_radius=15, min_segment_size=50,
                              method=method))
        q[method] = quality(_ids(tmp_path / f"{method}.tif"), ref, np.ones(ref.shape, bool))
    assert q["joint"]["recall"] > q["fast"]["recall"] + 0.03
    assert q["joint"]["ue"] < q["fast"]["ue"] - 0.02


def test_auto_takes_the_compiled_pass_even_beside_a_gpu(monkeypatch):
    """DEVICE auto never asks torch while numba is there (on an H200 machine the torch
    search was slower than the compiled pass end to end); cuda is taken when asked, and
    without numba auto is torch's choice."""
    from landlearn.core.segment import segment_mean_shift as sms

    asked = []

    def torch_device(name):
        asked.append(name)
        return f"torch:{name}"

    monkeypatch.setattr(sms, "resolve_device", torch_device)
    monkeypatch.setattr(sms, "compiled_available", lambda: True)
    assert [sms._engine(n) for n in ("auto", "AUTO ", "cpu", "")] == ["compiled"] * 4
    assert asked == []
    assert sms._engine("cuda") == "torch:cuda" and sms._engine("cuda:1") == "torch:cuda:1"
    monkeypatch.setattr(sms, "compiled_available", lambda: False)
    assert sms._engine("auto") == "torch:auto" and sms._engine("cpu") == "torch:cpu"
    monkeypatch.undo()
    with pytest.raises(InputError, match="'gpu' is not a device"):
        sms._engine("gpu")


def test_values_that_overflow_once_scaled_are_nodata_not_lone_segments(tmp_path):
    """A -3.4e38 fill without a NoData tag in 0..1 reflectance: scaled to 0..255 it is
    -inf. It made one-pixel segments no merge could reach (MIN_SEGMENT_SIZE broken); it
    takes no part now, as NoData."""
    from synthetic import write

    rng = np.random.default_rng(0)
    data = rng.random((2, 64, 64)).astype(np.float32)
    spots = [(5, 5), (20, 40), (33, 12), (50, 50), (60, 3)]
    for r, c in spots:
        data[:, r, c] = -3.4e38
    image = write(tmp_path / "refl.tif", data)
    ids = tmp_path / "ids.tif"
    segment(SegmentConfig(image, output_segment_ids=str(ids), band_indexes=(1, 2),
                          min_segment_size=20))
    with rasterio.open(ids) as ds:
        got = ds.read(1)
    assert all(got[r, c] == 0 for r, c in spots)
    assert np.bincount(got.ravel())[1:][np.bincount(got.ravel())[1:] > 0].min() >= 20


def test_the_stretch_is_sampled_inside_the_extent(tmp_path):
    """A sparse mosaic whose data lie between the whole raster's sample windows: segmented
    within EXTENT, it stopped with 'no valid pixel'; the stretch now samples the extent."""
    from rasterio.transform import from_origin
    from rasterio.windows import Window, bounds

    from landlearn.core.geo.extent import Extent
    from synthetic import write

    data = np.zeros((1, 4096, 4096), np.uint16)
    rng = np.random.default_rng(0)
    data[0, 200:370, 200:370] = rng.integers(100, 4000, (170, 170))
    transform = from_origin(500000, 5000000, 10, 10)
    image = write(tmp_path / "sparse.tif", data, transform=transform, nodata=0,
                  compress="deflate", tiled=True)
    box = bounds(Window(200, 200, 170, 170), transform)
    result = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "ids.tif"),
                                   extent=Extent(*box, None)))
    assert result.segments > 1


def _rgba(shared, path, bands=(1, 2, 3)):
    """The NAIP scene's ``bands`` and an alpha band that cuts off a corner (an orthophoto's
    footprint); the colour under the cut corner is kept, as orthophotos often leave it."""
    with rasterio.open(shared / "naip_rgbn" / "m_4709963_se_14_1_20200831.tif") as ds:
        data, profile = ds.read(list(bands)), ds.profile
    rows, cols = np.indices(data.shape[1:])
    alpha = np.where(rows + cols < 300, 0, 255).astype(np.uint8)
    # ALPHA=YES: GDAL 3.10 keeps no alpha colour interpretation set after the pixels
    profile.update(count=len(bands) + 1, nodata=None, alpha="YES",
                   photometric="RGB" if len(bands) == 3 else "MINISBLACK")
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.concatenate([data, alpha[None]]))
        ci = rasterio.enums.ColorInterp
        out.colorinterp = ([ci.red, ci.green, ci.blue] if len(bands) == 3 else [ci.gray]) + \
            [ci.alpha]
    return data, alpha > 0


def test_an_rgba_orthophoto_segments_its_colours_and_keeps_its_footprint(shared, tmp_path):
    """Alpha is the mask, not a colour: the default bands leave it out, and the mean-colour
    raster marks the cut corner as NoData in a mask (it was black, valid pixels: classified
    afterwards, they became a class)."""
    data, inside = _rgba(shared, tmp_path / "rgba.tif")
    res = segment(SegmentConfig(str(tmp_path / "rgba.tif"), output=str(tmp_path / "mean.tif"),
                                output_segment_ids=str(tmp_path / "ids.tif"),
                                min_segment_size=50))
    ids = _ids(tmp_path / "ids.tif")
    assert np.all(ids[~inside] == 0) and np.all(ids[inside] > 0)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".msk")]
    with rasterio.open(tmp_path / "mean.tif") as m:
        assert m.count == 3 and m.nodata is None
        np.testing.assert_array_equal(m.dataset_mask() > 0, inside)
        mean = m.read()
    for sid in (1, res.segments // 2, res.segments):
        sel = ids == sid
        np.testing.assert_array_equal(mean[:, sel][:, 0],
                                      np.round(data[:, sel].astype(np.float64).mean(axis=1)))
    # no NoData value and no mask in the input: no mask in the output either
    from synthetic import write

    plain = write(tmp_path / "plain.tif", data[:, :200, :200])
    segment(SegmentConfig(plain, output=str(tmp_path / "plain_mean.tif"), min_segment_size=50))
    with rasterio.open(tmp_path / "plain_mean.tif") as m:
        assert m.nodata is None and m.mask_flag_enums[0] == [rasterio.enums.MaskFlags.all_valid]
    # a float raster with NaN (or inf) where it has no data, and no NoData value: NaN
    # there in the output too, its NoData (0.0 under a mask read as a mean of 0 to tools
    # that read values alone)
    floats = data[:, :200, :200].astype(np.float32)
    floats[:, :40, :40] = np.nan
    floats[0, 100, 100] = np.inf
    nan_raster = write(tmp_path / "nan.tif", floats)
    segment(SegmentConfig(nan_raster, output=str(tmp_path / "nan_mean.tif"),
                          min_segment_size=50))
    with rasterio.open(tmp_path / "nan_mean.tif") as m:
        valid = m.dataset_mask() > 0
        assert not valid[:40, :40].any() and valid[40:, 40:].sum() == 160 * 160 - 1
        assert np.isnan(m.nodata)
        values = m.read()
    assert np.isnan(values[:, :40, :40]).all() and np.isnan(values[:, 100, 100]).all()
    assert np.isfinite(values[:, 40:, 40:]).sum() == 3 * (160 * 160 - 1)
    # a grey scan with alpha: one band to segment by, not the alpha beside it
    _rgba(shared, tmp_path / "la.tif", bands=(2,))
    segment(SegmentConfig(str(tmp_path / "la.tif"), output=str(tmp_path / "la_mean.tif"),
                          min_segment_size=50))
    with rasterio.open(tmp_path / "la_mean.tif") as m:
        assert m.count == 1
        np.testing.assert_array_equal(m.dataset_mask() > 0, inside)


def test_a_band_that_is_nearly_one_value_is_not_stretched_into_specks(tmp_path):
    """Band 1 is one value in 99% of the pixels (a quiet band over water), with grey-level
    noise and one real feature; band 2 holds two fields. The 2-98% stretch of band 1 spans
    nothing: one grey level became 10^14 range units and every speck of noise a segment
    of its own (MIN_SEGMENT_SIZE merged them back into the fields, where it was set)."""
    from synthetic import write

    rng = np.random.default_rng(1)
    quiet = np.full((128, 128), 1000, np.uint16)
    specks = rng.random((128, 128)) < 0.01
    quiet[specks] += rng.choice([1, 2], specks.sum()).astype(np.uint16)
    quiet[40:50, 40:50] = 3000  # a feature: it must stay its own segment
    fields = np.where(np.arange(128)[None, :] < 64, 200, 2200).astype(np.uint16)
    fields = np.broadcast_to(fields, (128, 128)) + rng.integers(0, 20, (128, 128)).astype(np.uint16)
    calm = np.full((128, 128), 50, np.uint16)  # one value and noise, nothing else
    calm[specks] += rng.choice([1, 2], specks.sum()).astype(np.uint16)
    image = write(tmp_path / "quiet.tif", np.stack([quiet, fields, calm]))
    ids = tmp_path / "ids.tif"
    res = segment(SegmentConfig(image, output_segment_ids=str(ids), band_indexes=(1, 2, 3),
                                min_segment_size=1))
    got = _ids(ids)
    assert res.segments <= 4  # two fields and the feature (which straddles them: up to 4)
    feature = np.unique(got[40:50, 40:50])
    assert not set(feature) & set(np.unique(got[:30, :]))  # the feature is apart
    assert len(np.unique(got[:, :40])) == 1 and len(np.unique(got[:, 90:])) == 1
