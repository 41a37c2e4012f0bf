"""Classify Pixels on real rasters with a model trained on the sample: maps, seams, errors."""

import os

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.geo.extent import Extent
from landlearn.core.progress import RecordingProgress

pytest.importorskip("segmentation_models_pytorch")
NC = "nc_landsat7/landsat_multiband.tif"


def _cfg(sample, model, out, **kw):
    base = dict(device="cpu")
    base.update(kw)
    return ClassifyConfig(str(sample / NC), model, str(out), **base)


def test_classified_map_is_aligned_styled_and_keeps_nodata(sample, model, tmp_path):
    out = tmp_path / "map.tif"
    progress = RecordingProgress()
    result = classify_pixels(_cfg(sample, model, out, output_confidence=str(tmp_path / "c.tif"),
                                  output_probabilities=str(tmp_path / "p.tif")), progress)
    with rasterio.open(sample / NC) as src, rasterio.open(out) as ds, \
            rasterio.open(tmp_path / "c.tif") as cf, rasterio.open(tmp_path / "p.tif") as pr:
        assert ds.transform == src.transform and ds.crs == src.crs and ds.dtypes[0] == "uint8"
        cls, conf, prob = ds.read(1), cf.read(1), pr.read()
        nodata = np.all(src.read() == src.nodata, axis=0)
        assert ds.nodata == 0 and ds.colormap(1)[1][:3] != (0, 0, 0)
        assert pr.count == 7 and pr.descriptions[0] == "developed"
    assert np.all(cls[nodata] == 0) and np.all(cls[~nodata] > 0)
    assert np.all(conf[nodata] == -1) and np.all(prob[:, nodata] == -1)
    np.testing.assert_allclose(prob[:, ~nodata].sum(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(prob[:, ~nodata].max(axis=0), conf[~nodata], rtol=1e-6)
    np.testing.assert_array_equal(prob[:, ~nodata].argmax(axis=0) + 1, cls[~nodata])
    assert (tmp_path / "map.qml").exists() and "developed" in (tmp_path / "map.qml").read_text()
    assert result.class_pixels[0] == int(nodata.sum())
    assert sum(result.class_pixels.values()) == cls.size
    assert "MPix/s" in result.summary()


def _naive_tiles(sample, model, tile, pad):
    """The stitched map computed the slow, obvious way: one padded tile at a time."""
    import torch

    from landlearn.core.classify.predictor import load_predictor
    from landlearn.core.classify.stream import normalise as _normalise
    from landlearn.core.geo.grid import pad_window, tile_windows
    from landlearn.core.geo.raster import RasterSource

    predictor, info = load_predictor(model, torch.device("cpu"), runtime="torch")
    core = tile - 2 * pad
    with RasterSource(str(sample / NC)) as src:
        out = np.zeros(src.grid.shape, dtype=np.uint8)
        for win in tile_windows(src.grid.full_window, (core, core)):
            block = src.read(pad_window(win, pad))
            prob = predictor(_normalise(block, info)[None])[0][:, pad:pad + core, pad:pad + core]
            cls = np.array(info.class_values, np.uint8)[prob.argmax(0)]
            cls[~block.valid[pad:pad + core, pad:pad + core]] = 0
            r, c = int(win.row_off), int(win.col_off)
            h, w = out[r:r + core, c:c + core].shape
            out[r:r + h, c:c + w] = cls[:h, :w]
    return out


def test_a_one_process_run_says_where_its_time_went(sample, model, tmp_path):
    """Busy seconds per stage, as a Dask run reports them summed over blocks (benchmarks
    compare the two)."""
    result = classify_pixels(_cfg(sample, model, tmp_path / "t.tif", tile_size=128))
    t = result.timings
    assert set(t) == {"load", "read", "compute", "write"}
    assert min(t.values()) > 0
    assert t["load"] + t["compute"] < result.seconds


def test_streaming_equals_the_naive_tile_loop(sample, model, tmp_path):
    """Batches, threads and stitching change nothing: same map as one tile at a time."""
    out = tmp_path / "fast.tif"
    classify_pixels(_cfg(sample, model, out, tile_size=128, padding=32, batch_size=5))
    with rasterio.open(out) as ds:
        fast = ds.read(1)
    naive = _naive_tiles(sample, model, 128, 32)
    assert (fast != naive).mean() < 1e-4  # float sums differ with batch size, rarely a class


def test_onnx_runtime_and_torch_give_the_same_map(sample, model, tmp_path):
    """The package's ONNX graph on ONNX Runtime (RUNTIME=auto on CPU) against the network on
    torch, over the whole Landsat scene: classes agree on >= 99.99% of pixels, probabilities
    within 1e-3, test-time augmentation included."""
    pytest.importorskip("onnxruntime")
    maps = {}
    for runtime in ("torch", "onnxruntime"):
        progress = RecordingProgress()
        result = classify_pixels(_cfg(sample, model, tmp_path / f"{runtime}.tif", runtime=runtime,
                                      test_time_augmentation=True, tile_size=256,
                                      output_probabilities=str(tmp_path / f"{runtime}_p.tif")),
                                 progress)
        assert ("ONNX Runtime" in result.device) == (runtime == "onnxruntime")
        with rasterio.open(tmp_path / f"{runtime}.tif") as ds, \
                rasterio.open(tmp_path / f"{runtime}_p.tif") as pr:
            maps[runtime] = ds.read(1), pr.read()
    (a, pa), (b, pb) = maps["torch"], maps["onnxruntime"]
    assert (a > 0).sum() > 150_000 and (a == b).mean() >= 0.9999
    assert np.abs(pa - pb).max() <= 1e-3


def test_tiles_are_seam_free(sample, model, tmp_path):
    """Against one pass over the whole raster, tiles differ where context differs, and no
    more at tile borders than inside tiles: no seams (rectangular patterns)."""
    classify_pixels(_cfg(sample, model, tmp_path / "one.tif", tile_size=512, padding=0))
    with rasterio.open(tmp_path / "one.tif") as ds:
        one = ds.read(1)
    rr, cc = np.indices(one.shape)
    for blend in ("centre", "weighted"):
        out = tmp_path / f"{blend}.tif"
        classify_pixels(_cfg(sample, model, out, tile_size=256, padding=64, blend=blend))
        with rasterio.open(out) as ds:
            tiled = ds.read(1)
        labelled = one > 0
        assert np.array_equal(tiled > 0, labelled)
        differ = (tiled != one) & labelled
        assert differ.sum() / labelled.sum() < 0.08
        core = 128
        seam = ((rr % core) < 3) | ((rr % core) >= core - 3) | ((cc % core) < 3) | \
            ((cc % core) >= core - 3)
        assert differ[seam & labelled].mean() <= 1.5 * differ[~seam & labelled].mean() + 0.01


def test_extent_in_another_crs_and_threshold(sample, model, tmp_path):
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, bounds

    with rasterio.open(sample / NC) as ds:
        b = bounds(Window(100, 50, 200, 150), ds.transform)
    geo = transform_bounds("EPSG:32119", "EPSG:4326", *b)
    out = tmp_path / "ext.tif"
    classify_pixels(_cfg(sample, model, out, extent=Extent(*geo, "EPSG:4326"),
                         confidence_threshold=0.9, output_confidence=str(tmp_path / "c.tif")))
    with rasterio.open(out) as ds, rasterio.open(tmp_path / "c.tif") as cf:
        assert 200 <= ds.width <= 210 and 150 <= ds.height <= 160
        cls, conf = ds.read(1), cf.read(1)
    assert np.all(cls[(conf >= 0) & (conf < 0.9)] == 0) and np.any(cls[conf >= 0.9] > 0)
    with pytest.raises(InputError, match="^EXTENT: it does not overlap"):
        classify_pixels(_cfg(sample, model, tmp_path / "x.tif",
                             extent=Extent(10, 50, 11, 51, "EPSG:4326")))


def test_band_mismatch_and_bad_packages(sample, model, tmp_path):
    s2 = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    with pytest.raises(InputError, match="^BANDS: the model expects bands"):
        classify_pixels(ClassifyConfig(s2, model, str(tmp_path / "x.tif"), device="cpu"))
    with pytest.raises(InputError, match="^BANDS: the model was trained on 5 bands .* 3 are"):
        classify_pixels(_cfg(sample, model, tmp_path / "x.tif", bands=(1, 2, 3)))
    (tmp_path / "junk.dlpk").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="^MODEL: .* is no zip archive"):
        classify_pixels(_cfg(sample, str(tmp_path / "junk.dlpk"), tmp_path / "x.tif"))
    import zipfile

    with zipfile.ZipFile(tmp_path / "esri.dlpk", "w") as zf:
        zf.writestr("m.emd", '{"Framework": "arcgis.learn.models._inferencing", "ModelFile": "m.pth"}')
    with pytest.raises(InputError, match="^MODEL: .* not a LandLearn model package"):
        classify_pixels(_cfg(sample, str(tmp_path / "esri.dlpk"), tmp_path / "x.tif"))
    with pytest.raises(InputError, match="^TILE_SIZE: 100 px must be a multiple of 32"):
        classify_pixels(_cfg(sample, model, tmp_path / "x.tif", tile_size=100))
    with pytest.raises(InputError, match="^PADDING: a padding of 60 px"):
        classify_pixels(_cfg(sample, model, tmp_path / "x.tif", tile_size=128, padding=60))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="^DEVICE: CUDA was requested"):
            classify_pixels(_cfg(sample, model, tmp_path / "x.tif", device="cuda"))
    assert sorted(os.listdir(tmp_path)) == ["esri.dlpk", "junk.dlpk"]


