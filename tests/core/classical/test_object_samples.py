"""One sample per segment: the majority label with its minimum share, the polygon as the
group, the cap per class, and attributes of whole segments."""

import numpy as np
import pytest

from landlearn.core.classical.object_samples import MIN_LABEL_SHARE, _PairCounts, collect_object_samples
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.errors import InputError
from landlearn.core.geo.extent import Extent
from landlearn.core.labels.base import LabelConfig
from synthetic import polygons, write

X0, Y0 = 500000, 5000000  # synthetic.write's origin; 10 m pixels


def box(r0, c0, r1, c1):
    """Map coordinates of pixel rows r0..r1, columns c0..c1 (end exclusive)."""
    return (X0 + 10 * c0, Y0 - 10 * r1, X0 + 10 * c1, Y0 - 10 * r0)


@pytest.fixture()
def scene(tmp_path):
    """Five 20 x 20 segments in a row; the image's band 1 is the segment number x 100."""
    seg = np.repeat(np.arange(1, 6, dtype=np.int32)[None, :], 20, 0).repeat(20, 1)
    img = np.stack([seg * 100, seg * 0 + 7, seg * 3]).astype(np.float32)
    return write(tmp_path / "img.tif", img), write(tmp_path / "seg.tif", seg)


def config(scene, labels, **kw):
    return ClassicalConfig(scene[0], labels, "unused.dlpk", segmented_raster=scene[1],
                           segment_attributes=("MEAN", "COUNT"), **kw)


def test_majority_share_and_groups(scene, tmp_path):
    labels = polygons(tmp_path / "l.gpkg", [
        (1, box(0, 0, 20, 20)),            # segment 1: all class 1
        (2, box(0, 20, 10, 40)),           # segment 2: half class 2 ...
        (1, box(10, 20, 20, 40)),          # ... half class 1: a tie, to the lower class
        (1, box(0, 40, 8, 60)),            # segment 3: 40% 1, 60% 2 (two polygons)
        (2, box(8, 40, 14, 60)), (2, box(14, 40, 20, 60)),
        (3, box(0, 60, 4, 80)),            # segment 4: 20% / 40% / 40%: no majority
        (2, box(4, 60, 12, 80)), (1, box(12, 60, 20, 80)),
        (3, box(0, 80, 20, 100)),          # segment 5: all class 3
    ], 32633)
    s = collect_object_samples(config(scene, LabelConfig(labels, class_field="cls")))
    assert MIN_LABEL_SHARE == 0.5
    assert list(s.y) == [1, 1, 2, 3]  # segments 1, 2, 3, 5; segment 4 left out
    np.testing.assert_array_equal(s.x[:, 0], [100, 200, 300, 500])  # MEAN of band 1
    np.testing.assert_array_equal(s.x[:, -1], [400, 400, 400, 400])  # COUNT: whole segments
    assert s.groups[0] != s.groups[1] and s.grouped_by == "polygon"
    # every polygon each segment's labelled pixels fall in, its majority one among them
    np.testing.assert_array_equal(np.bincount(s.touches[:, 0]), [1, 2, 3, 1])
    assert {(i, g) for i, g in enumerate(s.groups)} <= set(map(tuple, s.touches.tolist()))
    assert len(s.feature_names) == 4 and s.feature_names[0].startswith("mean_") and \
        s.feature_names[-1] == "count"
    assert s.segments["attributes"] == ["MEAN", "COUNT"] and s.segments["labelled_segments"] == 4
    # the pixels of each segment that carry its class: what its cross-validation counts
    np.testing.assert_array_equal(s.labelled_pixels, [400, 200, 240, 400])
    assert s.labelled_pixels_per_class == {1: 600, 2: 240, 3: 400}
    np.testing.assert_allclose(s.band_mean, [275, 7, 8.25])  # every pixel of those segments


def test_extent_limits_the_labels_not_the_segments(scene, tmp_path):
    labels = polygons(tmp_path / "l.gpkg", [(1, box(0, 0, 20, 20)), (2, box(0, 20, 20, 40))],
                      32633)
    ext = Extent(*box(0, 15, 20, 25), crs="EPSG:32633")
    s = collect_object_samples(config(scene, LabelConfig(labels, class_field="cls"),
                                      extent=ext))
    np.testing.assert_array_equal(s.x[:, -1], [400, 400])


def test_cap_per_class_and_missing_classes(scene, tmp_path):
    labels = polygons(tmp_path / "l.gpkg", [(1, box(0, 0, 20, 40)), (2, box(0, 40, 20, 60)),
                                            (3, box(0, 60, 5, 80)), (2, box(5, 60, 20, 100))],
                      32633)
    with pytest.raises(InputError, match="^SEGMENTED_RASTER: class\\(es\\) 3 'Class 3' label no "
                                         "segment .*segment more finely"):
        collect_object_samples(config(scene, LabelConfig(labels, class_field="cls")))
    labels = polygons(tmp_path / "m.gpkg", [(1, box(0, 0, 20, 40)), (2, box(0, 40, 20, 100))],
                      32633)
    s = collect_object_samples(config(scene, LabelConfig(labels, class_field="cls"),
                                      max_samples_per_class=1))
    assert sorted(s.y) == [1, 2] and s.available == {1: 2, 2: 3}


