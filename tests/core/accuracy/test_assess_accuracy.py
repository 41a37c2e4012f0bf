"""Assess Accuracy: pixel counts and the area-weighted estimates of Olofsson et al. 2014."""

import json
import os

import numpy as np
import pytest
import rasterio

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from synthetic import map_and_reference, write


def test_area_weighted_estimates_match_the_formulas(tmp_path):
    """Olofsson et al. 2014 estimators, recomputed here with explicit loops."""
    from synthetic import write

    rng = np.random.default_rng(1)
    truth = rng.integers(1, 4, (60, 80)).astype(np.uint8)
    mapped = truth.copy()
    flip = rng.random(truth.shape) < 0.25
    mapped[flip] = rng.integers(1, 4, int(flip.sum()))
    mapped[:10] = 1  # class 1 over-mapped in the top rows
    reference = np.zeros_like(truth)
    reference[::3, ::4] = truth[::3, ::4]  # a sparse reference sample
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    r = write(tmp_path / "ref.tif", reference, nodata=0)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.json")))
    n = np.zeros((3, 3))
    sel = reference > 0
    for a, b in zip(mapped[sel], reference[sel]):
        n[a - 1, b - 1] += 1
    w = np.array([(mapped == k).sum() for k in (1, 2, 3)]) / mapped.size
    p = np.array([[w[i] * n[i, j] / n[i].sum() for j in range(3)] for i in range(3)])
    e = res.areas
    np.testing.assert_allclose(e.proportions, p)
    assert e.overall == pytest.approx(np.trace(p))
    np.testing.assert_allclose(e.producers, np.diag(p) / p.sum(axis=0))
    np.testing.assert_allclose(e.area, p.sum(axis=0) * mapped.size * 100)  # 10 m pixels
    se = [np.sqrt(sum(w[i] ** 2 * (n[i, j] / n[i].sum()) * (1 - n[i, j] / n[i].sum())
                      / (n[i].sum() - 1) for i in range(3))) for j in range(3)]
    np.testing.assert_allclose(e.area_ci95, 1.96 * np.array(se) * mapped.size * 100)
    np.testing.assert_array_equal(res.accuracy.matrix, n.T)  # rows reference, columns map
    data = json.loads((tmp_path / "acc.json").read_text())
    assert data["area_weighted"]["overall_accuracy"] == pytest.approx(np.trace(p))


def test_an_undefined_accuracy_is_said_so_not_zero(tmp_path):
    """Class 3 is in the reference but never mapped: its user's accuracy is undefined (no
    map pixel of it was checked), and read 0.000 in the table and the JSON."""
    mapped = np.repeat(np.array([1, 2], np.uint8), 10)[None].repeat(10, 0)
    reference = mapped.copy()
    reference[:5, :5] = 3  # on the map's class 1
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    r = write(tmp_path / "ref.tif", reference, nodata=0)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.json")))
    e = res.areas
    at = {c.value: i for i, c in enumerate(res.classes)}
    assert np.isnan(e.users[at[3]]) and e.producers[at[3]] == 0.0  # all 25 missed
    assert e.users[at[1]] == pytest.approx(0.75) and e.users[at[2]] == 1.0
    assert np.isfinite(e.overall_ci95)
    lines = res.summary().splitlines()
    head = next(k for k, line in enumerate(lines) if line.split()[:3] == ["class", "users",
                                                                       "producers"])
    row = next(line for line in lines[head:] if line.startswith("Class 3"))
    assert row.split()[2:4] == ["n/a", "0.000"]
    data = json.loads((tmp_path / "acc.json").read_text())
    assert data["area_weighted"]["classes"]["Class 3"]["users_accuracy"] is None