def test_cancel_leaves_no_output(sample, model, tmp_path):
    with pytest.raises(Cancelled):
        classify_pixels(_cfg(sample, model, tmp_path / "c.tif", tile_size=64, padding=16,
                             output_confidence=str(tmp_path / "conf.tif")),
                        RecordingProgress(cancel_after_checks=3))
    assert os.listdir(tmp_path) == []


def test_cell_size_with_an_extent_keeps_the_image_around_the_extent(sample, model, tmp_path):
    """Resampled over the EXTENT alone, the first tile's padding past the extent read
    NoData where the image goes on (a seam between adjacent extents); the resampled raster
    now reaches a padding past the extent, as the raster itself does without CELL_SIZE."""
    from rasterio.windows import Window, bounds

    from landlearn.core.classify.stream import open_source
    from landlearn.core.geo.grid import pad_window
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(model))
    with rasterio.open(sample / NC) as ds:
        b = bounds(Window(100, 100, 200, 150), ds.transform)
        res = ds.res[0]
    config = _cfg(sample, model, tmp_path / "x.tif", extent=Extent(*b, None), cell_size=res)
    source, area = open_source(config, info, RecordingProgress())
    with source:
        assert (int(area.width), int(area.height)) == (200, 150)
        first = pad_window(Window(area.col_off, area.row_off, 64, 64), 32)
        block = source.read(first)
        assert block.valid[:32, :32].all()  # the image up and left of the extent
        grid = source.grid.subgrid(area)
        assert grid.transform.c == pytest.approx(b[0]) and grid.transform.f == pytest.approx(b[3])


