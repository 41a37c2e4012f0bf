"""classify.output on a tiny grid: the blend weight, and centre vs weighted blending of tiles."""

from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig
from landlearn.core.classify.output import NODATA_FLOAT, ClassifyOutputs, hann_weight
from landlearn.core.geo.classes import ClassInfo
from landlearn.core.geo.grid import Grid, tile_windows


def test_hann_weight_is_flat_in_the_centre_symmetric_and_never_zero():
    w = hann_weight(64, 8)
    assert w.shape == (64, 64) and w.dtype == np.float32
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1])
    np.testing.assert_array_equal(w, w[:, ::-1])
    np.testing.assert_allclose(w[16:48, 16:48], 1.001, rtol=1e-6)
    assert w.min() > 1e-3 and w.max() == pytest.approx(1.001)
    edge = w[32, :16]
    assert np.all(np.diff(edge) > 0)  # rises from the edge to the flat centre
    # the ramp halves at the padding: a tile and its neighbour weigh alike where they meet
    assert w[32, 7] + w[32, 8] == pytest.approx(2 * 0.5 + 2 * 1e-3, abs=1e-6)
    np.testing.assert_allclose(hann_weight(16, 0), 1.001, rtol=1e-6)


GRID = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 40, 36)
INFO = SimpleNamespace(class_values=[3, 7], class_names=["water", "forest"],
                       classes=[ClassInfo(3, "water", (0, 0, 255)), ClassInfo(7, "forest", (0, 128, 0))],
                       kind="deep", temperature=1.0, tta_temperature=1.0)
TILE, PAD = 24, 4
CORE = TILE - 2 * PAD


def _classify(tmp_path, blend, threshold=0.0):
    """Feed a checkerboard of tiles (each sure of its own class at 0.8) as classify_pixels
    does: row by row, the full padded tile, NoData in one corner of the raster."""
    config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / f"{blend}.tif"), blend=blend,
                            confidence_threshold=threshold,
                            output_confidence=str(tmp_path / f"{blend}_c.tif"),
                            output_probabilities=str(tmp_path / f"{blend}_p.tif"))
    area = GRID.full_window
    nodata = np.zeros(GRID.shape, dtype=bool)
    nodata[:5, :6] = True
    with ClassifyOutputs(config, GRID, INFO, area, TILE, PAD) as out:
        for win in tile_windows(area, (CORE, CORE)):
            i, j = int(win.row_off) // CORE, int(win.col_off) // CORE
            own = (i + j) % 2
            probs = np.full((2, TILE, TILE), 0.2, dtype=np.float32)
            probs[own] = 0.8
            r0, c0 = int(win.row_off) - PAD, int(win.col_off) - PAD
            valid = np.zeros((TILE, TILE), dtype=bool)
            rr, cc = np.meshgrid(np.arange(r0, r0 + TILE), np.arange(c0, c0 + TILE), indexing="ij")
            inside = (rr >= 0) & (rr < GRID.height) & (cc >= 0) & (cc < GRID.width)
            valid[inside] = ~nodata[rr[inside], cc[inside]]
            out.add(win, probs, valid)
        out.finish()
        counts = out.class_counts
    with rasterio.open(config.output) as c, rasterio.open(config.output_confidence) as f, \
            rasterio.open(config.output_probabilities) as p:
        return c.read(1), f.read(1), p.read(), counts, nodata