def test_a_coarser_reference_raster_is_said_to_count_each_cell_many_times(tmp_path):
    """A 30 m reference on a 10 m map: each cell became nine pixels, counted as nine
    independent samples without a word; a finer one is only warped."""
    from rasterio.transform import from_origin

    mapped = np.ones((12, 12), np.uint8)
    m = write(tmp_path / "map.tif", mapped, transform=from_origin(500000, 5000000, 10, 10),
              nodata=0)
    coarse = write(tmp_path / "coarse.tif", np.ones((4, 4), np.uint8),
                   transform=from_origin(500000, 5000000, 30, 30), nodata=0)
    progress = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(coarse)), progress)
    assert any(w.startswith("The reference raster's cells are about 9.0 map pixels each")
               for w in progress.warnings)
    fine = write(tmp_path / "fine.tif", np.ones((24, 24), np.uint8),
                 transform=from_origin(500000, 5000000, 5, 5), nodata=0)
    progress = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(fine)), progress)
    assert not any("map pixels each" in w for w in progress.warnings)


def test_pixel_counts_unclassified_reference_and_reference_names(tmp_path):
    m, r = map_and_reference(tmp_path)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r)))
    # rows reference, columns map; the 20 reference pixels on map 0 are counted apart
    np.testing.assert_array_equal(res.accuracy.matrix, [[190, 38], [0, 152]])
    assert res.unclassified_reference == 20 and res.report is None
    assert [c.name for c in res.classes] == ["water", "forest"]  # the map names none
    assert res.accuracy.overall == pytest.approx(342 / 380)
    np.testing.assert_array_equal(res.areas.map_pixels, [190, 190])
    assert res.areas.pixel_area == 100 and res.areas.unit == "m²"  # as a map in degrees says
    # every map pixel of class 1 is right; class 2 holds 38 of 190 class-1 pixels
    np.testing.assert_allclose(res.areas.users, [1, 152 / 190])
    np.testing.assert_allclose(res.areas.area, [(0.5 + 0.5 * 38 / 190) * 380 * 100,
                                                0.5 * 152 / 190 * 380 * 100])
    text = res.summary()
    assert "20 reference pixels fall on unclassified (0) map pixels" in text
    assert "water" in text and "area-weighted overall accuracy" in text


