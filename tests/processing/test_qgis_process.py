"""qgis_process.bin as a subprocess: how modeler-less CLI users and scripts run LandLearn."""

import os
import re

import numpy as np
import pytest
import rasterio

from qgis_cli import QP, qgis_process

pytestmark = pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")

def test_list_shows_landlearn_algorithms():
    out = qgis_process("list")
    assert out.returncode == 0, out.stderr
    assert "landlearn:rasterizelabels" in out.stdout and "landlearn:diagnostics" in out.stdout


def test_run_gives_the_same_raster_as_processing_run(provider, sample, tmp_path):
    import processing

    s2 = sample / "s2_osm_sparse"
    params = {"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
              "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass"}
    cli_out, py_out = tmp_path / "cli.tif", tmp_path / "py.tif"
    out = qgis_process("run", "landlearn:rasterizelabels", "--",
                       *[f"{k}={v}" for k, v in params.items()], f"OUTPUT={cli_out}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CLASS_COUNT:\t8" in out.stdout
    processing.run("landlearn:rasterizelabels", {**params, "OUTPUT": str(py_out)})
    with rasterio.open(cli_out) as a, rasterio.open(py_out) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.colormap(1) == b.colormap(1)
    assert (tmp_path / "cli.qml").read_text() == (tmp_path / "py.qml").read_text()


def test_choice_by_name_and_bad_input_from_the_command_line(sample, tmp_path):
    ok = qgis_process("run", "landlearn:diagnostics", "--", "DEVICE=cpu")
    assert ok.returncode == 0 and "DEVICE_USED:\tcpu" in ok.stdout
    bad = qgis_process("run", "landlearn:diagnostics", "--", "DEVICE=gpu")
    assert bad.returncode != 0 and "DEVICE: 'gpu' is not a valid choice" in bad.stdout + bad.stderr
    nc = sample / "nc_landsat7"
    out = qgis_process("run", "landlearn:rasterizelabels", "--", f"INPUT_RASTER={nc / 'landsat_multiband.tif'}",
                       f"LABELS={nc / 'landsat96_polygons.shp'}", "CLASS_FIELD=nope",
                       f"OUTPUT={tmp_path / 'x.tif'}")
    assert out.returncode != 0
    assert "CLASS_FIELD: the layer has no field 'nope'" in out.stdout + out.stderr
    assert list(tmp_path.iterdir()) == []


def test_plugin_loads_without_torch_and_says_how_to_install_it(tmp_path):
    fake = tmp_path / "notorch" / "torch"
    fake.mkdir(parents=True)
    # as Python says a package is absent (another ImportError is a torch that is there but
    # will not load: Diagnostics calls that BROKEN)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", "
                                      "name='torch')\n")
    path = os.pathsep.join([str(tmp_path / "notorch"), os.environ.get("PYTHONPATH", "")])
    listed = qgis_process("list", env_extra={"PYTHONPATH": path})
    assert listed.returncode == 0 and "landlearn:rasterizelabels" in listed.stdout
    run = qgis_process("run", "landlearn:diagnostics", "--", "DEVICE=auto", env_extra={"PYTHONPATH": path})
    text = run.stdout + run.stderr
    # Diagnostics is how users learn what to install: a missing package is reported, with
    # the command that works on this Python (its numpy decides pins or ranges), never fatal
    assert run.returncode == 0, text
    assert "DEVICE_USED:\tnone (torch is not installed)" in text
    assert "torch is not installed:" in text and "-m pip install" in text
    assert re.search(r"torch==2\.15\.0|'torch>=2\.6,<3'", text), text
    numpy = __import__("numpy").__version__
    assert f" numpy=={numpy}" in text  # pip must never replace the numpy QGIS is built on


def test_booleans_written_as_words_mean_what_they_say(sample, tmp_path):
    """QGIS reads any text but '0' and 'false' as true: ALL_TOUCHED=off burnt every touched
    pixel (and FREEZE=no froze an encoder). Words are read as meant, nonsense refused."""
    nc = sample / "nc_landsat7"
    base = [f"INPUT_RASTER={nc / 'landsat_multiband.tif'}",
            f"LABELS={nc / 'landsat96_polygons.shp'}", "CLASS_FIELD=id"]
    maps = {}
    for word in ("off", "0", "on"):
        out = qgis_process("run", "landlearn:rasterizelabels", "--", *base,
                           f"ALL_TOUCHED={word}", f"OUTPUT={tmp_path / word}.tif")
        assert out.returncode == 0, out.stdout + out.stderr
        with rasterio.open(tmp_path / f"{word}.tif") as ds:
            maps[word] = ds.read(1)
    np.testing.assert_array_equal(maps["off"], maps["0"])
    assert np.count_nonzero(maps["on"]) > np.count_nonzero(maps["off"])
    bad = qgis_process("run", "landlearn:rasterizelabels", "--", *base, "ALL_TOUCHED=maybe",
                       f"OUTPUT={tmp_path / 'bad.tif'}")
    assert bad.returncode != 0
    assert "ALL_TOUCHED: 'maybe' is not true or false" in bad.stdout + bad.stderr
    assert not (tmp_path / "bad.tif").exists()