def _expected_classes(nodata):
    rr, cc = np.indices(GRID.shape)
    own = (rr // CORE + cc // CORE) % 2
    return np.where(nodata, 0, np.array([3, 7], np.uint8)[own])


def test_centre_blending_writes_each_tiles_centre(tmp_path):
    cls, conf, prob, counts, nodata = _classify(tmp_path, "centre")
    expected = _expected_classes(nodata)
    np.testing.assert_array_equal(cls, expected)
    assert counts == {v: int((expected == v).sum()) for v in (0, 3, 7)}
    np.testing.assert_allclose(conf[~nodata], 0.8)
    assert np.all(conf[nodata] == NODATA_FLOAT) and np.all(prob[:, nodata] == NODATA_FLOAT)
    np.testing.assert_allclose(prob[:, ~nodata].sum(0), 1.0, rtol=1e-6)


def test_weighted_blending_keeps_the_classes_and_blends_at_tile_borders(tmp_path):
    cls, conf, prob, counts, nodata = _classify(tmp_path, "weighted")
    centre_cls, centre_conf, _, _, _ = _classify(tmp_path, "centre")
    # each pixel's own tile weighs most, so the classes are the centre blend's
    np.testing.assert_array_equal(cls, centre_cls)
    assert sum(counts.values()) == cls.size
    assert np.all(conf[nodata] == NODATA_FLOAT)
    np.testing.assert_allclose(prob[:, ~nodata].sum(0), 1.0, rtol=1e-5)
    # where two tiles of different classes meet, the confidence is a blend below 0.8
    border = conf[:, CORE - 1]  # the last column of the first tile column's centre
    assert np.all((border[6:] > 0.5) & (border[6:] < 0.79))
    # far from any tile border, one tile alone: its own 0.8
    assert conf[8, 8] == pytest.approx(0.8, abs=1e-3)
    np.testing.assert_allclose(centre_conf[~nodata], 0.8)


def test_confidence_threshold_leaves_unsure_pixels_unclassified(tmp_path):
    cls, conf, _, _, nodata = _classify(tmp_path, "weighted", threshold=0.75)
    assert np.all(cls[(conf >= 0) & (conf < 0.75)] == 0)
    assert np.all(cls[conf >= 0.75] > 0) and (cls[~nodata] == 0).any()


def test_an_error_inside_leaves_no_output(tmp_path):
    config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / "x.tif"))
    with pytest.raises(RuntimeError, match="boom"):
        with ClassifyOutputs(config, GRID, INFO, GRID.full_window, TILE, PAD) as out:
            out.add(Window(0, 0, CORE, CORE), np.full((2, TILE, TILE), 0.5, np.float32),
                    np.ones((TILE, TILE), bool))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_opened_leaves_the_others_files_behind_none(tmp_path):
    """The probabilities' folder is a file: the class map's and confidence's temporary
    files, opened first, go too (in one process, on a worker, and in the assembly)."""
    from landlearn.core.errors import InputError

    (tmp_path / "blocker").write_text("not a folder")
    config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / "x.tif"),
                            output_confidence=str(tmp_path / "c.tif"),
                            output_probabilities=str(tmp_path / "blocker" / "p.tif"))
    with pytest.raises(InputError, match="^OUTPUT_PROBABILITIES: "):
        ClassifyOutputs(config, GRID, INFO, GRID.full_window, TILE, PAD)
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]


def test_a_padding_over_a_quarter_of_the_tile_still_weighs_symmetrically():
    """The falling fade was written over the rising one: hann_weight(64, 24) jumped to 1
    inside the left padding and fell to about 0.5 across the centre."""
    w = hann_weight(64, 24)
    np.testing.assert_array_equal(w, w[::-1])
    np.testing.assert_array_equal(w, w[:, ::-1])
    row = w[32]
    assert np.all(np.diff(row[:32]) > 0) and row.argmax() in (31, 32)