def test_html_and_json_reports_and_other_names_refused(tmp_path):
    """A .txt or .csv name became .html unsaid, a folder wrote '<folder>.html' beside it,
    'memory:' a file 'memory:.html' in the working folder (a PyQGIS sweep, stop 68):
    refused before any work, as Rasterize Labels and Diagnostics refuse theirs."""
    m, r = map_and_reference(tmp_path)
    (tmp_path / "reports").mkdir()
    for name, said in (("acc.txt", "the report is HTML or JSON"), ("memory:", "HTML or JSON"),
                       ("reports", "is a folder")):
        path = str(tmp_path / name) if name != "memory:" else name
        with pytest.raises(InputError, match=f"^OUTPUT_REPORT: '{path}'.*{said}"):
            assess_accuracy(AssessConfig(m, LabelConfig(r), path))
    assert sorted(os.listdir(tmp_path)) == ["map.tif", "ref.tif", "ref_classes.txt", "reports"]
    assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.html")))
    page = (tmp_path / "acc.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and 'content="LandLearn"' in page
    assert "Accuracy assessment" in page and "water" in page
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.json")))
    data = json.loads((tmp_path / "acc.json").read_text())
    assert data["generator"] == "LandLearn" and data["unclassified_reference_pixels"] == 20
    assert data["pixel_counts"]["confusion_matrix"] == [[190, 38], [0, 152]]
    assert data["area_weighted"]["classes"]["forest"]["map_area"] == pytest.approx(19000)
    assert data["area_weighted"]["classes"]["forest"]["estimated_area"] == \
        pytest.approx(res.areas.area[1])


def test_a_float_map_of_whole_numbers_is_assessed_as_its_bytes(tmp_path):
    """R's terra and SAGA write Float32 class maps: assessed as the same map in bytes
    (NaN = NoData); a fraction is refused by value, naming the fix."""
    m, r = map_and_reference(tmp_path)
    with rasterio.open(m) as ds:
        data = ds.read(1)
        nodata = ds.nodata
    floats = data.astype(np.float32)
    if nodata is not None:
        floats[data == nodata] = np.nan
    f = write(tmp_path / "f.tif", floats)
    want = assess_accuracy(AssessConfig(m, LabelConfig(r)))
    got = assess_accuracy(AssessConfig(f, LabelConfig(r)))
    np.testing.assert_array_equal(got.accuracy.matrix, want.accuracy.matrix)
    assert got.unclassified_reference == want.unclassified_reference
    floats[0, 0] = 2.5
    half = write(tmp_path / "h.tif", floats)
    with pytest.raises(InputError, match="^INPUT: .* holds the value 2.5; class values are "
                                         "whole numbers 1..255 .*renumber"):
        assess_accuracy(AssessConfig(half, LabelConfig(r)))


def test_no_overlap_or_a_foreign_report_is_refused(tmp_path):
    m, r = map_and_reference(tmp_path)
    only_on_zero = np.zeros((20, 20), np.uint8)
    only_on_zero[:, 0] = 1  # reference only where the map is unclassified
    z = write(tmp_path / "z.tif", only_on_zero, nodata=0)
    with pytest.raises(InputError, match="no reference pixel falls on a classified pixel"):
        assess_accuracy(AssessConfig(m, LabelConfig(z)))
    notes = tmp_path / "notes.html"
    notes.write_text("<html>someone's notes</html>")
    with pytest.raises(InputError, match="^OUTPUT_REPORT: .* exists and was not written by LandLearn"):
        assess_accuracy(AssessConfig(m, LabelConfig(r), str(notes)))
    assert notes.read_text() == "<html>someone's notes</html>"


def _named_map(tmp_path):
    """A 10 x 40 map of four named classes in 10-column blocks (as Classify Pixels writes)."""
    from osgeo import gdal

    mapped = np.repeat(np.arange(1, 5, dtype=np.uint8), 10)[None].repeat(10, 0)
    path = write(tmp_path / "map.tif", mapped, nodata=0)
    ds = gdal.Open(path, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "crop", "forest", "grass", "water"])
    ds = None
    return path


def _block(c):  # the map's column block c (0-based) in map coordinates (10 m pixels)
    return (500000 + 10 * c * 10 + 5, 5000000 - 95, 500000 + 10 * (c + 1) * 10 - 5, 4999995)


def test_a_text_reference_is_matched_to_the_map_by_class_name(tmp_path):
    """A reference naming 3 of the map's 4 classes in text: numbered on its own, "water"
    would be 3 and compared with the map's "grass"."""
    from synthetic import polygons

    m = _named_map(tmp_path)
    ref = polygons(tmp_path / "ref.gpkg", [("crop", _block(0)), ("Forest", _block(1)),
                                           ("water", _block(3))], 32633, text=True)
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")))
    assert res.accuracy.overall == 1.0
    assert [c.name for c in res.classes] == ["crop", "forest", "water"]
    # a reference class the map lacks counts as an error, under its own name
    ref2 = polygons(tmp_path / "ref2.gpkg", [("crop", _block(0)), ("wetland", _block(2))],
                    32633, text=True)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref2, class_field="cls")), progress)
    assert [c.name for c in res.classes] == ["crop", "grass", "wetland"]
    assert res.accuracy.overall == pytest.approx(0.5)
    assert any("['wetland'] match no class of the map" in w for w in progress.warnings)
    # named once: not again as the placeholder value it took (review, stop 67)
    assert not any("never occur in the map" in w for w in progress.warnings), \
        progress.warnings


