"""refine.refine_classification on a real noisy map: segments, a minimum mapping unit,
the same result in tiles as in one piece, as GDAL's sieve does, and clear refusals."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import Grid
from landlearn.core.refine import RefineConfig, refine_classification

pytest.importorskip("scipy")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds


def _specks(arr, connectivity=4, under=4):
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    n = 0
    for v in np.unique(arr[arr > 0]):
        lab, _ = ndimage.label(arr == v, structure)
        n += int((np.bincount(lab.ravel())[1:] < under).sum())
    return n


@pytest.mark.heavy
@pytest.mark.parametrize("source,kw", [
    ("rf.tif", dict(segmented="segments.tif")),
    ("rf.tif", dict(min_region_size=8)),
    ("rf.tif", dict(min_region_size=8, connectivity=8)),
    ("rf_prob.tif", dict(segmented="segments.tif", min_region_size=4)),
    ("rf_prob.tif", dict(min_region_size=8, merge_into="similar")),
])
def test_tiled_equals_untiled_and_specks_go(rf_maps, tmp_path, source, kw):
    kw = dict(kw)
    seg = kw.pop("segmented", None)
    outs = []
    for tile in (1024, 64):
        out = tmp_path / f"out{tile}.tif"
        res = refine_classification(RefineConfig(
            str(rf_maps / source), str(out), segmented_raster=seg and str(rf_maps / seg),
            tile_size=tile, **kw))
        outs.append(_read(out)[0])
    np.testing.assert_array_equal(outs[0], outs[1])
    before = _read(rf_maps / "rf.tif")[0]
    after = outs[0]
    assert (after[before == 0] == 0).all() and (after[before > 0] > 0).all()  # NoData kept
    assert 0 < res.changed == int((after != before).sum()) < before.size
    assert _specks(before) > 1000 and _specks(after, kw.get("connectivity", 4)) < \
        _specks(before) / 20
    with rasterio.open(tmp_path / "out1024.tif") as ds, \
            rasterio.open(rf_maps / "rf.tif") as src:
        assert ds.colormap(1)[1] == src.colormap(1)[1] and ds.nodata == 0
        assert ds.transform == src.transform and ds.crs == src.crs
    assert (tmp_path / "out1024.qml").exists()


def test_segments_give_one_class_per_segment_the_majority(rf_maps, tmp_path):
    refine_classification(RefineConfig(str(rf_maps / "rf.tif"), str(tmp_path / "o.tif"),
                                       segmented_raster=str(rf_maps / "segments.tif")))
    seg, before, after = (_read(p)[0] for p in (rf_maps / "segments.tif", rf_maps / "rf.tif",
                                                 tmp_path / "o.tif"))
    for s in np.unique(seg)[1:40]:
        inside = (seg == s) & (before > 0)
        votes = np.bincount(before[inside], minlength=256)
        assert set(np.unique(after[inside])) == {votes.argmax()}


def test_the_minimum_mapping_unit_matches_gdals_sieve(rf_maps, tmp_path):
    """GDAL's sieve (QGIS's Sieve) also merges regions under a size into their largest
    neighbour: the maps agree but for ties, which GDAL breaks by its polygon order."""
    from osgeo import gdal

    for connectivity in (4, 8):
        out = tmp_path / f"mmu{connectivity}.tif"
        refine_classification(RefineConfig(str(rf_maps / "rf.tif"), str(out),
                                           min_region_size=8, connectivity=connectivity))
        src = gdal.Open(str(rf_maps / "rf.tif"))
        dst = gdal.GetDriverByName("GTiff").CreateCopy(str(tmp_path / "gdal.tif"), src)
        band = src.GetRasterBand(1)
        gdal.SieveFilter(band, band.GetMaskBand(), dst.GetRasterBand(1), 8, connectivity)
        dst = None
        ours, theirs = _read(out)[0], _read(tmp_path / "gdal.tif")[0]
        assert (ours == theirs).mean() > 0.999


def test_hectares_and_clear_refusals(rf_maps, tmp_path):
    rf = str(rf_maps / "rf.tif")
    res = refine_classification(RefineConfig(rf, str(tmp_path / "ha.tif"), min_region_size=1,
                                             size_unit="hectares"))
    # 1 ha is 12.3 pixels of 28.5 m: a 12-pixel region (0.97 ha) is under it, 13 is not
    assert res.min_pixels == 13
    for kw, message in (
            (dict(), "^SEGMENTED_RASTER: nothing to refine"),
            (dict(min_region_size=-1), "^MIN_REGION_SIZE: -1 is not a size"),
            (dict(min_region_size=4, connectivity=6), "^CONNECTIVITY: 6 is not 4 or 8"),
            (dict(min_region_size=4, merge_into="similar"), "^MERGE_INTO: 'similar' compares"),
            (dict(segmented_raster=str(rf_maps / "rf_prob.tif")),  # 7 float bands
             "^SEGMENTED_RASTER: .* has 7 bands; segment ids are one band")):
        with pytest.raises(InputError, match=message):
            refine_classification(RefineConfig(rf, str(tmp_path / "x.tif"), **kw))
    with pytest.raises(InputError, match="^OUTPUT: .*"):
        refine_classification(RefineConfig(rf, rf, min_region_size=4))
    # a unit larger than the map merges it all into one class: said
    from landlearn.core.progress import RecordingProgress

    progress = RecordingProgress()
    refine_classification(RefineConfig(rf, str(tmp_path / "all.tif"), min_region_size=10**6),
                          progress)
    assert any(w.startswith("MIN_REGION_SIZE: 1,000,000 px is more than the whole map")
               for w in progress.warnings)
    assert any("into the largest neighbour" in m for m in progress.messages)
    assert not (tmp_path / "x.tif").exists()


def test_segments_on_another_grid_and_maps_of_other_kinds_are_refused(rf_maps, tmp_path,
                                                                       sample):
    rf = str(rf_maps / "rf.tif")
    other = tmp_path / "shifted.tif"
    with rasterio.open(rf_maps / "segments.tif") as ds:
        profile = ds.profile
        profile.update(transform=Grid(ds.crs, ds.transform, ds.width, ds.height)
                       .window_transform(Window(1, 0, ds.width, ds.height)))
        data = ds.read()
    with rasterio.open(other, "w", **profile) as ds:
        ds.write(data)
    with pytest.raises(InputError, match="^SEGMENTED_RASTER: .* a grid other than "
                                         "INPUT_RASTER's: .*Align Rasters"):
        refine_classification(RefineConfig(rf, str(tmp_path / "x.tif"),
                                           segmented_raster=str(other)))
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    with pytest.raises(InputError, match="^INPUT_RASTER: .* neither a class map .* nor class "
                                         "probabilities"):
        refine_classification(RefineConfig(image, str(tmp_path / "x.tif"), min_region_size=4))
    assert not (tmp_path / "x.tif").exists()
    # refused with OUTPUT in folders that do not exist yet: none is left made (a sweep,
    # stop 71: the folders were made before the input was read)
    with pytest.raises(InputError, match="^INPUT_RASTER: .* neither a class map"):
        refine_classification(RefineConfig(image, str(tmp_path / "new" / "sub" / "x.tif"),
                                           min_region_size=4))
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="^OUTPUT: cannot create the folder .*'.*file' is a "
                                         "file"):
        refine_classification(RefineConfig(str(rf_maps / "rf.tif"),
                                           str(tmp_path / "file" / "sub" / "x.tif"),
                                           min_region_size=4))


def test_a_class_map_from_another_tool_keeps_its_colours(rf_maps, tmp_path):
    """No LandLearn tag: the classes are the values the map holds, with its colour table."""
    arr, _ = _read(rf_maps / "rf.tif")
    with rasterio.open(rf_maps / "rf.tif") as ds:
        profile = dict(driver="GTiff", width=ds.width, height=ds.height, count=1,
                       dtype="uint8", crs=ds.crs, transform=ds.transform, nodata=0)
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", **profile) as ds:
        ds.write(arr[None])
        ds.write_colormap(1, {3: (10, 20, 30, 255)})
    refine_classification(RefineConfig(str(plain), str(tmp_path / "o.tif"),
                                       segmented_raster=str(rf_maps / "segments.tif")))
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert ds.colormap(1)[3] == (10, 20, 30, 255)
        names = [c["Name"] for c in json.loads(ds.tags()["LANDLEARN_CLASSES"])]
    assert names == [f"Class {v}" for v in np.unique(arr) if v > 0]


def _write(path, arr, res=10.0, tags=None, dtype=None):
    from rasterio.transform import from_origin

    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0],
                       count=1, dtype=dtype or arr.dtype, crs="EPSG:32617", nodata=0,
                       transform=from_origin(500000, 4000000, res, res)) as ds:
        ds.write(arr[None].astype(dtype or arr.dtype))
        if tags:
            ds.update_tags(**tags)
    return str(path)


def test_edge_cases_found_by_an_adversarial_sweep(tmp_path):
    """All NoData; exact hectares; negative segment ids; a class list out of value order;
    a unit of one pixel; an infinite unit."""
    empty = _write(tmp_path / "empty.tif", np.zeros((20, 30), np.uint8))
    segs = _write(tmp_path / "segs.tif", np.arange(600).reshape(20, 30) // 7 - 40,
                  dtype="int32")
    for kw in (dict(min_region_size=3), dict(segmented_raster=segs)):
        refine_classification(RefineConfig(empty, str(tmp_path / "o.tif"), **kw))
        assert (_read(tmp_path / "o.tif")[0] == 0).all()
    # 0.07 ha of 10 m pixels is exactly 7 pixels: a 7-pixel region is not under it
    cls = np.full((10, 10), 1, np.uint8)
    cls[0, :7] = 2
    m = _write(tmp_path / "m.tif", cls)
    res = refine_classification(RefineConfig(m, str(tmp_path / "o.tif"), min_region_size=0.07,
                                             size_unit="hectares"))
    assert res.min_pixels == 7 and (_read(tmp_path / "o.tif")[0] == cls).all()
    # negative ids are ids: the segments of -40..45 all vote (0 is the raster's NoData)
    noisy = np.random.default_rng(0).integers(1, 3, (20, 30)).astype(np.uint8)
    n = _write(tmp_path / "n.tif", noisy)
    refine_classification(RefineConfig(n, str(tmp_path / "o.tif"), segmented_raster=segs))
    out, seg = _read(tmp_path / "o.tif")[0], _read(tmp_path / "segs.tif")[0]
    assert (out[seg == 0] == noisy[seg == 0]).all()
    for s in np.unique(seg[seg != 0]):
        votes = np.bincount(noisy[seg == s], minlength=3)
        assert set(np.unique(out[seg == s])) == {votes.argmax()}  # ties: the lower value
    # a class list written out of value order still ties to the lower value
    tag = json.dumps([{"Value": 3, "Name": "c", "Color": [1, 2, 3]},
                      {"Value": 1, "Name": "a", "Color": [4, 5, 6]}])
    t = _write(tmp_path / "t.tif", np.array([[1, 3, 1, 3]], np.uint8),
               tags={"LANDLEARN_CLASSES": tag})
    one = _write(tmp_path / "one.tif", np.ones((1, 4), np.int32), dtype="int32")
    refine_classification(RefineConfig(t, str(tmp_path / "o.tif"), segmented_raster=one))
    assert (_read(tmp_path / "o.tif")[0] == 1).all()
    with pytest.raises(InputError, match="^MIN_REGION_SIZE: 1 pixels is at most one pixel"):
        refine_classification(RefineConfig(m, str(tmp_path / "x.tif"), min_region_size=1))
    with pytest.raises(InputError, match="^MIN_REGION_SIZE: inf is not a size"):
        refine_classification(RefineConfig(m, str(tmp_path / "x.tif"),
                                           min_region_size=float("inf")))


def test_output_problems_stop_the_run_before_any_pass(rf_maps, tmp_path, monkeypatch):
    """A foreign style beside OUTPUT, or too little disk for the region ids: each stops
    before the input is read, naming OUTPUT."""
    import importlib

    from landlearn.core.geo import sizes

    rc = importlib.import_module("landlearn.core.refine.refine_classification")

    rf = str(rf_maps / "rf.tif")
    reads = []
    real = rc.RefineInput.read
    monkeypatch.setattr(rc.RefineInput, "read", lambda self, win: reads.append(win) or real(self, win))
    (tmp_path / "theirs.qml").write_text("<qgis>someone's style</qgis>")
    with pytest.raises(InputError, match="^OUTPUT: .*theirs.qml"):
        rc.refine_classification(RefineConfig(rf, str(tmp_path / "theirs.tif"),
                                              min_region_size=8))
    monkeypatch.setattr(sizes, "free_bytes", lambda folder: 1000)
    with pytest.raises(InputError, match="^OUTPUT: disk full ahead"):
        rc.refine_classification(RefineConfig(rf, str(tmp_path / "x.tif"), min_region_size=8,
                                              segmented_raster=str(rf_maps / "segments.tif")))
    assert reads == [] and not (tmp_path / "x.tif").exists()
    assert (tmp_path / "theirs.qml").read_text() == "<qgis>someone's style</qgis>"


def test_pixels_left_unclassified_by_the_confidence_threshold_stay_so(rf, sample, tmp_path):
    """Classify Pixels' class map leaves pixels under CONFIDENCE_THRESHOLD at 0 while its
    probabilities keep them; refining the probabilities filled them (NoData stays NoData)."""
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(tmp_path / "map.tif"),
                                   output_probabilities=str(tmp_path / "p.tif"),
                                   confidence_threshold=0.5))
    mapped, _ = _read(tmp_path / "map.tif")
    assert 0.05 < (mapped == 0).mean() < 0.95  # the threshold left many pixels out
    for kw in (dict(min_region_size=8, merge_into="similar"),
               dict(segmented_raster=str(tmp_path / "seg.tif"))):
        if "segmented_raster" in kw and not (tmp_path / "seg.tif").exists():
            from landlearn.core.segment import SegmentConfig, segment

            segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "seg.tif")))
        out = tmp_path / f"refined_{len(kw)}_{sorted(kw)[0]}.tif"
        refine_classification(RefineConfig(str(tmp_path / "p.tif"), str(out), **kw))
        refined, _ = _read(out)
        assert (refined[mapped == 0] == 0).all()
        assert (refined[mapped > 0] > 0).all()


def test_hectares_on_web_mercator_are_warned_about(tmp_path):
    """At 60° N a Web Mercator hectare is a quarter hectare of ground."""
    from landlearn.core.progress import RecordingProgress
    from synthetic import write

    rng = np.random.default_rng(0)
    classes = rng.integers(1, 3, (40, 40)).astype(np.uint8)
    north = write(tmp_path / "north.tif", classes, crs="EPSG:3857", nodata=0,
                  transform=rasterio.transform.from_origin(1_000_000, 8_399_000, 10, 10))
    progress = RecordingProgress()
    refine_classification(RefineConfig(north, str(tmp_path / "r.tif"), min_region_size=0.1,
                                       size_unit="hectares"), progress)
    assert any("a hectare on the map is 0.25 ha on the ground" in w for w in progress.warnings)
    utm = write(tmp_path / "utm.tif", classes, nodata=0)
    progress = RecordingProgress()
    refine_classification(RefineConfig(utm, str(tmp_path / "u.tif"), min_region_size=0.1,
                                       size_unit="hectares"), progress)
    assert not any("Mercator" in w for w in progress.warnings)


def test_region_joins_are_kept_once_per_pair_not_per_border_pixel():
    from landlearn.core.refine.regions import RegionGraph

    graph = RegionGraph(8, 1)
    cls = np.ones((64, 64), np.uint8)
    tiles = {}
    for r in range(0, 256, 64):
        for c in range(0, 256, 64):
            tiles[r, c] = graph.add_tile(cls, None, r, c, 256)
    for (r, c), g in tiles.items():
        if c:
            graph.border_line(tiles[r, c - 64][:, -1], cls[:, -1], g[:, 0], cls[:, 0])
        if r:
            graph.border_line(tiles[r - 64, c][-1], cls[-1], g[0], cls[0])
    assert sum(len(j) for j in graph.joins) <= 3 * 24  # 24 tile borders (was 24 x 190)


def test_a_segment_raster_without_nodata_is_warned_about(tmp_path):
    """Parcels burnt by gdal_rasterize without -a_nodata: the background's 0 is one huge
    'segment' that takes one class. Said (naming SEGMENTED_RASTER and the fix); Segment's
    own ids (NoData 0) are not."""
    from rasterio.transform import from_origin

    from landlearn.core.progress import RecordingProgress

    cls = np.random.default_rng(1).integers(1, 3, (20, 30)).astype(np.uint8)
    m = _write(tmp_path / "m.tif", cls)
    parcels = np.zeros((20, 30), np.int32)
    parcels[2:8, 3:12] = 5
    with rasterio.open(tmp_path / "parcels.tif", "w", driver="GTiff", width=30, height=20,
                       count=1, dtype="int32", crs="EPSG:32617",
                       transform=from_origin(500000, 4000000, 10, 10)) as ds:
        ds.write(parcels[None])
    progress = RecordingProgress()
    refine_classification(RefineConfig(m, str(tmp_path / "o.tif"),
                                       segmented_raster=str(tmp_path / "parcels.tif")), progress)
    assert any(w.startswith("SEGMENTED_RASTER") and "declares no NoData" in w
               and "-a_nodata" in w for w in progress.warnings)
    declared = _write(tmp_path / "declared.tif", parcels, dtype="int32")
    progress = RecordingProgress()
    refine_classification(RefineConfig(m, str(tmp_path / "o2.tif"), segmented_raster=declared),
                          progress)
    assert not any("declares no NoData" in w for w in progress.warnings)
    # parcels covering every pixel (ids from 1 on, nothing declared): nothing to warn about
    with rasterio.open(tmp_path / "full.tif", "w", driver="GTiff", width=30, height=20,
                       count=1, dtype="int32", crs="EPSG:32617",
                       transform=from_origin(500000, 4000000, 10, 10)) as ds:
        ds.write(parcels[None] + 1)
    full = str(tmp_path / "full.tif")
    progress = RecordingProgress()
    refine_classification(RefineConfig(m, str(tmp_path / "o3.tif"), segmented_raster=full),
                          progress)
    assert not any("declares no NoData" in w for w in progress.warnings)


def test_the_background_check_reads_blocks_spread_over_a_large_raster(tmp_path, monkeypatch):
    """Past ZERO_CHECK_PIXELS the check reads blocks spread over the raster, not all of it:
    a background band in the middle is found, ids from 1 on are not warned about."""
    from landlearn.core.geo import segments

    monkeypatch.setattr(segments, "ZERO_CHECK_PIXELS", 1000)
    ids = np.arange(1, 512 * 512 + 1, dtype=np.int32).reshape(512, 512)
    reads = []
    for name, zero in (("full", False), ("band", True)):
        if zero:
            ids[240:280] = 0
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=512,
                           height=512, count=1, dtype="int32", tiled=True, blockxsize=16,
                           blockysize=16) as ds:
            ds.write(ids[None])
        with rasterio.open(tmp_path / f"{name}.tif") as ds:

            class Counted:  # the dataset, its reads counted
                width, height, block_shapes = ds.width, ds.height, ds.block_shapes

                def read(self, band, window):
                    reads.append(window.width * window.height)
                    return ds.read(band, window=window)

            assert segments._zero_in(Counted()) == zero
    assert len(reads) <= 2 * 256 and max(reads) == 256 and sum(reads) < 2 * 512 * 512


def test_hectares_in_feet_and_settings_a_unit_of_zero_does_not_use(tmp_path):
    import os

    from synthetic import write

    rng = np.random.default_rng(2)
    classes = rng.integers(1, 3, (20, 20)).astype(np.uint8)
    # a state plane in US survey feet: 10 ft pixels are 9.29 m², 0.1 ha is 107.6 of them
    feet = write(tmp_path / "ft.tif", classes, crs="EPSG:2263", nodata=0)
    res = refine_classification(RefineConfig(feet, str(tmp_path / "r.tif"),
                                             min_region_size=0.1, size_unit="hectares"))
    assert res.min_pixels == 108
    # segments only, unit 0: hectares on degrees and 'similar' on a class map merge nothing
    lonlat = write(tmp_path / "ll.tif", classes, crs="EPSG:4326", nodata=0,
                   transform=rasterio.transform.from_origin(10, 50, 0.001, 0.001))
    segments = write(tmp_path / "s.tif", (np.arange(400).reshape(20, 20) // 40 + 1)
                     .astype(np.int32), crs="EPSG:4326", nodata=0,
                     transform=rasterio.transform.from_origin(10, 50, 0.001, 0.001))
    refine_classification(RefineConfig(lonlat, str(tmp_path / "s_out.tif"),
                                       segmented_raster=segments, size_unit="hectares",
                                       merge_into="similar"))
    with pytest.raises(InputError, match="^SIZE_UNIT: .*geographic"):
        refine_classification(RefineConfig(lonlat, str(tmp_path / "x.tif"),
                                           min_region_size=1, size_unit="hectares"))
    # a refused input is closed, not left open (locked on Windows)
    multi = write(tmp_path / "m.tif", np.stack([classes, classes]))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(InputError, match="^INPUT_RASTER: .* neither a class map"):
            refine_classification(RefineConfig(multi, str(tmp_path / "x.tif"),
                                               min_region_size=4))
    assert len(os.listdir("/proc/self/fd")) < before + 5


def test_a_tagged_class_map_made_float_is_still_a_class_map(tmp_path, rf_maps):
    """gdal_translate -ot Float32 keeps the LANDLEARN_CLASSES tag of a class map naming all
    its classes: it was read as probabilities and refused as "altered" (review 91). It is
    refined as the map it was; a unit of one pixel beside segments is said, not dropped;
    the merging settings a unit of 0 does not use are not checked."""
    from landlearn.core.progress import NullProgress

    class Kept(NullProgress):
        def __init__(self):
            self.warnings = []

        def warning(self, text):
            self.warnings.append(text)

    src = str(rf_maps / "rf.tif")
    with rasterio.open(src) as ds:
        profile = dict(ds.profile, dtype="float32", nodata=None)
        data, tags = ds.read(1), ds.tags()
    assert len(json.loads(tags["LANDLEARN_CLASSES"])) > 1
    as_float = tmp_path / "float_map.tif"
    with rasterio.open(as_float, "w", **profile) as dst:
        dst.write(np.where(data == 0, np.nan, data).astype(np.float32)[None])
        dst.update_tags(**tags)
    refine_classification(RefineConfig(src, str(tmp_path / "a.tif"), min_region_size=6))
    refine_classification(RefineConfig(str(as_float), str(tmp_path / "b.tif"),
                                       min_region_size=6))
    a, _ = _read(tmp_path / "a.tif")
    b, _ = _read(tmp_path / "b.tif")
    assert (a == b).all() and (a != data).any()

    segments = str(rf_maps / "segments.tif")
    kept = Kept()
    refine_classification(RefineConfig(src, str(tmp_path / "c.tif"), segmented_raster=segments,
                                       min_region_size=1, connectivity=8), kept)
    assert any(w.startswith("MIN_REGION_SIZE: 1 pixels is at most one pixel") for w in
               kept.warnings)
    RefineConfig(src, str(tmp_path / "d.tif"), segmented_raster=segments, connectivity=6,
                 size_unit="acres", merge_into="nearest").validate()  # unit 0: unused
    with pytest.raises(InputError, match="^CONNECTIVITY"):
        RefineConfig(src, str(tmp_path / "d.tif"), min_region_size=4, connectivity=6).validate()


def test_a_class_0_its_nodata_does_not_mark_is_said_to_become_nodata(tmp_path):
    """A uint8 map with NoData 255 holding class 0 (1229 px in a sweep, stop 71): the
    refined map keeps 0 for NoData, and those pixels went without a word. Said now; a map
    whose NoData is 0 says nothing."""
    from landlearn.core.progress import RecordingProgress
    from synthetic import write

    arr = np.ones((40, 40), np.uint8)
    arr[:, 20:] = 2
    arr[5:15, 5:15] = 0
    arr[30:, 30:] = 255
    path = write(tmp_path / "map.tif", arr, nodata=255)
    progress = RecordingProgress()
    refine_classification(RefineConfig(path, str(tmp_path / "out.tif"), min_region_size=4),
                          progress)
    said = [w for w in progress.warnings if "class value 0" in w]
    assert len(said) == 1 and "NoData (255)" in said[0] and "Reclassify" in said[0]
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert (ds.read(1)[5:15, 5:15] == 0).all()
    quiet = RecordingProgress()
    refine_classification(RefineConfig(write(tmp_path / "zero.tif", arr, nodata=0),
                                       str(tmp_path / "out0.tif"), min_region_size=4), quiet)
    assert not [w for w in quiet.warnings if "class value 0" in w]
