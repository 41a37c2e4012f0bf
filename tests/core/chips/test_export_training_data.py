"""Export Training Data on real imagery: every chip checked against its source; bad input
refused by name with nothing written, and the folder published atomically."""

import json
import math
import os

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from chip_checks import check_chips, manifest, stats
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.geo.extent import Extent
from landlearn.core.geo.grid import apply
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster
from landlearn.core.progress import RecordingProgress


def _s2(sample):
    s2 = sample / "s2_osm_sparse"
    return (str(s2 / "s2l1c_10bands_10m_subset.tif"),
            LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass"))


def _reference(image, labels, tmp_path):
    """Labels rasterized on the full image grid by the separate Rasterize Labels path."""
    out = tmp_path / "reference_labels.tif"
    write_label_raster(LabelRasterConfig(image, labels, str(out)))
    with rasterio.open(out) as ds:
        return ds.read(1)


def test_s2_osm_polygons_chips_match_source_and_labels(sample, tmp_path):
    image, labels = _s2(sample)
    out = tmp_path / "chips"
    progress = RecordingProgress()
    result = export_training_data(ExportConfig(image, labels, str(out), tile_size_x=256,
                                               tile_size_y=256, stride_x=128, stride_y=128),
                                  progress)
    ref = _reference(image, labels, tmp_path)
    totals = check_chips(out, image, reference_labels=ref)
    st = stats(out)
    values = [c["ClassValue"] for c in st["Classes"]]
    assert [c["ClassName"] for c in st["Classes"]] == [
        "farm", "forest", "grass", "meadow", "residential", "scrub", "water", "wetland"]
    # class counts in the stats are exactly the label pixels in the chips
    assert st["ClassPixelStats"]["NumPixelsPerClass"] == [int(totals[v]) for v in values]
    assert sum(totals[1:]) == sum(result.class_pixels.values())
    assert st["NumTiles"] == result.chips == 9 and st["NumBands"] == 10
    assert st["TileSizeX"] == st["TileSizeY"] == 256
    # the labels are sparse (most pixels unlabelled) and every chip keeps them as 0
    assert 0.5 < np.count_nonzero(ref == 0) / ref.size < 0.85
    lines = (out / "map.txt").read_text().splitlines()
    assert lines[0] == "images\\000000000.tif labels\\000000000.tif" and len(lines) == 9
    assert progress.fractions[-1] == 1.0 and "farm" in result.summary()


@pytest.mark.heavy
def test_automatic_chip_size_fits_the_labelled_area(sample, tmp_path):
    """TILE_SIZE_X/Y = 0: 512 x 512 px of sparse OSM polygons hold labels in 4 blocks of
    256 px (too few to hold some out), in 16 of 128 px: 128 px chips; so small a labelled
    area (0.26 MPix of blocks) gets a quarter-chip stride, 32 px."""
    image, labels = _s2(sample)
    progress = RecordingProgress()
    result = export_training_data(ExportConfig(image, labels, str(tmp_path / "auto")), progress)
    st = stats(tmp_path / "auto")
    assert st["TileSizeX"] == st["TileSizeY"] == 128
    assert manifest(tmp_path / "auto")["stride"] == [32, 32]
    assert result.windows == 13 * 13
    assert any("Automatic chip size" in m and "128 x 128 px" in m for m in progress.messages)
    # a quarter of it (256 x 256 px): the polygons' boxes meet fewer than 16 of its 64 px
    # blocks, so the smallest size tried
    with rasterio.open(image) as ds:
        b = ds.bounds
    quarter = Extent(b.left, b.top - (b.top - b.bottom) / 2, b.left + (b.right - b.left) / 2,
                     b.top)
    export_training_data(ExportConfig(image, labels, str(tmp_path / "quarter"), extent=quarter,
                                      tile_size_y=0, stride_y=24))
    st = stats(tmp_path / "quarter")
    assert st["TileSizeX"] == st["TileSizeY"] == 32
    # STRIDE_Y given: STRIDE_X takes its share of the chip (it took the quarter-chip rule)
    assert manifest(tmp_path / "quarter")["stride"] == [24, 24]
    # one size given: the other axis follows it, nothing chosen from the area
    export_training_data(ExportConfig(image, labels, str(tmp_path / "given"), tile_size_x=96))
    st = stats(tmp_path / "given")
    assert (st["TileSizeX"], st["TileSizeY"]) == (96, 96)
    assert manifest(tmp_path / "given")["stride"] == [24, 24]


def test_band_statistics_are_over_valid_chip_pixels(sample, tmp_path):
    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    out = tmp_path / "nc"
    export_training_data(ExportConfig(image, LabelConfig(str(nc / "strata.tif")), str(out),
                                      bands=(4, 3, 2), tile_size_x=128, tile_size_y=96,
                                      stride_x=100, stride_y=80))
    values = []
    for chip in manifest(out)["chips"]:
        with rasterio.open(out / chip["image"]) as ds:
            data = ds.read()
            assert ds.nodata == -99999.0 and data.shape == (3, 96, 128)
        valid = ~np.all(data == -99999.0, axis=0)
        values.append(data[:, valid].astype(np.float64))
    allv = np.concatenate(values, axis=1)
    with open(out / "esri_model_definition.emd", encoding="utf-8") as fh:
        emd = json.load(fh)
    band_stats = emd["AllTilesStats"]
    assert [b["BandName"] for b in band_stats] == ["Band_4", "Band_3", "Band_2"]
    np.testing.assert_allclose([b["Mean"] for b in band_stats], allv.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose([b["StdDev"] for b in band_stats], allv.std(axis=1), rtol=1e-9)
    assert [b["Min"] for b in band_stats] == list(allv.min(axis=1))
    assert emd["MetaDataMode"] == "Classified_Tiles" and emd["ExtractBands"] == [0, 1, 2]
    assert emd["InputRastersProps"]["BandNames"] == ["Band_4", "Band_3", "Band_2"]
    # arcgis.learn 1.8 (ArcGIS Pro 2.8) reads this key of a 3-band export directly
    well_known = "WellKnownBandNames (FYI, these band names can be used in ExtractBands)"
    assert "Red" in emd[well_known]
    check_chips(out, image, bands=[4, 3, 2])


def test_nc_strata_described_in_another_crs(shared, tmp_path):
    nc = shared / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    out = tmp_path / "strata"
    result = export_training_data(ExportConfig(image, LabelConfig(str(nc / "strata.tif")), str(out),
                                               tile_size_x=128, tile_size_y=128,
                                               stride_x=64, stride_y=64))
    with rasterio.open(nc / "strata.tif") as ds, rasterio.open(image) as img:
        raw = ds.read(1)
        img_nodata = np.all(img.read() == img.nodata, axis=0)
        assert ds.crs.to_wkt() != img.crs.to_wkt() and ds.transform == img.transform
    ref = np.where(raw == -99999, 0, raw).astype(np.uint8)
    ref[img_nodata] = 0  # labels on image NoData never reach training
    check_chips(out, image, reference_labels=ref)
    assert [c.value for c in result.classes] == [1, 2, 3, 4, 5, 6, 7]
    assert result.labels_on_nodata > 0


def test_stride_smaller_than_tile_gives_the_expected_chip_count(sample, tmp_path):
    image, labels = _s2(sample)
    cases = [(256, 128, 3), (200, 100, 5), (128, 128, 4), (100, 64, 8), (512, 256, 1)]
    for tile, stride, per_axis in cases:
        out = tmp_path / f"t{tile}_{stride}"
        result = export_training_data(ExportConfig(
            image, labels, str(out), tile_size_x=tile, tile_size_y=tile, stride_x=stride,
            stride_y=stride, output_nofeature_tiles=True))
        # origins 0, s, 2s, ... until the tile reaches the raster's far edge (512 px)
        assert per_axis == max(1, math.ceil((512 - tile) / stride) + 1)
        assert result.chips == result.windows == per_axis ** 2
        offsets = sorted({c["col_off"] for c in manifest(out)["chips"]})
        assert offsets == [i * stride for i in range(per_axis)]
    check_chips(tmp_path / "t200_100", image)  # edge chips hang over and are padded


def test_manifest_blocks_and_min_labelled_fraction(sample, tmp_path):
    image, labels = _s2(sample)
    out = tmp_path / "f"
    result = export_training_data(ExportConfig(image, labels, str(out), tile_size_x=64,
                                               tile_size_y=64, stride_x=32, stride_y=32,
                                               min_labeled_fraction=0.5))
    m = manifest(out)
    assert result.skipped_below_fraction > 0 and result.skipped_unlabelled > 0
    for chip in m["chips"]:
        assert sum(chip["class_pixels"].values()) >= 0.5 * 64 * 64
        assert chip["block_row"] == chip["row_off"] // 64 and chip["block_col"] == chip["col_off"] // 64
        assert chip["block"] == chip["block_row"] * 8 + chip["block_col"]
    assert m["block_size"] == [64, 64] and m["stride"] == [32, 32]


def test_extent_keeps_everything_outside_it_out(sample, tmp_path):
    image, labels = _s2(sample)
    with rasterio.open(image) as ds:
        x0, y1 = apply(ds.transform, 100, 60)
        x1, y0 = apply(ds.transform, 400, 300)
    from rasterio.warp import transform_bounds

    from landlearn.core.geo.extent import Extent

    geo = transform_bounds("EPSG:32633", "EPSG:4326", x0, y0, x1, y1, densify_pts=21)
    out = tmp_path / "e"
    export_training_data(ExportConfig(image, labels, str(out), extent=Extent(x0, y0, x1, y1),
                                      tile_size_x=128, tile_size_y=128, stride_x=128,
                                      stride_y=128, output_nofeature_tiles=True))
    ref = _reference(image, labels, tmp_path)
    area = Window(100, 60, 300, 240)
    check_chips(out, image, reference_labels=ref, area=area)
    assert manifest(out)["chips"][-1]["col_off"] == 256  # 3 x 2 chips over 300 x 240 px
    # the same area given in lon/lat (snapped outward) still starts at the same pixel or before
    out2 = tmp_path / "geo"
    export_training_data(ExportConfig(image, labels, str(out2), extent=Extent(*geo, "EPSG:4326"),
                                      tile_size_x=128, tile_size_y=128, stride_x=128, stride_y=128,
                                      output_nofeature_tiles=True))
    with rasterio.open(out2 / "images" / "000000000.tif") as ds:
        col, row = apply(~ds.transform, x0, y1)
        assert 0 <= col <= 12 and 0 <= row <= 12  # lon/lat box of a UTM box is a bit larger


def test_an_extent_in_a_turned_crs_keeps_its_slivers_out(sample, tmp_path):
    """nc_landsat7 (NC State Plane) with EXTENT given in UTM 17N, turned about 1.2 degrees
    against it: the export took the reprojected box's bounding box, whose slivers past
    the extent's edges (often a test area) brought their labels and pixels in. Every
    labelled chip pixel and every valid image pixel now lies inside EXTENT."""
    from rasterio.warp import transform, transform_bounds

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    with rasterio.open(image) as ds:
        b = ds.bounds
        cx, cy, half = (b.left + b.right) / 2, (b.bottom + b.top) / 2, 3000
    box = transform_bounds("EPSG:32119", "EPSG:32617", cx - half, cy - half, cx + half,
                           cy + half)
    ext = Extent(*box, crs="EPSG:32617")
    out = tmp_path / "turned"
    export_training_data(ExportConfig(image, LabelConfig(str(nc / "strata.tif")), str(out),
                                      extent=ext, tile_size_x=64, tile_size_y=64,
                                      stride_x=64, stride_y=64, output_nofeature_tiles=True))
    labelled = checked = 0
    for chip in manifest(out)["chips"]:
        with rasterio.open(out / chip["label"]) as lab, rasterio.open(out / chip["image"]) as img:
            rows, cols = np.nonzero((lab.read(1) > 0) | (img.read_masks(1) > 0))
            xs, ys = rasterio.transform.xy(lab.transform, rows, cols)
            labelled += int((lab.read(1) > 0).sum())
        ex, ey = transform("EPSG:32119", "EPSG:32617", list(xs), list(ys))
        ex, ey = np.asarray(ex), np.asarray(ey)
        assert ((ex >= box[0] - 1e-6) & (ex <= box[2] + 1e-6) & (ey >= box[1] - 1e-6)
                & (ey <= box[3] + 1e-6)).all(), chip["image"]
        checked += len(ex)
    assert labelled > 10000 and checked >= labelled


@pytest.mark.parametrize("tile", ["1of2", "2of2"])
def test_nb_aerial_polygons_niveau_3(shared, tmp_path, tile):
    nb = shared / "nb_aerial"
    image = str(nb / f"23322E759967N_clipped_1m_{tile}.tif")
    labels = LabelConfig(str(nb / "BakerLake_2017_clipped.gpkg"), class_field="Niveau_3")
    out = tmp_path / tile
    result = export_training_data(ExportConfig(image, labels, str(out), tile_size_x=128,
                                               tile_size_y=128, stride_x=64, stride_y=64))
    ref = _reference(image, labels, tmp_path)
    totals = check_chips(out, image, reference_labels=ref)
    names = {c.name for c in result.classes}
    assert names <= {"Building", "Forest", "Hydro", "Road", "Train corridor"} and len(names) >= 3
    # agrees with the repository's own rasterization of the same polygons
    with rasterio.open(nb / f"labels_{tile}.tif") as ds:
        theirs = ds.read(1)
    both = (ref > 0) & (theirs > 0)
    by_name = {c.value: c.name for c in result.classes}
    their_names = {1: "Building", 2: "Forest", 3: "Hydro", 4: "Road", 5: "Train corridor"}
    mapped = np.vectorize(lambda v: their_names.get(int(v), ""))(theirs[both])
    ours = np.vectorize(lambda v: by_name.get(int(v), ""))(ref[both])
    assert (mapped == ours).mean() > 0.97
    assert sum(totals[1:]) == sum(result.class_pixels.values())


def test_enmap_hyperspectral_float32(shared, tmp_path):
    em = shared / "enmap_potsdam"
    name = "enmap_potsdam_tile_128_32.tif"
    image, label = str(em / "images" / name), str(em / "labels" / name)
    out = tmp_path / "enmap"
    result = export_training_data(ExportConfig(image, LabelConfig(label), str(out),
                                               tile_size_x=16, tile_size_y=16, stride_x=8,
                                               stride_y=8, output_nofeature_tiles=True))
    with rasterio.open(label) as ds:
        raw = ds.read(1)
    with rasterio.open(image) as ds:
        nodata = np.all(ds.read() == ds.nodata, axis=0)
        assert ds.count == 224
    ref = np.where(nodata, 0, raw).astype(np.uint8)
    check_chips(out, image, reference_labels=ref)
    assert result.chips == 9
    with rasterio.open(out / "images" / "000000000.tif") as ds:
        assert ds.count == 224 and ds.dtypes[0] == "float32" and ds.nodata == -32768
    assert len(stats(out)["BandStatsState"]) == 224



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
        x0, y0 = apply(ds.transform, 200, 300)
        x1, y1 = apply(ds.transform, 300, 200)
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
    second = export_training_data(ExportConfig(image, labels, str(empty), overwrite=True,
                                               tile_size_x=256, tile_size_y=256, stride_x=128,
                                               stride_y=128))
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


def test_a_stride_of_millions_of_windows_is_refused_before_any_chip(sample, tmp_path,
                                                                    monkeypatch):
    """A 1 px stride over nc (489 x 443) makes ~120,000 windows of 64 px: refused here with
    the limit lowered (a real scene's 1 px stride makes tens of millions), naming the
    stride; and a disk that could not hold every window's chip is warned about."""
    import importlib

    etd = importlib.import_module("landlearn.core.chips.export_training_data")

    nc = sample / "nc_landsat7"
    config = ExportConfig(str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")),
                          str(tmp_path / "chips"), tile_size_x=64, tile_size_y=64, stride_x=1,
                          stride_y=1)
    monkeypatch.setattr(etd, "MAX_WINDOWS", 100_000)
    with pytest.raises(InputError, match=r"^STRIDE_X: a stride of 1 x 1 px .* makes "
                                         r"[\d,]+ chip windows"):
        export_training_data(config)
    assert not (tmp_path / "chips").exists()
    monkeypatch.setattr(etd, "free_bytes", lambda path: 1_000_000)
    progress = RecordingProgress()
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "strata.tif")), str(tmp_path / "c2"),
                                      tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64),
                         progress)
    assert any("only labelled windows become chips" in w for w in progress.warnings)


def test_an_image_all_nodata_under_the_labels_is_named_as_such(sample, tmp_path):
    """Windows without labels are skipped before their image is read; an image that is
    NoData wherever the labels are must still be told as INPUT_RASTER, not as labels that
    miss the raster."""
    from synthetic import write

    with rasterio.open(_s2(sample)[0]) as src:
        t, crs = src.transform, src.crs
    empty = write(tmp_path / "empty.tif", np.full((3, 512, 512), -1, np.int16), transform=t,
                  crs=crs, nodata=-1)
    x0, y1 = t.c, t.f
    box = (x0, y1 - 1000, x0 + 1000, y1)  # a corner of it
    labels = LabelConfig(_polygons(tmp_path / "corner.gpkg", [2], box=box), class_field="cls")
    with pytest.raises(InputError, match="^INPUT_RASTER: every pixel in the processing extent "
                       "is NoData where the labels are"):
        export_training_data(ExportConfig(empty, labels, str(tmp_path / "out"), tile_size_x=64,
                                          tile_size_y=64, stride_x=64, stride_y=64))