def test_text_codes_match_an_unnamed_map_by_value_and_other_texts_are_refused(tmp_path):
    from synthetic import polygons

    mapped = np.repeat(np.array([1, 2, 10, 2], np.uint8), 10)[None].repeat(10, 0)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    ref = polygons(tmp_path / "ref.gpkg", [("1", _block(0)), ("2", _block(1)),
                                           ("10", _block(2))], 32633, text=True)
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")))
    assert res.accuracy.overall == 1.0  # alphabetically "10" would have been class 2
    names = polygons(tmp_path / "names.gpkg", [("crop", _block(0))], 32633, text=True)
    with pytest.raises(InputError, match=r"^CLASS_FIELD: the texts \['crop'\] are not class "
                                         r"values, and the map names no classes .*_classes\.txt"):
        assess_accuracy(AssessConfig(m, LabelConfig(names, class_field="cls")))


def test_a_map_named_by_its_classes_file_is_matched_by_those_names(tmp_path):
    """A map without categories, named by '<map>_classes.txt' (what the refusal below tells
    users to add): the file was never read, and text references matched nothing."""
    from synthetic import polygons

    mapped = np.repeat(np.array([1, 2, 10, 2], np.uint8), 10)[None].repeat(10, 0)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    (tmp_path / "map_classes.txt").write_text("1 = water\n2 = forest\n10 = crop\n")
    ref = polygons(tmp_path / "ref.gpkg", [("water", _block(0)), ("forest", _block(1)),
                                           ("crop", _block(2))], 32633, text=True)
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")))
    assert res.accuracy.overall == 1.0
    assert [c.name for c in res.classes] == ["water", "forest", "crop"]


def test_map_classes_without_reference_are_named_not_silently_left_out(tmp_path):
    m, r = map_and_reference(tmp_path)
    import rasterio

    with rasterio.open(m) as ds:
        mapped = ds.read(1)
    mapped[15:, 10:] = 3  # a third map class, where the reference says 2
    reference = np.ones((20, 20), np.uint8)
    reference[10:] = 2
    reference[15:, 10:] = 0  # no reference pixel on class 3
    m = write(tmp_path / "map3.tif", mapped, nodata=0)
    r = write(tmp_path / "ref3.tif", reference, nodata=0)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "a.json")), progress)
    assert res.areas.unsampled == {"Class 3": 50 * 100.0}
    assert any("['Class 3'] (13.2% of the classified map) hold no reference pixel" in w
               for w in progress.warnings)
    assert "hold no reference pixel" in res.summary()
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["area_weighted"]["map_classes_without_reference"] == {"Class 3": 5000.0}
    # the estimates cover the sampled classes' map area, which they add up to
    sampled = (mapped == 1).sum() + (mapped == 2).sum()
    assert res.areas.area.sum() == pytest.approx(sampled * 100)


def test_text_codes_match_a_landlearn_map_whose_classes_have_default_names(tmp_path):
    """A model trained on numeric labels names its classes "Class 1", "Class 2": a
    reference whose class field holds "1", "2" as text matches them."""
    from osgeo import gdal

    from synthetic import polygons

    mapped = np.repeat(np.array([1, 2, 1, 2], np.uint8), 10)[None].repeat(10, 0)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    ds = gdal.Open(m, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "Class 1", "Class 2"])
    ds = None
    ref = polygons(tmp_path / "ref.gpkg", [("1", _block(0)), ("2", _block(1))], 32633,
                   text=True)
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")))
    assert res.accuracy.overall == 1.0