def test_numbers_out_of_range_name_the_range(sample, tmp_path):
    """QGIS's own check said only 'Incorrect parameter value for SPECTRAL_DETAIL'."""
    image = f"INPUT_RASTER={sample / 'nc_landsat7' / 'landsat_multiband.tif'}"
    out = f"OUTPUT={tmp_path / 'm.tif'}"
    for given, said in (("SPECTRAL_DETAIL=21", "SPECTRAL_DETAIL: 21 is out of range; use 1..20"),
                        ("SPECTRAL_DETAIL=abc", "SPECTRAL_DETAIL: 'abc' is not a number"),
                        ("MIN_SEGMENT_SIZE=2.5", "MIN_SEGMENT_SIZE: 2.5 is not a whole number"),
                        ("MAX_SEGMENT_SIZE=-1", "MAX_SEGMENT_SIZE: -1 is out of range; use at "
                                                "least 0"),
                        # past 32 bits QGIS read 0 (TILE_SIZE_X=3000000000 became the
                        # automatic size, unsaid; a qgis_process sweep, stop 67)
                        ("MAX_SEGMENT_SIZE=3000000000", "MAX_SEGMENT_SIZE: 3000000000 is out "
                                                        "of range; use 0..2147483647"),
                        # int(inf) raised OverflowError inside QGIS's check: a traceback
                        ("MIN_SEGMENT_SIZE=inf", "MIN_SEGMENT_SIZE: inf is not a finite number")):
        run = qgis_process("run", "landlearn:segment", "--", image, given, out)
        assert run.returncode != 0 and said in run.stdout + run.stderr, (given, run.stdout)
    assert list(tmp_path.iterdir()) == []
    # whole bounds in full: :g showed SEED's 4294966 as 4.29497e+06, which is refused
    nc = sample / "nc_landsat7"
    seed = qgis_process("run", "landlearn:trainclassifier", "--", image,
                        f"LABELS={nc / 'landsat96_polygons.shp'}", "CLASS_FIELD=id", "SEED=5000000",
                        f"OUTPUT_MODEL={tmp_path / 'm.dlpk'}")
    assert "SEED: 5000000 is out of range; use 0..4294966" in seed.stdout + seed.stderr
    assert list(tmp_path.iterdir()) == []


def test_rotation_angle_from_the_command_line(sample, tmp_path):
    """ROTATION_ANGLE through qgis_process: 120 adds two turned copies of every chip (the
    manifest says which turn each holds); a step under 10 degrees is refused, nothing
    written."""
    import json

    nc = sample / "nc_landsat7"
    base = [f"INPUT_RASTER={nc / 'landsat_multiband.tif'}", f"LABELS={nc / 'strata.tif'}",
            "TILE_SIZE_X=64", "TILE_SIZE_Y=64", "STRIDE_X=64", "STRIDE_Y=64"]
    counts = {}
    for angle in ("0", "120"):
        run = qgis_process("run", "landlearn:exporttrainingdata", "--", *base,
                           f"ROTATION_ANGLE={angle}", f"OUTPUT_FOLDER={tmp_path / angle}")
        assert run.returncode == 0, run.stdout + run.stderr
        counts[angle] = int(re.search(r"CHIP_COUNT:\t(\d+)", run.stdout).group(1))
    assert counts["120"] == 3 * counts["0"] > 0
    chips = json.loads((tmp_path / "120" / "landlearn_manifest.json").read_text())["chips"]
    assert sorted({c.get("rotation", 0) for c in chips}) == [0, 120, 240]
    bad = qgis_process("run", "landlearn:exporttrainingdata", "--", *base, "ROTATION_ANGLE=5",
                       f"OUTPUT_FOLDER={tmp_path / 'bad'}")
    assert bad.returncode != 0
    assert "ROTATION_ANGLE: 5 is not a rotation step" in bad.stdout + bad.stderr
    assert sorted(os.listdir(tmp_path)) == ["0", "120"]


def test_a_damaged_raster_is_named_not_called_a_bug(sample, tmp_path):
    """A truncated GeoTIFF (an interrupted download) opens, then fails on its first tile:
    that was 'failed unexpectedly ... a bug in LandLearn' with a traceback."""
    from osgeo import gdal

    damaged = tmp_path / "cut.tif"
    gdal.Translate(str(damaged), str(sample / "nc_landsat7" / "landsat_multiband.tif"),
                   creationOptions=["TILED=YES"])
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 8)
    run = qgis_process("run", "landlearn:rasterizelabels", "--", f"INPUT_RASTER={damaged}",
                       f"LABELS={sample / 'nc_landsat7' / 'landsat96_polygons.shp'}",
                       "CLASS_FIELD=id", f"OUTPUT={tmp_path / 'labels.tif'}")
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"INPUT_RASTER: '{damaged}' cannot be read (" in text
    assert "the file is damaged or incomplete" in text
    assert "bug in LandLearn" not in text and "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]
