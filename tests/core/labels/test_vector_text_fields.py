"""Class fields of text: classes numbered alphabetically over the features near the image,
codes kept as their values, texts that mean no label, and many texts on a small image."""

import numpy as np
import pytest
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from landlearn.core.labels.vector_labels import VectorLabels
from landlearn.core.progress import RecordingProgress
from synthetic import kind_layer, polygons, write


def _grid(tmp_path):
    with RasterSource(write(tmp_path / "image.tif", np.ones((10, 10), np.uint8))) as src:
        return src.grid


def test_text_classes_sorted_later_features_win_and_ids_name_the_feature(tmp_path):
    grid = _grid(tmp_path)  # 10 x 10 px of 10 m at (500000, 5000000)
    rows = [("water", (500000, 4999900, 500050, 5000000)),  # left half
            ("Forest", (500030, 4999900, 500100, 5000000)),  # right part, over water's edge
            (None, (500000, 4999900, 500100, 4999950)),  # no class: skipped
            ("", (500000, 4999900, 500100, 4999950))]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "t.gpkg", rows), class_field="KIND"),
                          grid, progress)
    assert progress.warnings == ["2 feature(s) with an empty class field (or a text such as "
                                 "NA or NULL) were skipped."]
    assert [(c.value, c.name) for c in labels.classes] == [(1, "Forest"), (2, "water")]
    arr = labels.read(grid.full_window)
    assert (arr[:, :3] == 2).all() and (arr[:, 3:] == 1).all()  # Forest, later, wins the overlap
    ids = labels.read_ids(grid.full_window)
    assert ids.dtype == np.int32 and (ids[:, :3] == 1).all() and (ids[:, 3:] == 2).all()
    assert not labels.overlaps(Window(20, 20, 5, 5)) and not labels.holds_labels(Window(20, 20, 5, 5))
    assert labels.holds_labels(Window(0, 0, 5, 5))  # the bounding boxes: what chip sizes count
    np.testing.assert_array_equal(labels.read(Window(20, 20, 5, 5)), 0)
    edge = labels.read(Window(8, 8, 4, 4))
    assert (edge[:2, :2] == 1).all() and not edge[2:].any() and not edge[:, 2:].any()


def test_a_text_field_of_codes_keeps_the_codes_as_class_values(tmp_path):
    """'1', '2', '10' kept as text (a CSV's field): numbered alphabetically, '10' became
    class 2 and '2' class 3, and a map's class 10 meant what the labels called 2."""
    grid = _grid(tmp_path)
    rows = [("1", (500000, 4999900, 500030, 5000000)), ("10", (500030, 4999900, 500060, 5000000)),
            ("2", (500060, 4999900, 500100, 5000000))]
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "c.gpkg", rows), class_field="KIND"),
                          grid, RecordingProgress())
    assert [(c.value, c.name) for c in labels.classes] == [(1, "1"), (2, "2"), (10, "10")]
    arr = labels.read(grid.full_window)
    assert (arr[:, :3] == 1).all() and (arr[:, 3:6] == 10).all() and (arr[:, 6:] == 2).all()


def test_a_text_zero_is_no_label_and_codes_past_255_are_numbered_with_a_warning(tmp_path):
    """A CSV's '0' (background) was numbered as a class and shifted every code: '0' 1,
    '1' 2, '2' 3. It is no label, as 0 is in a numeric field."""
    grid = _grid(tmp_path)
    rows = [("0", (500000, 4999900, 500030, 5000000)), ("1", (500030, 4999900, 500060, 5000000)),
            ("2", (500060, 4999900, 500100, 5000000))]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "z.gpkg", rows), class_field="KIND"),
                          grid, progress)
    assert [(c.value, c.name) for c in labels.classes] == [(1, "1"), (2, "2")]
    arr = labels.read(grid.full_window)
    assert (arr[:, :3] == 0).all() and (arr[:, 3:6] == 1).all() and (arr[:, 6:] == 2).all()
    assert not progress.warnings
    # CORINE-style codes do not fit 1..255: numbered in text order, said, names kept
    rows = [("311", (500000, 4999900, 500050, 5000000)), ("112", (500050, 4999900, 500100, 5000000))]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "c.gpkg", rows), class_field="KIND"),
                          grid, progress)
    assert [(c.value, c.name) for c in labels.classes] == [(1, "112"), (2, "311")]
    assert any("codes outside 1..255 (e.g. '311')" in w for w in progress.warnings)