def test_a_weighted_blend_of_a_calibrated_model_is_tempered_after_blending(sample, model,
                                                                           tmp_path):
    """The same network under two temperatures, BLEND=weighted: the probabilities of the
    T = 0.3 package are those of T = 1 tempered (each tile was tempered before the blend,
    so in the overlaps they were another average, and the class map could move)."""
    import json
    import zipfile

    from landlearn.core.accuracy.calibration import apply_temperature

    def with_temperature(t, name):
        out = tmp_path / name
        with zipfile.ZipFile(model) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename.endswith(".emd"):
                    emd = json.loads(data)
                    cal = emd["LandLearn"].setdefault("calibration", {"method": "temperature"})
                    cal["temperature"] = t
                    cal.pop("tta", None)
                    data = json.dumps(emd).encode()
                dst.writestr(item, data)
        return str(out)

    probs, maps = {}, {}
    for t in (1.0, 0.3):
        out = tmp_path / f"t{t}.tif"
        classify_pixels(ClassifyConfig(str(sample / NC), with_temperature(t, f"t{t}.dlpk"),
                                       str(out), device="cpu", tile_size=64, padding=16,
                                       blend="weighted", runtime="torch",
                                       output_probabilities=str(tmp_path / f"p{t}.tif")))
        with rasterio.open(out) as c, rasterio.open(tmp_path / f"p{t}.tif") as p:
            maps[t], probs[t] = c.read(1), p.read()
    np.testing.assert_array_equal(maps[0.3], maps[1.0])
    valid = maps[1.0] > 0
    np.testing.assert_allclose(probs[0.3][:, valid],
                               apply_temperature(probs[1.0][:, valid], 0.3, axis=0),
                               atol=1e-4)  # NoData (-1) left out: no power of it


