"""The promises as CLI users meet them, through qgis_process.bin: a gadget package runs
nothing, an output aimed at an input is refused, OVERWRITE leaves foreign folders alone,
absurd sizes stop at once, and SIGTERM leaves nothing half-written. Each error is one
line naming the parameter, never a Python traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import builder
from checks import digest
from qgis_cli import PROFILE, QP, qgis_process

pytestmark = pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")


def _refused(out, parameter: str) -> str:
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert f"{parameter}: " in text, text
    assert "Traceback" not in text, text
    return text


def test_gadget_package_runs_nothing_through_qgis_process(bases, image, tmp_path):
    sentinel = tmp_path / "SENTINEL"
    gadget = builder.gadget_pipelines(str(sentinel))["exec_via_numpy_full_like"]
    bad = builder.classical_with(bases["classical"], tmp_path / "evil.dlpk",
                                 builder.skops_bytes(gadget))
    before = digest(image)
    out = qgis_process("run", "landlearn:classifypixels", "--", f"INPUT_RASTER={image}",
                       f"MODEL={bad}", f"OUTPUT={tmp_path / 'map.tif'}")
    _refused(out, "MODEL")
    assert not sentinel.exists() and not (tmp_path / "map.tif").exists()
    assert digest(image) == before


def test_output_equal_to_input_is_refused_through_qgis_process(bases, image, tmp_path):
    before = digest(image)
    for alg, extra in (("classifypixels", [f"MODEL={bases['classical']}"]),
                       ("segment", []),
                       ("rasterizelabels", [f"LABELS={builder.NC / 'strata.tif'}"])):
        out = qgis_process("run", f"landlearn:{alg}", "--", f"INPUT_RASTER={image}", *extra,
                           f"OUTPUT={image}")
        _refused(out, "OUTPUT")
        assert digest(image) == before


def test_overwrite_refuses_a_folder_with_a_lone_map_txt(image, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "map.txt").write_text("not chips")
    (folder / "analysis.py").write_text("print('mine')")
    before = digest(folder)
    out = qgis_process("run", "landlearn:exporttrainingdata", "--", f"INPUT_RASTER={image}",
                       f"LABELS={builder.NC / 'strata.tif'}", "OVERWRITE=true",
                       f"OUTPUT_FOLDER={folder}")
    _refused(out, "OUTPUT_FOLDER")
    assert digest(folder) == before


def test_absurd_cell_size_stops_at_once(bases, image, tmp_path):
    out = qgis_process("run", "landlearn:classifypixels", "--", f"INPUT_RASTER={image}",
                       f"MODEL={bases['classical']}", "CELL_SIZE=0.01",
                       f"OUTPUT={tmp_path / 'map.tif'}")
    text = _refused(out, "MAX_OUTPUT_GPX")
    assert "gigapixels" in text


def test_sigterm_to_qgis_process_leaves_no_part_files(bases, tmp_path):
    """A larger mosaic of the sample (so the run lasts), classified; SIGTERM once the
    temporary output exists."""
    if not (PROFILE / "profiles" / "default" / "python" / "plugins" / "landlearn").exists():
        pytest.skip("the throwaway QGIS profile is made by `make test`")
    from osgeo import gdal

    src = gdal.Open(str(builder.IMAGE))
    x0, rx, _, y0, _, ry = src.GetGeoTransform()
    w, h = src.RasterXSize * rx, src.RasterYSize * ry
    src = None
    tiles = []
    for j in range(6):
        for i in range(6):
            t = str(tmp_path / f"t{i}{j}.vrt")
            gdal.Translate(t, str(builder.IMAGE), format="VRT",
                           outputBounds=[x0 + i * w, y0 + j * h, x0 + (i + 1) * w,
                                         y0 + (j + 1) * h])
            tiles.append(t)
    mosaic = tmp_path / "mosaic.vrt"
    gdal.BuildVRT(str(mosaic), tiles).FlushCache()
    out_path = tmp_path / "map.tif"
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(PROFILE), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([QP, "run", "landlearn:classifypixels", "--",
                             f"INPUT_RASTER={mosaic}", f"MODEL={bases['classical']}",
                             f"OUTPUT={out_path}", f"OUTPUT_PROBABILITIES={tmp_path / 'p.tif'}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not any(".part" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    left = [p.name for p in tmp_path.iterdir() if ".part" in p.name]
    assert left == [], left
    assert not out_path.exists()

