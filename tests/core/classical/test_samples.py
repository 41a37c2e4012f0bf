"""classical.samples: training pixels straight from a raster and its labels, capped per class,
grouped by polygon (or block), never on NoData."""

import numpy as np
import pytest
import rasterio

from landlearn.core.classical.samples import BLOCK, _Reservoir, collect_samples
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from synthetic import write


def _nc(sample):
    nc = sample / "nc_landsat7"
    return (str(nc / "landsat_multiband.tif"),
            LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label"),
            LabelConfig(str(nc / "strata.tif")))


def test_samples_are_stratified_capped_and_grouped_by_polygon(sample):
    image, polys, _ = _nc(sample)
    s = collect_samples(image, polys, max_per_class=100, seed=3)
    counts = {int(v): int((s.y == v).sum()) for v in np.unique(s.y)}
    assert counts == {v: min(100, s.available[v]) for v in s.available}
    assert s.grouped_by == "polygon" and s.x.shape == (len(s.y), 5)
    # each group is one polygon, so one class
    for g in np.unique(s.groups):
        assert len(np.unique(s.y[s.groups == g])) == 1
    assert 25 <= len(np.unique(s.groups)) <= 34
    with rasterio.open(image) as ds:
        assert s.x.min() > ds.nodata  # never a NoData pixel
    everything = collect_samples(image, polys, max_per_class=0)
    assert {int(v): int((everything.y == v).sum()) for v in np.unique(everything.y)} == \
        everything.available
    again = collect_samples(image, polys, max_per_class=100, seed=3)
    np.testing.assert_array_equal(again.x, s.x)  # reproducible with a seed


def test_polygons_carry_their_places_for_a_one_pixel_buffer(tmp_path):
    """Without windows a sample's place rides along with its polygon: a fold leaves out its
    training samples that touch one of its test samples across a polygon edge (a field
    drawn as two polygons), where joining touching polygons into one group took whole
    classes out of training."""
    from landlearn.core.classical.cv import buffered
    from synthetic import polygons

    x0, y0 = 500000, 5000000
    image = write(tmp_path / "img.tif", np.random.default_rng(0).integers(
        1, 100, (2, 30, 40)).astype(np.uint16))
    labels = polygons(tmp_path / "l.gpkg", [(1, (x0, y0 - 200, x0 + 200, y0)),
                                            (1, (x0 + 200, y0 - 200, x0 + 400, y0)),
                                            (2, (x0, y0 - 300, x0 + 100, y0 - 250))], 32633)
    s = collect_samples(image, LabelConfig(labels, class_field="cls"), max_per_class=0)
    assert s.reach == 1 and s.positions.shape == (len(s.y), 2)
    rows, cols = s.positions.T
    field = rows < 20
    assert set(np.unique(s.groups[field & (cols < 20)])) != \
        set(np.unique(s.groups[field & (cols >= 20)]))
    # the second polygon tested: the first's column beside it leaves training
    test = np.flatnonzero(field & (cols >= 20))
    train = np.flatnonzero(field & (cols < 20))
    (kept, _), = buffered([(train, test)], s.positions, s.reach)[0]
    assert set(cols[kept]) == set(range(19))


def _scene(tmp_path):
    """Bands that say where a pixel is (row + 1, column + 1, 7), a NoData square, and a
    label raster of classes 1 (most pixels), 2 (a few) and 3 (only on NoData, partly)."""
    rows, cols = np.indices((150, 200))
    image = np.stack([rows + 1, cols + 1, np.full_like(rows, 7)]).astype(np.uint16)
    image[:, 20:60, 30:90] = 0  # NoData
    labels = np.zeros((150, 200), np.uint8)
    labels[:100, :] = 1
    labels[120:130, 150:160] = 2  # 100 pixels
    labels[25:35, 40:50] = 3  # all on NoData
    labels[30:40, 85:95] = 3  # half on NoData: 50 valid pixels
    return (write(tmp_path / "img.tif", image, nodata=0), write(tmp_path / "lab.tif", labels, nodata=0),
            image, labels)