@pytest.mark.parametrize("tile, pad", [(24, 4), (24, 8), (20, 9)])
def test_the_weighted_strip_equals_blending_the_whole_raster_at_once(tmp_path, tile, pad):
    """Random probabilities per tile, fed as classify_pixels feeds them: the strip that
    writes rows as they become final gives what weighting every tile into one raster-sized
    array gives (the strip's rows move up by a core after each row of tiles)."""
    config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / "w.tif"), blend="weighted",
                            output_probabilities=str(tmp_path / "w_p.tif"))
    core = tile - 2 * pad
    area = GRID.full_window
    rng = np.random.default_rng(tile * 100 + pad)
    weight = hann_weight(tile, pad)
    acc = np.zeros((2, GRID.height + 2 * tile, GRID.width + 2 * tile))
    wsum = np.zeros((GRID.height + 2 * tile, GRID.width + 2 * tile))
    with ClassifyOutputs(config, GRID, INFO, area, tile, pad) as out:
        for win in tile_windows(area, (core, core)):
            a = rng.random((tile, tile)).astype(np.float32)
            probs = np.stack([a, 1 - a])
            r0, c0 = int(win.row_off) - pad + tile, int(win.col_off) - pad + tile
            acc[:, r0:r0 + tile, c0:c0 + tile] += probs * weight
            wsum[r0:r0 + tile, c0:c0 + tile] += weight
            out.add(win, probs, np.ones((tile, tile), bool))
        out.finish()
    inner = (slice(tile, tile + GRID.height), slice(tile, tile + GRID.width))
    expected = acc[(slice(None),) + inner] / wsum[inner]
    with rasterio.open(config.output_probabilities) as p:
        np.testing.assert_allclose(p.read(), expected, rtol=1e-5, atol=1e-6)


def test_a_temperature_tempers_the_weighted_blend_and_leaves_its_map(tmp_path):
    """The package's temperature was applied to each tile before the weighted blend: the
    blend of p^(1/T) can take another class than the blend of p (here T = 0.3: a tile sure
    of class 3 at 0.9 beside one leaning 0.6 to class 7), so the class map depended on the
    calibration. Now the raw probabilities are blended and the blend tempered."""
    from landlearn.core.accuracy.calibration import apply_temperature

    tile, pad = 24, 8
    core = tile - 2 * pad
    area = GRID.full_window
    rng = np.random.default_rng(5)
    tiles = []
    for win in tile_windows(area, (core, core)):
        a = np.where(rng.random() < 0.5, 0.9, 0.4).astype(np.float32) + np.zeros((tile, tile),
                                                                                 np.float32)
        tiles.append((win, np.stack([a, 1 - a])))

    def run(name, info):
        config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / f"{name}.tif"),
                                blend="weighted", output_probabilities=str(tmp_path / f"{name}_p.tif"))
        with ClassifyOutputs(config, GRID, info, area, tile, pad) as out:
            for win, probs in tiles:
                out.add(win, probs, np.ones((tile, tile), bool))
            out.finish()
        with rasterio.open(config.output) as c, rasterio.open(config.output_probabilities) as p:
            return c.read(1), p.read()

    raw_map, raw_p = run("raw", INFO)
    cold_map, cold_p = run("cold", SimpleNamespace(**{**vars(INFO), "temperature": 0.3}))
    np.testing.assert_array_equal(cold_map, raw_map)
    np.testing.assert_allclose(cold_p, apply_temperature(raw_p, 0.3, axis=0), atol=1e-5)


def test_probabilities_that_are_not_numbers_stop_the_run_and_leave_nothing(tmp_path):
    """argmax reads NaN as the largest: such pixels became the first class with NaN
    confidence, above any threshold. Over NoData they do no harm."""
    from landlearn.core.errors import InputError

    config = ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / "x.tif"))
    probs = np.full((2, TILE, TILE), 0.5, np.float32)
    valid = np.ones((TILE, TILE), bool)
    probs[:, :PAD + 2, :] = np.nan
    valid[:PAD + 1, :] = False  # one row of the core valid: 16 pixels
    with pytest.raises(InputError, match=r"^INPUT_RASTER: the model gave probabilities that "
                       r"are not numbers for 16 valid pixels near row 0, column 0: .*NoData"):
        with ClassifyOutputs(config, GRID, INFO, GRID.full_window, TILE, PAD) as out:
            out.add(Window(0, 0, CORE, CORE), probs, valid)
    assert list(tmp_path.iterdir()) == []
    probs[:, PAD + 1] = 0.5  # NaN over NoData only
    with ClassifyOutputs(config, GRID, INFO, GRID.full_window, TILE, PAD) as out:
        out.add(Window(0, 0, CORE, CORE), probs, valid)
    with rasterio.open(tmp_path / "x.tif") as ds:
        assert not ds.read(1)[:1, :CORE].any() and ds.read(1)[1, :CORE].all()
