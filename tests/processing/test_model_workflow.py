"""The shipped graphical-modeler workflow, run through qgis_process.bin as CLI users run it."""

import re

import numpy as np
import pytest
import rasterio

from paths import ROOT
from qgis_cli import QP, qgis_process

pytestmark = pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
pytest.importorskip("segmentation_models_pytorch")
MODEL = "model:Land cover from polygons"


def test_model_is_listed_under_models():
    out = qgis_process("list")
    assert out.returncode == 0
    assert MODEL in out.stdout.split("\nModels\n", 1)[1].split("\n\n", 1)[0]


def test_land_cover_from_polygons_runs_end_to_end(sample, tmp_path):
    nc = sample / "nc_landsat7"
    image = nc / "landsat_multiband.tif"
    args = [f"IMAGE={image}", f"POLYGONS={nc / 'landsat96_polygons.shp'}", "CLASS_FIELD=id",
            "TILE_SIZE=64", "EPOCHS=1", f"classify:Land cover={tmp_path / 'landcover.tif'}",
            f"train:Model package={tmp_path / 'model.dlpk'}"]
    out = qgis_process("run", MODEL, "--", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    # "Executed 3 algorithms" (QGIS 3.22), "Executed 3 algorithm(s)" (3.40)
    assert re.search(r"Executed 3 algorithm(s|\(s\))", out.stdout), out.stdout
    with rasterio.open(tmp_path / "landcover.tif") as ds, rasterio.open(image) as src:
        assert ds.transform == src.transform and ds.shape == src.shape
        values = set(np.unique(ds.read(1)).tolist())
    assert values <= set(range(0, 8)) and len(values) >= 2
    assert (tmp_path / "landcover.qml").exists() and (tmp_path / "model.dlpk").exists()
    # the same file, handed to qgis_process by path, is that model with those inputs (a
    # second whole run by path took 50 s of CI's 60 minutes on each QGIS: it ran the same
    # algorithms as the run by name above)
    by_path = qgis_process("help", str(ROOT / "models" / "land_cover_from_polygons.model3"))
    assert by_path.returncode == 0, by_path.stdout + by_path.stderr
    assert by_path.stdout.lstrip().startswith("Land cover from polygons"), by_path.stdout
    for name in ("IMAGE", "POLYGONS", "CLASS_FIELD", "TILE_SIZE", "EPOCHS"):
        assert f"\n{name}: " in by_path.stdout, (name, by_path.stdout)
