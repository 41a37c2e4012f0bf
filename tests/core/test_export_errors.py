"""Export Training Data refuses bad input by name, writes nothing, and publishes atomically."""

import os

import numpy as np
import pytest

from chip_checks import manifest
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.geo.extent import Extent
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress


def _s2(sample):
    s2 = sample / "s2_osm_sparse"
    return (str(s2 / "s2l1c_10bands_10m_subset.tif"),
            LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass"))


def _polygons(path, values, epsg=32633, box=(300000, 5600000, 300500, 5600500)):
    """A GeoPackage of one square per value, all on the same box (numeric field 'cls')."""
    from synthetic import polygons

    return polygons(path, [(v, box) for v in values], epsg, real=True)


def _image_box(sample):
    import rasterio

    with rasterio.open(_s2(sample)[0]) as ds:
        b = ds.bounds
    return (b.left + 500, b.bottom + 500, b.left + 1500, b.bottom + 1500)


def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".")]


@pytest.mark.parametrize("kw,param,text", [
    (dict(tile_size_x=8), "TILE_SIZE_X", "outside 16..4096"),
    (dict(tile_size_y=5000), "TILE_SIZE_Y", "outside 16..4096"),
    (dict(stride_x=0), "STRIDE_X", "at least 1 pixel"),
    (dict(stride_y=-3), "STRIDE_Y", "at least 1 pixel"),
    (dict(min_labeled_fraction=1.5), "MIN_LABELED_FRACTION", "not a fraction"),
    (dict(cell_size=-10.0), "CELL_SIZE", "not a positive cell size"),
])
def test_bad_tiling_parameters_are_named(sample, tmp_path, kw, param, text):
    image, labels = _s2(sample)
    with pytest.raises(InputError, match=f"^{param}: .*{text}"):
        export_training_data(ExportConfig(image, labels, str(tmp_path / "out"), **kw))
    assert os.listdir(tmp_path) == []


def test_labels_elsewhere_and_class_values_out_of_range(sample, tmp_path):
    image, _ = _s2(sample)
    nc = sample / "nc_landsat7"
    cases = [
        (LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id"),
         "LABELS: no label feature overlaps the raster"),
        (LabelConfig(str(nc / "strata.tif")), "LABELS: the label raster does not overlap"),
        (LabelConfig(_polygons(tmp_path / "big.gpkg", [300], box=_image_box(sample)),
                     class_field="cls"), "CLASS_FIELD: class value 300 .* outside 0..255"),
        (LabelConfig(_polygons(tmp_path / "neg.gpkg", [-2], box=_image_box(sample)),
                     class_field="cls"), "CLASS_FIELD: class value -2 .* outside 0..255"),
        (LabelConfig(_polygons(tmp_path / "frac.gpkg", [2.5], box=_image_box(sample)),
                     class_field="cls"), "CLASS_FIELD: class value 2.5 .* not a whole number"),
    ]
    for labels, message in cases:
        with pytest.raises(InputError, match=message):
            export_training_data(ExportConfig(image, labels, str(tmp_path / "out")))
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_no_labelled_pixel_in_the_extent(sample, tmp_path):
    image, _ = _s2(sample)
    box = _image_box(sample)
    labels = LabelConfig(_polygons(tmp_path / "one.gpkg", [3], box=box), class_field="cls")
    far = Extent(box[2] + 1000, box[3] + 1000, box[2] + 2000, box[3] + 2000)
    with pytest.raises(InputError, match="^LABELS: no label lies inside the processing extent"):
        export_training_data(ExportConfig(image, labels, str(tmp_path / "out"), extent=far))
    # a label raster that is all 0 inside the extent: found while walking, still nothing written
    import rasterio

    from synthetic import write

    with rasterio.open(image) as ds:
        lab = np.zeros(ds.shape, dtype=np.uint8)
        lab[:10, :10] = 4
        write(tmp_path / "corner.tif", lab, crs=ds.crs, transform=ds.transform, nodata=0)
        x0, y0 = ds.transform * (200, 300)
        x1, y1 = ds.transform * (300, 200)
    with pytest.raises(InputError, match="^LABELS: no labelled pixel falls inside"):
        export_training_data(ExportConfig(image, LabelConfig(str(tmp_path / "corner.tif")),
                                          str(tmp_path / "out"), extent=Extent(x0, y0, x1, y1)))
    with pytest.raises(InputError, match="^EXTENT: the extent is empty or inverted"):
        Extent(10, 10, 5, 20)
    with pytest.raises(InputError, match="^EXTENT: it does not overlap the raster"):
        export_training_data(ExportConfig(image, labels, str(tmp_path / "out"),
                                          extent=Extent(10, 50, 11, 51, "EPSG:4326")))
    with pytest.raises(InputError, match="^MIN_LABELED_FRACTION: no chip holds 90%"):
        export_training_data(ExportConfig(image, LabelConfig(str(tmp_path / "corner.tif")),
                                          str(tmp_path / "out"), min_labeled_fraction=0.9))
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_output_folder_rules(sample, tmp_path):
    image, labels = _s2(sample)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* is not empty; .*OVERWRITE"):
        export_training_data(ExportConfig(image, labels, str(busy)))
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: .* not written by LandLearn"):
        export_training_data(ExportConfig(image, labels, str(busy), overwrite=True))
    assert os.listdir(busy) == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: .* is a file"):
        export_training_data(ExportConfig(image, labels, str(tmp_path / "afile")))
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: cannot create the folder"):
        export_training_data(ExportConfig(image, labels, str(tmp_path / "afile" / "sub" / "out")))
    # an empty folder is used; an earlier export is replaced with OVERWRITE, whole
    empty = tmp_path / "empty"
    empty.mkdir()
    first = export_training_data(ExportConfig(image, labels, str(empty), tile_size_x=128,
                                              tile_size_y=128, stride_x=128, stride_y=128))
    assert first.chips == 16
    second = export_training_data(ExportConfig(image, labels, str(empty), overwrite=True))
    assert second.chips == 9 and len(os.listdir(empty / "images")) == 9
    assert len(manifest(empty)["chips"]) == 9 and _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_folder(sample, tmp_path):
    image, labels = _s2(sample)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* is not writable"):
            export_training_data(ExportConfig(image, labels, str(ro / "out")))
    finally:
        ro.chmod(0o700)


def test_cancel_leaves_nothing_and_keeps_an_older_export(sample, tmp_path):
    image, labels = _s2(sample)
    out = tmp_path / "chips"
    with pytest.raises(Cancelled):
        export_training_data(ExportConfig(image, labels, str(out)), RecordingProgress(4))
    assert os.listdir(tmp_path) == []
    export_training_data(ExportConfig(image, labels, str(out)))
    before = sorted(os.listdir(out / "images"))
    with pytest.raises(Cancelled):
        export_training_data(ExportConfig(image, labels, str(out), tile_size_x=64, tile_size_y=64,
                                          overwrite=True), RecordingProgress(20))
    assert sorted(os.listdir(out / "images")) == before and _leftovers(tmp_path) == []