def test_pair_counts_merge_across_chunks():
    pc = _PairCounts()
    pc.add(np.array([5, 5, 9]), np.array([1, 2, 1]))
    pc.add(np.array([5, 9, 9]), np.array([2, 3, 3]))
    seg, key, n, share = pc.majority()
    assert list(seg) == [5, 9] and list(key) == [2, 3] and list(n) == [2, 2]
    np.testing.assert_allclose(share, [2 / 3, 2 / 3])


def test_pair_counts_merge_a_few_times_over_many_windows(monkeypatch):
    """Past the merge size every window re-sorted all pairs so far (30 million of them on a
    wall-to-wall label raster); now the pending pairs must outgrow the last merge first."""
    from landlearn.core.classical import object_samples

    monkeypatch.setattr(object_samples._PairCounts, "MERGE_ROWS", 1000)
    sorted_rows = []
    real = object_samples._reduce

    def counted(a, b, w):
        sorted_rows.append(len(a))
        return real(a, b, w)

    monkeypatch.setattr(object_samples, "_reduce", counted)
    pairs = object_samples._PairCounts()
    for window in range(300):
        seg = np.arange(100, dtype=np.int64) + 100 * window  # new segments in every window
        pairs.add(seg, seg % 3)
    seg, key, n = pairs.result()
    assert len(seg) == 30_000 and (n == 1).all()
    assert sum(sorted_rows) < 4 * 30_000 + 2 * 30_000  # today about 300 x 15,000


def test_the_default_attributes_on_one_band_fall_back_to_mean_aloud(scene, tmp_path):
    """ArcGIS's default COLOR;MEAN needs RGB: on one band (BANDS 1: an NDVI, a SAR band)
    the default describes segments by MEAN and says so; COLOR asked with others is refused."""
    from landlearn.core.classical.segment_attributes import DEFAULT_ATTRIBUTES
    from landlearn.core.progress import RecordingProgress

    labels = polygons(tmp_path / "l.gpkg", [(1, box(0, 0, 20, 20)), (2, box(0, 20, 20, 40))],
                      32633)
    lab = LabelConfig(labels, class_field="cls")
    cfg = ClassicalConfig(scene[0], lab, "unused.dlpk", segmented_raster=scene[1], bands=(1,))
    assert cfg.segment_attributes == DEFAULT_ATTRIBUTES
    progress = RecordingProgress()
    s = collect_object_samples(cfg, progress)
    assert s.segments["attributes"] == ["MEAN"] and s.x.shape == (2, 1)
    np.testing.assert_array_equal(s.x[:, 0], [100, 200])
    assert any("COLOR needs three bands and 1 are read (BANDS): segments are described by MEAN"
               in m for m in progress.messages)
    with pytest.raises(InputError, match="^SEGMENT_ATTRIBUTES: COLOR needs three bands"):
        collect_object_samples(ClassicalConfig(scene[0], lab, "unused.dlpk",
                                               segmented_raster=scene[1], bands=(1,),
                                               segment_attributes=("COLOR", "STD")))


def test_an_extent_in_a_turned_crs_takes_segments_inside_it_only(sample, tmp_path):
    """nc (NC State Plane) with EXTENT in UTM 17N: the object samples took the labels in
    the reprojected box's slivers too (the pixel samples had left them out; review 96).
    With one segment per pixel, the segments sampled are the labelled pixels whose
    centres lie inside EXTENT."""
    import rasterio
    from turned_extent import nc_turned_extent

    image, strata, grid, ext, counted, inside = nc_turned_extent(sample)
    with rasterio.open(image) as ds:
        ids = np.arange(1, ds.width * ds.height + 1, dtype=np.int32).reshape(ds.height, ds.width)
        segs = write(tmp_path / "each_pixel.tif", ids, crs=ds.crs, transform=ds.transform)
    got = collect_object_samples(ClassicalConfig(image, LabelConfig(strata), "unused.dlpk",
                                                 segmented_raster=segs, extent=ext,
                                                 segment_attributes=("MEAN",),
                                                 max_samples_per_class=0))
    assert (counted & ~inside).sum() > 50  # the slivers hold labels
    assert sum(got.available.values()) == int((counted & inside).sum())