def test_cell_size_with_an_extent_takes_whole_cells_of_the_whole_rasters_grid(sample, model,
                                                                              tmp_path):
    """From the extent's own corner the resampled grid was shifted a fraction of a cell
    against the whole raster's (a third of a cell at 3x), and the last tiles of the extent
    read NoData where the image goes on past it (review 93): the map's cells are the whole
    raster's resampled cells, and the view reaches a tile past the extent."""
    from rasterio.windows import Window, bounds

    from landlearn.core.classify.stream import open_source
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(model))
    with rasterio.open(sample / NC) as ds:
        b = bounds(Window(31, 40, 90, 61), ds.transform)  # not on a 3-pixel cell
        res, origin = ds.res[0], (ds.transform.c, ds.transform.f)
    cell = 3 * res
    config = _cfg(sample, model, tmp_path / "x.tif", extent=Extent(*b, None), cell_size=cell,
                  tile_size=128, padding=16)
    source, area = open_source(config, info, RecordingProgress())
    with source:
        grid = source.grid.subgrid(area)
        for offset in ((grid.transform.c - origin[0]) / cell,
                       (origin[1] - grid.transform.f) / cell):
            assert offset == pytest.approx(round(offset), abs=1e-6)
        # outward to whole cells: the extent inside the map, less than a cell more
        assert grid.transform.c <= b[0] + 1e-6 and grid.transform.c > b[0] - cell
        right = Window(area.col_off + area.width - 1, area.row_off, 128 - 16, 64)
        assert source.read(right).valid.all()  # the image east of the extent, as without


def test_a_weighted_blend_writes_the_same_map_a_block_of_columns_at_a_time(sample, model,
                                                                           tmp_path,
                                                                           monkeypatch):
    from landlearn.core.classify import output

    runs = {}
    for name, columns in (("whole", 1 << 20), ("blocks", 40)):
        monkeypatch.setattr(output, "FLUSH_COLUMNS", columns)
        out = tmp_path / f"{name}.tif"
        classify_pixels(_cfg(sample, model, out, blend="weighted", tile_size=128, padding=32,
                             output_probabilities=str(tmp_path / f"{name}_p.tif")))
        with rasterio.open(out) as a, rasterio.open(tmp_path / f"{name}_p.tif") as p:
            runs[name] = (a.read(), p.read())
    np.testing.assert_array_equal(runs["whole"][0], runs["blocks"][0])
    np.testing.assert_array_equal(runs["whole"][1], runs["blocks"][1])


def test_a_raster_with_a_band_all_nan_is_an_empty_map_and_the_band_is_named(sample, model,
                                                                            tmp_path):
    """nc with its band 4 all NaN: every pixel is NoData (a model cannot take NaN), and
    the map was written empty with only '... tiles all NoData, skipped' in its summary."""
    with rasterio.open(sample / NC) as ds:
        data, profile = ds.read(), ds.profile
    data[3] = np.nan
    with rasterio.open(tmp_path / "nan.tif", "w", **profile) as ds:
        ds.write(data)
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(str(tmp_path / "nan.tif"), model, str(tmp_path / "m.tif"),
                                   device="cpu"), progress)
    assert any(w.startswith("The map holds no class: every tile of the raster is NoData: "
                            "band(s) [4] hold no value") for w in progress.warnings), \
        progress.warnings


def test_a_model_padding_cut_to_the_tile_is_said(sample, model, tmp_path):
    """A package whose ModelPadding (200 px) does not fit 256 px tiles ran with 120 px,
    unsaid; now a warning names what the model asks and the TILE_SIZE that holds it."""
    import json
    import zipfile

    from rasterio.windows import Window

    padded = tmp_path / "padded.dlpk"
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(padded, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith(".emd"):
                emd = json.loads(data)
                emd["ModelPadding"] = 200
                emd["LandLearn"].pop("padding", None)
                data = json.dumps(emd).encode()
            dst.writestr(item, data)
    small = tmp_path / "small.tif"
    with rasterio.open(sample / NC) as ds:
        window = Window(200, 200, 40, 40)
        profile = dict(ds.profile, width=40, height=40, transform=ds.window_transform(window))
        with rasterio.open(small, "w", **profile) as out:
            out.write(ds.read(window=window))
    said = RecordingProgress()
    classify_pixels(ClassifyConfig(str(small), str(padded), str(tmp_path / "cut.tif"),
                                   device="cpu", tile_size=256, runtime="torch"), said)
    assert [w for w in said.warnings if "ModelPadding" in w] == [
        "the model asks for 200 px of context around each tile (its ModelPadding); tiles of "
        "256 px leave room for 120 px, so pixels near tile edges see less than it asks. Set "
        "TILE_SIZE to at least 416 px for all of it, or PADDING to choose"]
    fits = RecordingProgress()
    classify_pixels(ClassifyConfig(str(small), str(padded), str(tmp_path / "fits.tif"),
                                   device="cpu", tile_size=256, padding=100, runtime="torch"),
                    fits)
    assert not [w for w in fits.warnings if "ModelPadding" in w]