def test_a_map_in_degrees_is_weighted_by_ground_area_not_pixels(tmp_path):
    """Two classes of as many pixels, at 50-60 N and 60-70 N: the northern cells cover
    less ground, so its stratum weighs less (pixel counts weighed them alike, in
    'degrees²'). Areas checked against the same boxes in an equal-area projection
    (EPSG:6933, on the ellipsoid)."""
    from osgeo import ogr, osr
    from rasterio.transform import from_origin

    mapped = np.full((40, 20), 2, np.uint8)
    mapped[20:] = 1  # class 1 in the south
    reference = np.zeros_like(mapped)
    reference[::2, ::2] = mapped[::2, ::2]
    reference[0, 0] = 1  # one error, so the strata matter
    t = from_origin(10, 70, 0.5, 0.5)
    m = write(tmp_path / "map.tif", mapped, crs="EPSG:4326", transform=t, nodata=0)
    r = write(tmp_path / "ref.tif", reference, crs="EPSG:4326", transform=t, nodata=0)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r)))
    e = res.areas
    assert e.unit == "m²" and e.pixel_area == 1.0
    deg, equal_area = osr.SpatialReference(), osr.SpatialReference()
    deg.ImportFromEPSG(4326)
    equal_area.ImportFromEPSG(6933)
    for srs in (deg, equal_area):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    for i, (south, north) in enumerate(((50, 60), (60, 70))):
        ring = ", ".join(f"{x} {y}" for x, y in ((10, south), (20, south), (20, north),
                                                  (10, north), (10, south)))
        box = ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))")
        box.AssignSpatialReference(deg)
        box.Segmentize(0.01)  # edges along parallels, as the pixels' are
        box.TransformTo(equal_area)
        assert e.map_pixels[i] == pytest.approx(box.GetArea(), rel=1e-4)
    w = e.map_pixels / e.map_pixels.sum()
    assert w[0] > 0.55  # the south's stratum weighs more: cos 55 / (cos 55 + cos 65)
    assert "independent sample" in res.summary()


def test_a_reference_text_that_would_take_an_unnamed_map_class_is_refused(tmp_path):
    """The map names water (1) and forest (2) and also holds an unnamed class 255; the
    reference's 'Bare', matching no name, would take that value and agree with it."""
    from osgeo import gdal

    from synthetic import polygons

    mapped = np.repeat(np.array([1, 2, 255, 2], np.uint8), 10)[None].repeat(10, 0)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    ds = gdal.Open(m, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "water", "forest"])
    ds = None
    ref = polygons(tmp_path / "ref.gpkg", [("water", _block(0)), ("forest", _block(1)),
                                           ("Bare", _block(2))], 32633, text=True)
    with pytest.raises(InputError, match=r"^LABELS: the reference classes \['Bare'\] match no "
                                         r"class name of the map, .* \(\[255\]\)"):
        assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")))
    # a map without that class: 'Bare' is counted as errors, as before
    mapped[mapped == 255] = 2
    m2 = write(tmp_path / "map2.tif", mapped, nodata=0)
    ds = gdal.Open(m2, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "water", "forest"])
    ds = None
    res = assess_accuracy(AssessConfig(m2, LabelConfig(ref, class_field="cls")))
    assert res.accuracy.overall == pytest.approx(2 / 3)


def test_a_numeric_reference_on_a_class_the_map_does_not_name_is_compared_by_value(tmp_path):
    """Only texts that took a free value are checked against the map's unnamed classes: a
    reference raster whose 3 meets the map's unnamed 3 agrees by value."""
    from osgeo import gdal

    mapped = np.repeat(np.array([1, 2, 3, 2], np.uint8), 10)[None].repeat(10, 0)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    ds = gdal.Open(m, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "water", "forest"])
    ds = None
    r = write(tmp_path / "ref.tif", mapped, nodata=0)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r)))
    assert res.accuracy.overall == 1.0


def test_reference_classes_the_map_never_shows_are_warned(tmp_path):
    """A reference coded 10/20 against a map coded 1/2 scored 0 without a word (text
    references that match no map class were warned; numbers were not: a sweep, stop 66)."""
    mapped = np.ones((10, 10), np.uint8)
    mapped[5:] = 2
    reference = np.where(mapped == 1, 10, 2).astype(np.uint8)
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    r = write(tmp_path / "ref.tif", reference, nodata=0)
    progress = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(r)), progress)
    assert any(w.startswith("Reference class value(s) [10] never occur in the map") and
               "recode one" in w for w in progress.warnings)
    quiet = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(m)), quiet)
    assert not any("never occur" in w for w in quiet.warnings)
