"""A full disk and termination signals: the old output stays intact, nothing is left
half-written, and the error says what happened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import builder
from checks import digest
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.labels.base import LabelConfig
from paths import PYPATH, ROOT

NC = builder.NC


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system (tmpfs), for a disk that fills up; needs root to mount."""
    mount = tmp_path / "small"
    mount.mkdir()
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                        capture_output=True).returncode
    if rc != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, leave: int) -> None:
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler.bin", "wb") as fh:
        fh.write(bytes(max(free - leave, 0)))


def test_full_disk_keeps_the_previous_output(guard, small_disk):
    """The issue's case: a raster written onto a full disk used to replace a good file with
    a truncated one (ZIPDecode errors on read) and leave .part files. Noise does not
    compress, so the disk fills while the blocks are written."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid
    from landlearn.core.geo.writer import GeoTiffWriter

    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 0, 10, 10), 1024, 1024)
    good = small_disk / "prob.tif"
    with GeoTiffWriter(good, grid, 1, np.float32) as w:
        w.write(np.zeros((1024, 1024), np.float32), rasterio.windows.Window(0, 0, 1024, 1024))
    before = digest(good)
    noise = np.random.default_rng(0).random((4, 1024, 1024), dtype=np.float32)

    def write_noise():
        with GeoTiffWriter(good, grid, 4, np.float32, parameter="output_probabilities") as w:
            for r in range(0, 1024, 256):
                w.write(noise[:, r:r + 256], rasterio.windows.Window(0, r, 1024, 256))

    err = guard.refused(write_noise, "output_probabilities", "disk full")
    assert "MB needed" in str(err)
    assert digest(good) == before
    with rasterio.open(good) as ds:
        assert ds.read(1).shape == (1024, 1024)  # still whole


def test_classify_onto_a_full_disk_stops_before_writing(bases, guard, image, small_disk):
    good = small_disk / "map.tif"
    classify_pixels(ClassifyConfig(str(image), str(bases["classical"]), str(good)))
    before = digest(good)
    _fill(small_disk, 100_000)
    guard.refused(lambda: classify_pixels(ClassifyConfig(
        str(image), str(bases["classical"]), str(good),
        output_probabilities=str(small_disk / "prob.tif"))),
        "output", "disk full ahead", keep=[image])
    assert digest(good) == before


@pytest.mark.parametrize("leave, spool_estimate, ahead", [
    (1_500_000, None, True),  # too little for the temporary labels and statistics: said first
    (2_300_000, 0, False)])  # a spool larger than planned (noise): the disk fills during the run
def test_segment_onto_a_nearly_full_disk_says_so_and_leaves_nothing(guard, image, small_disk,
                                                                    monkeypatch, leave,
                                                                    spool_estimate, ahead):
    """Segment's temporary labels and spooled statistics wait beside the outputs,
    uncompressed, and are counted before the run; a disk that fills during the first pass
    anyway is named too, and nothing is left."""
    from landlearn.core.segment import segment_mean_shift
    from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

    if spool_estimate is not None:
        monkeypatch.setattr(segment_mean_shift, "SPOOL_BYTES_PER_PIXEL", spool_estimate)
    _fill(small_disk, leave)
    err = guard.refused(lambda: segment(SegmentConfig(
        str(image), output_segment_ids=str(small_disk / "ids.tif"), min_segment_size=10)),
        "output_segment_ids", "disk full", keep=[image])
    assert ("disk full ahead" in str(err)) == ahead, str(err)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler.bin"]


def test_export_and_training_on_a_full_disk_say_so(bases, guard, image, small_disk):
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical

    _fill(small_disk, 200_000)
    guard.refused(lambda: export_training_data(ExportConfig(
        str(image), LabelConfig(str(NC / "strata.tif")), str(small_disk / "chips"),
        tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64)), "output_folder",
        "disk full", keep=[image])
    assert not (small_disk / "chips").exists()
    _fill(small_disk, 20_000)
    labels = LabelConfig(str(NC / "landsat96_polygons.shp"), class_field="id")
    guard.refused(lambda: train_classical(ClassicalConfig(str(image), labels,
                                                          str(small_disk / "rf.dlpk"), trees=40,
                                                          cv_folds=0)),
                  "output_model", "disk full")
    assert not (small_disk / "rf.dlpk").exists()


RUNNER = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, whatever started pytest
    sys.path.insert(0, {pypath!r})
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.progress import NullProgress

    class Slow(NullProgress):
        def is_canceled(self):
            time.sleep(0.2)
            return False

    classify_pixels(ClassifyConfig({image!r}, {model!r}, {out!r}, tile_size=64, padding=0,
                                   output_confidence={conf!r}), Slow())
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_signals_leave_nothing_half_written(bases, guard, image, tmp_path, signum):
    out, conf = tmp_path / "map.tif", tmp_path / "conf.tif"
    script = RUNNER.format(pypath=str(PYPATH), image=str(image), model=str(bases["classical"]),
                           out=str(out), conf=str(conf))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=str(ROOT),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(".part" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the run never started writing"
        time.sleep(0.05)
    proc.send_signal(signum)
    proc.wait(timeout=120)
    assert proc.returncode == -signum, proc.stderr.read()
    assert not out.exists() and not conf.exists()
    guard.after({})


WRITER = textwrap.dedent("""
    import resource, signal, sys
    sys.path.insert(0, {pypath!r})
    import numpy as np, rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    from landlearn.core.errors import InputError
    from landlearn.core.geo.grid import Grid
    from landlearn.core.geo.writer import GeoTiffWriter

    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 0, 10, 10), 1024, 1024)
    noise = np.random.default_rng(0).random((4, 1024, 1024), dtype=np.float32)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
    try:
        with GeoTiffWriter({path!r}, grid, 4, np.float32, parameter="output") as w:
            w.write(noise, Window(0, 0, 1024, 1024))
    except InputError as exc:
        print("REFUSED", exc)
""")


def test_a_file_size_limit_keeps_the_previous_output(guard, tmp_path):
    """Without root (no small disk to mount), a per-process file size limit makes the
    writes fail the same way: the previous file stays, nothing is left behind."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid
    from landlearn.core.geo.writer import GeoTiffWriter

    good = tmp_path / "prob.tif"
    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 0, 10, 10), 64, 64)
    with GeoTiffWriter(good, grid, 1, np.float32) as w:
        w.write(np.ones((64, 64), np.float32), rasterio.windows.Window(0, 0, 64, 64))
    before = digest(good)
    proc = subprocess.run([sys.executable, "-c", WRITER.format(pypath=str(PYPATH),
                                                               path=str(good))],
                          capture_output=True, text=True, timeout=300)
    assert "REFUSED OUTPUT: " in proc.stdout, proc.stdout + proc.stderr
    assert digest(good) == before
    guard.after({})