def test_collect_samples_caps_each_class_and_never_samples_nodata(tmp_path):
    img, lab, image, labels = _scene(tmp_path)
    valid = np.any(image != 0, axis=0)
    s = collect_samples(img, LabelConfig(lab), max_per_class=60, seed=2)
    truth = {v: int(((labels == v) & valid).sum()) for v in (1, 2, 3)}
    assert s.available == truth and truth[3] == 50
    assert {int(v): int((s.y == v).sum()) for v in (1, 2, 3)} == {1: 60, 2: 60, 3: 50}
    assert s.x.shape == (170, 3) and s.grouped_by == "64 px block"
    assert s.band_names == ["Band_1", "Band_2", "Band_3"] and s.cell_size == (10.0, 10.0)
    row, col = s.x[:, 0].astype(int) - 1, s.x[:, 1].astype(int) - 1
    assert np.all(valid[row, col])  # never a NoData pixel
    np.testing.assert_array_equal(labels[row, col], s.y)  # each sample's own class
    assert len(set(zip(row, col))) == len(row)  # no pixel twice
    # label rasters are grouped by 64-pixel blocks of the image
    np.testing.assert_array_equal(s.groups, (row // BLOCK) * 1_000_000 + col // BLOCK)
    # no cap: every labelled valid pixel
    everything = collect_samples(img, LabelConfig(lab), max_per_class=0)
    assert len(everything.y) == sum(truth.values())


def test_with_wide_windows_the_blocks_are_four_halos_wide(tmp_path):
    """63 px windows reach 31 px into the next 64 px block: pixels with nearly the same
    features fell on both sides of the cross-validation. The blocks grow to 4 halos."""
    from landlearn.core.classical.neighbourhood import Neighbourhood

    img, lab, _image, _labels = _scene(tmp_path)
    s = collect_samples(img, LabelConfig(lab), max_per_class=0,
                        neighbourhood=Neighbourhood((3, 63), "mean"))
    row, col = s.x[:, 0].astype(int) - 1, s.x[:, 1].astype(int) - 1
    assert s.grouped_by == "124 px block"
    np.testing.assert_array_equal(s.groups, (row // 124) * 1_000_000 + col // 124)
    # each sample's place rides along, for the folds' buffer of two halos (cv.buffered)
    np.testing.assert_array_equal(s.positions, np.column_stack([row, col]))
    assert s.reach == 62


def test_labels_only_on_nodata_are_refused(tmp_path):
    img, _, image, _ = _scene(tmp_path)
    labels = np.zeros((150, 200), np.uint8)
    labels[25:35, 40:50] = 1
    labels[40:45, 40:50] = 2
    lab = write(tmp_path / "nd.tif", labels, nodata=0)
    with pytest.raises(InputError, match="^LABELS: no labelled pixel falls on valid image data"):
        collect_samples(img, LabelConfig(lab))
    labels[100:110, 100:110] = 1  # class 1 now has data, class 2 still only NoData
    lab = write(tmp_path / "nd2.tif", labels, nodata=0)
    with pytest.raises(InputError, match="^LABELS: class\\(es\\) 2 'Class 2' have no labelled"):
        collect_samples(img, LabelConfig(lab))


def test_the_reservoir_keeps_a_uniform_sample_of_the_cap():
    r = _Reservoir(100, seed=0)
    for batch in range(20):  # 20 batches of 50 rows, trimmed as they come
        r.add(1, np.full((50, 1), float(batch)), np.full(50, batch))
        assert sum(len(p[0]) for p in r.parts[1]) <= 4 * 100 + 50
    keys, x, groups = r.result(1)
    assert len(keys) == len(x) == len(groups) == 100
    np.testing.assert_array_equal(x[:, 0], groups)
    per_batch = np.bincount(groups, minlength=20)
    assert per_batch.min() >= 1 and per_batch.max() <= 15  # every batch had its chance
    # fewer rows than the cap: all of them
    small = _Reservoir(100, seed=0)
    small.add(2, np.ones((30, 2)), np.zeros(30))
    assert len(small.result(2)[1]) == 30


def test_points_in_a_layer_of_no_declared_geometry_type_count_as_points(shared, sample,
                                                                        tmp_path):
    """A GeoPackage of points saved with a generic GEOMETRY type: the report said the
    cross-validation grouped polygons."""
    from osgeo import gdal, ogr

    from landlearn.core.classical.samples import all_points

    nc = shared / "nc_landsat7"
    generic = str(tmp_path / "generic.gpkg")
    gdal.VectorTranslate(generic, str(nc / "landsat96_points.shp"), format="GPKG",
                         geometryType="GEOMETRY")
    ds = ogr.Open(generic)
    assert ds.GetLayer(0).GetGeomType() == ogr.wkbUnknown
    ds = None
    assert all_points(LabelConfig(generic, class_field="id"))
    assert all_points(LabelConfig(str(nc / "landsat96_points.shp"), class_field="id"))
    mixed = str(tmp_path / "mixed.gpkg")
    gdal.VectorTranslate(mixed, str(sample / "nc_landsat7" / "landsat96_polygons.shp"),
                         format="GPKG",
                         geometryType="GEOMETRY")
    assert not all_points(LabelConfig(mixed, class_field="id"))


def test_a_class_outside_extent_is_named_with_extent(tmp_path):
    """Water labelled only east of EXTENT: the error said to label it 'where the raster has
    data', which it is; it names EXTENT now."""
    from landlearn.core.geo.extent import Extent

    rng = np.random.default_rng(0)
    image = write(tmp_path / "img.tif", rng.integers(1, 200, (2, 40, 40)).astype(np.uint8))
    labels = np.zeros((40, 40), np.uint8)
    labels[:, :10], labels[:, 10:20], labels[:, 30:] = 1, 2, 3
    lab = write(tmp_path / "lab.tif", labels, nodata=0)
    west = Extent(500000, 5000000 - 400, 500000 + 200, 5000000, "EPSG:32633")
    with pytest.raises(InputError, match="^LABELS: class\\(es\\) 3 'Class 3' have no labelled "
                                         "pixel on valid image data inside EXTENT; widen"):
        collect_samples(image, LabelConfig(lab), extent=west)
    assert set(collect_samples(image, LabelConfig(lab)).y) == {1, 2, 3}


def test_with_windows_polygons_a_window_apart_are_one_group(tmp_path):
    """Polygons two pixels apart share most of their 9 px windows: grouped by polygon alone,
    one was tested on features made of the other's pixels the fold trained on. They are one
    group now (linked through the 16 px blocks, four halos, their samples share); polygons
    far apart stay apart, and without windows each polygon is its own group."""
    from landlearn.core.classical.neighbourhood import Neighbourhood
    from synthetic import polygons

    img, _, _, _ = _scene(tmp_path)

    def box(r0, r1, c0, c1):  # rows/columns of the 10 m grid at (500000, 5000000)
        return (500000 + c0 * 10, 5000000 - r1 * 10, 500000 + c1 * 10, 5000000 - r0 * 10)

    gpkg = polygons(tmp_path / "p.gpkg", [(1, box(100, 108, 98, 105)),   # A
                                          (2, box(100, 108, 107, 111)),  # B: 2 px from A
                                          (1, box(100, 108, 150, 158)),  # C: far
                                          (2, box(70, 78, 150, 158))],   # D: far
                    32633)
    labels = LabelConfig(gpkg, class_field="cls")

    def groups_of(s):
        row, col = s.x[:, 0].astype(int) - 1, s.x[:, 1].astype(int) - 1
        where = {"A": (col < 106) & (row >= 100), "B": (col >= 106) & (col < 120),
                 "C": (col >= 150) & (row >= 100), "D": row < 80}
        out = {}
        for name, sel in where.items():
            assert sel.any()
            (g,) = np.unique(s.groups[sel])  # a polygon is never split
            out[name] = g
        return out

    s = collect_samples(img, labels, max_per_class=0, neighbourhood=Neighbourhood((3, 9), "mean"))
    g = groups_of(s)
    assert s.grouped_by == "polygon cluster"
    assert g["A"] == g["B"] and len({g["A"], g["C"], g["D"]}) == 3
    plain = groups_of(collect_samples(img, labels, max_per_class=0))
    assert len(set(plain.values())) == 4
    # across a block edge (16 px blocks: column 112 starts one) 2 px apart: one group too
    gpkg = polygons(tmp_path / "edge.gpkg", [(1, box(100, 108, 104, 110)),  # A: to col 109
                                             (2, box(100, 108, 112, 118)),  # B: from col 112
                                             (1, box(100, 108, 150, 158)),
                                             (2, box(70, 78, 150, 158))], 32633)
    s = collect_samples(img, LabelConfig(gpkg, class_field="cls"), max_per_class=0,
                        neighbourhood=Neighbourhood((3, 9), "mean"))
    row, col = s.x[:, 0].astype(int) - 1, s.x[:, 1].astype(int) - 1
    a, b = np.unique(s.groups[(col < 111) & (row >= 100)]), np.unique(s.groups[col == 112])
    assert len(a) == 1 and a.tolist() == b.tolist()
    assert len(np.unique(s.groups)) == 3


def test_an_extent_in_a_turned_crs_samples_inside_it_only(sample):
    """nc (NC State Plane) with EXTENT in UTM 17N, turned about 1.2 degrees: the labelled
    pixels counted and sampled are those whose centres lie inside EXTENT, not its
    bounding box's slivers (where a test area often lies)."""
    from turned_extent import nc_turned_extent

    from landlearn.core.labels.base import LabelConfig

    image, strata, _, ext, counted, inside = nc_turned_extent(sample)
    got = collect_samples(image, LabelConfig(strata), extent=ext)
    assert (counted & ~inside).sum() > 50  # the slivers hold labels
    assert sum(got.available.values()) == int((counted & inside).sum())


def test_a_band_without_any_value_is_named_not_the_labels(sample, tmp_path):
    """nc with band 4 all NaN: every pixel is NoData, and the error sent the user to the
    labels' position and CRS; it names the band and BANDS."""
    nc = sample / "nc_landsat7"
    with rasterio.open(nc / "landsat_multiband.tif") as ds:
        data, profile = ds.read(), ds.profile
    data[3] = float("nan")
    with rasterio.open(tmp_path / "nan.tif", "w", **profile) as out:
        out.write(data)
    with pytest.raises(InputError, match=r"^INPUT_RASTER: no labelled pixel falls on valid "
                                         r"image data: band\(s\) \[4\] hold no value .* BANDS"):
        collect_samples(str(tmp_path / "nan.tif"),
                        LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id"))