def test_text_classes_keep_their_values_whichever_features_are_near_the_image(tmp_path):
    """Two images under one layer of text classes: each reads only the features near it,
    yet a text gets the same value in both (their exports are trained together)."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    path = polygons(tmp_path / "kinds.gpkg", [
        ("water", (500000, 4999950, 500050, 5000000)),
        ("forest", (600000, 4999950, 600050, 5000000)),
        ("crop", (600000, 4999900, 600050, 4999950))], 32633, text=True)
    crs = CRS.from_epsg(32633)
    west = Grid(crs, from_origin(500000, 5000000, 10, 10), 10, 10)
    east = Grid(crs, from_origin(600000, 5000000, 10, 10), 10, 10)
    with open_labels(LabelConfig(path, class_field="cls"), west) as w, \
            open_labels(LabelConfig(path, class_field="cls"), east) as e:
        assert [(c.value, c.name) for c in w.classes] == [(3, "water")]
        assert [(c.value, c.name) for c in e.classes] == [(1, "crop"), (2, "forest")]


def test_features_without_geometry_do_not_take_a_text_value(tmp_path):
    """An attribute-only row "crop" sorts first: numbered over the layer it would have
    moved forest and water to 2 and 3 (their values before the spatial filter: 1 and 2)."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    path = polygons(tmp_path / "kinds.gpkg", [
        ("forest", (500000, 4999950, 500050, 5000000)),
        ("water", (500050, 4999950, 500100, 5000000)), ("crop", None)], 32633, text=True)
    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 10, 10)
    with open_labels(LabelConfig(path, class_field="cls"), grid) as src:
        assert [(c.value, c.name) for c in src.classes] == [(1, "forest"), (2, "water")]


def test_codes_written_as_decimals_keep_their_values_and_na_is_no_class(tmp_path):
    """A pandas export writes codes as '1.0', '10.0': numbered alphabetically, '10.0'
    became class 2. R writes a missing value as 'NA', which became a class of its own and
    knocked the real codes out of their values (review 92)."""
    grid = _grid(tmp_path)
    rows = [("1.0", (500000, 4999900, 500030, 5000000)), ("10.0", (500030, 4999900, 500060, 5000000)),
            ("2.0", (500060, 4999900, 500100, 5000000)), ("NA", (500000, 4999900, 500100, 4999930))]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "d.gpkg", rows), class_field="KIND"),
                          grid, progress)
    assert [c.value for c in labels.classes] == [1, 2, 10]
    arr = labels.read(grid.full_window)
    assert (arr[:7, :3] == 1).all() and (arr[:7, 3:6] == 10).all() and (arr[:7, 6:] == 2).all()
    assert "1 feature(s) with an empty class field (or a text such as NA" in progress.warnings[0]


def test_a_layer_of_many_texts_labels_an_image_that_holds_few_of_them(tmp_path):
    """A national crop layer has 300 names; an image holds 3 of them. It was refused for the
    whole layer's count; now the image's texts are numbered, with a warning that another
    image may number them otherwise. More than 255 on the image itself is refused."""
    grid = _grid(tmp_path)
    near = [("wheat", (500000, 4999900, 500030, 5000000)), ("barley", (500030, 4999900, 500060, 5000000)),
            ("oats", (500060, 4999900, 500100, 5000000))]
    far = [(f"crop {i:03d}", (600000 + 10 * i, 4999900, 600005 + 10 * i, 4999905))
           for i in range(300)]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(kind_layer(tmp_path / "n.gpkg", near + far),
                                      class_field="KIND"), grid, progress)
    assert [(c.value, c.name) for c in labels.classes] == [(1, "barley"), (2, "oats"), (3, "wheat")]
    assert any("more than 255 different texts over the whole layer: the 3 on this image" in w
               for w in progress.warnings)
    crowded = [(f"crop {i:03d}", (500000 + (i % 10) * 10, 4999900 + (i // 10) * 3,
                                  500000 + (i % 10) * 10 + 5, 4999900 + (i // 10) * 3 + 2))
               for i in range(260)]
    with pytest.raises(InputError, match="^CLASS_FIELD: .* has 260 different texts on this image"):
        VectorLabels(LabelConfig(kind_layer(tmp_path / "c.gpkg", crowded), class_field="KIND"),
                     grid, RecordingProgress())


def test_latin1_text_in_a_shapefile_that_does_not_say_so_is_refused_naming_the_fix(tmp_path):
    """A shapefile with no .cpg: its Latin-1 'Forêt' reached the engine as bytes that are not
    UTF-8; Rasterize Labels failed as a bug, Assess Accuracy matched it to no class (a
    PyQGIS sweep, stop 68). Refused, naming the .cpg file that fixes it; with that file
    written, the names are read right."""
    from synthetic import latin1_shapefile

    grid = _grid(tmp_path)
    path = latin1_shapefile(str(tmp_path), [("Forêt", (500000, 4999900, 500050, 5000000)),
                                            ("Pré", (500050, 4999900, 500100, 5000000))])
    with pytest.raises(InputError, match=r"^CLASS_FIELD: the text 'For.t' of field 'kind' in "
                       r".*latin1\.shp' is not UTF-8 .*add a file '.*latin1\.cpg' holding"):
        VectorLabels(LabelConfig(path, class_field="kind"), grid, RecordingProgress())
    with open(tmp_path / "latin1.cpg", "w") as f:
        f.write("UTF-8")  # a .cpg that is wrong: quoted, not "add a .cpg" (review, stop 68)
    with pytest.raises(InputError, match=r"^CLASS_FIELD: .*latin1\.cpg' says 'UTF-8', which "
                       r"the text is not; write its true encoding there"):
        VectorLabels(LabelConfig(path, class_field="kind"), grid, RecordingProgress())
    with open(tmp_path / "latin1.cpg", "w") as f:
        f.write("windows-1252")
    labels = VectorLabels(LabelConfig(path, class_field="kind"), grid, RecordingProgress())
    assert [c.name for c in labels.classes] == ["Forêt", "Pré"]