def test_no_fold_trains_on_a_segment_that_shares_a_polygon_with_its_test_segments(shared,
                                                                                 tmp_path):
    """s2_osm_sparse's OSM polygons (many of them adjacent) under 12 px square segments:
    a square across two polygons was grouped by its majority one only, so the fold that
    tested it trained on the other polygon's segments (review 96). Every polygon a segment
    touches is recorded, and no fold's training shares one with its test segments."""
    import rasterio

    from landlearn.core.classical.cv import grouped_folds
    from landlearn.core.progress import NullProgress, RecordingProgress

    s2 = shared / "s2_osm_sparse"
    image = str(s2 / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    with rasterio.open(image) as ds:
        rows, cols = np.mgrid[0:ds.height, 0:ds.width] // 12
        ids = (rows * (ds.width // 12 + 1) + cols + 1).astype(np.int32)
        segs = write(tmp_path / "squares.tif", ids, crs=ds.crs, transform=ds.transform)
    labels = LabelConfig(str(s2 / "gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"),
                         class_field="fclass")
    conf = ClassicalConfig(image, labels, "unused.dlpk", segmented_raster=segs,
                           segment_attributes=("MEAN",))
    s = collect_object_samples(conf)
    t = s.touches
    assert {(i, g) for i, g in enumerate(s.groups)} <= set(map(tuple, t.tolist()))
    assert (np.bincount(t[:, 0]) >= 2).sum() > 100  # squares across polygon edges
    progress = RecordingProgress()
    folds = grouped_folds(conf, s, progress)
    s.touches = None
    plain = grouped_folds(conf, s, NullProgress())  # by majority polygon alone, as before

    def shared_polygons(train, test):
        return np.intersect1d(t[np.isin(t[:, 0], train), 1], t[np.isin(t[:, 0], test), 1])

    assert len(folds) == len(plain) == 5
    for (train, test), (all_train, same_test) in zip(folds, plain):
        np.testing.assert_array_equal(test, same_test)
        assert len(shared_polygons(train, test)) == 0
        assert len(shared_polygons(all_train, test)) > 0  # what the folds trained on before
    assert any("share a polygon with a fold's test segments" in m for m in progress.messages)


def test_a_sliver_of_a_polygon_labels_no_segment(scene, tmp_path):
    """Review 96: a 10 px corner of a water polygon made a 400 px grass segment a water
    sample. A segment's labelled pixels must cover MIN_LABELLED_SHARE of it, when the
    labels are areas; a point labels one pixel, and keeps its segment."""
    from landlearn.core.classical.object_samples import MIN_LABELLED_SHARE
    from landlearn.core.progress import RecordingProgress
    from synthetic import points

    assert MIN_LABELLED_SHARE == 0.25
    labels = polygons(tmp_path / "l.gpkg", [
        (2, box(0, 0, 2, 5)),              # segment 1: a 10 px corner (2.5%)
        (1, box(0, 20, 20, 40)),           # segment 2: all of it
        (2, box(0, 40, 5, 60)),            # segment 3: 100 px, 25%: kept
        (1, box(0, 60, 4, 80)),            # segment 4: 80 px, 20%: left out
        (2, box(0, 80, 20, 100)),          # segment 5: all of it
    ], 32633)
    progress = RecordingProgress()
    s = collect_object_samples(config(scene, LabelConfig(labels, class_field="cls")), progress)
    np.testing.assert_array_equal(s.x[:, 0], [200, 300, 500])  # segments 2, 3, 5
    assert list(s.y) == [1, 2, 2] and s.segments["min_labelled_share"] == 0.25
    assert any(m.startswith("2 more are left out: their labelled pixels cover under 25%")
               and m.endswith("(per class: Class 1 1 of 2, Class 2 1 of 3)")
               for m in progress.messages)
    # one point in each segment: all five kept
    pts = points(tmp_path / "p.gpkg", [(1 + k % 2, (X0 + 200 * k + 5, Y0 - 5)) for k in range(5)],
                 32633)
    s = collect_object_samples(config(scene, LabelConfig(pts, class_field="cls")))
    assert len(s.y) == 5 and s.segments["min_labelled_share"] == 0


def test_a_label_raster_is_held_to_the_share_too(scene, tmp_path):
    lab = np.zeros((20, 100), np.uint8)
    lab[:2, :5] = 2  # a sliver of segment 1
    lab[:, 20:40] = 1
    lab[:, 40:60] = 2
    path = write(tmp_path / "lab.tif", lab, nodata=0)
    s = collect_object_samples(config(scene, LabelConfig(path)))
    np.testing.assert_array_equal(s.x[:, 0], [200, 300])


def test_a_class_labelling_only_thin_segments_keeps_them_said(scene, tmp_path):
    """A class whose every segment its labels cover under MIN_LABELLED_SHARE would vanish
    from the model (nc's class 7 at a 0.5 share stopped the run): its segments are kept,
    with a warning; the other classes' thin segments still go."""
    from landlearn.core.progress import RecordingProgress

    labels = polygons(tmp_path / "l.gpkg", [
        (3, box(0, 0, 2, 5)),              # segment 1: class 3's only one, 10 px (2.5%)
        (1, box(0, 20, 20, 40)),           # segment 2: all of it
        (1, box(0, 60, 4, 80)),            # segment 4: 20%, class 1 has segment 2: left out
        (2, box(0, 80, 20, 100)),          # segment 5: all of it
    ], 32633)
    progress = RecordingProgress()
    s = collect_object_samples(config(scene, LabelConfig(labels, class_field="cls")), progress)
    np.testing.assert_array_equal(s.x[:, 0], [100, 200, 500])  # segments 1, 2, 5
    assert list(s.y) == [3, 1, 2]
    assert any(w.startswith("Class(es) 3 'Class 3' label segments only where their labels "
                            "cover under 25%") for w in progress.warnings)
    assert any(m.startswith("1 more are left out") for m in progress.messages)
