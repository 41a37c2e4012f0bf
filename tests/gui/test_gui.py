"""A real QGIS desktop under Xvfb: toolbar dialogs pre-filled, Classify Pixels from its
dialog, a styled layer in the project, and screenshots (copied to docs/screenshots only by
`make screenshots`)."""

import json
import os
import shutil
import subprocess

import pytest

from paths import PROFILE, ROOT
from small_models import nc_unet

QGIS = shutil.which("qgis")
XVFB = shutil.which("xvfb-run")
pytestmark = pytest.mark.skipif(not (QGIS and XVFB), reason="qgis desktop or xvfb-run missing")
pytest.importorskip("segmentation_models_pytorch")
SCREENSHOTS = ("main_window.png", "dialog_classifypixels.png", "dialog_exporttrainingdata.png",
               "dialog_traindeeplearningmodel.png", "dialog_trainclassifier.png",
               "dialog_segment.png", "dialog_classifypixels_log.png")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nc_unet(tmp_path_factory.mktemp("gui"), epochs=4, validation_percent=10)


def test_dialogs_classify_and_screenshots(sample, model, tmp_path):
    profile = PROFILE
    if not (profile / "profiles" / "default" / "python" / "plugins" / "landlearn").exists():
        pytest.skip("the throwaway QGIS profile is made by `make test`")
    image = sample / "nc_landsat7" / "landsat_multiband.tif"
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(profile), LANDLEARN_GUI_OUT=str(tmp_path),
               LANDLEARN_GUI_IMAGE=str(image), LANDLEARN_GUI_MODEL=model)
    env.pop("QT_QPA_PLATFORM", None)  # a real X display (Xvfb), not offscreen
    proc = subprocess.run([XVFB, "-a", "-s", "-screen 0 1600x1000x24", QGIS, "--nologo",
                           "--noversioncheck", "--code", str(ROOT / "tests" / "gui" / "gui_script.py")],
                          env=env, capture_output=True, text=True, timeout=600)
    results_file = tmp_path / "results.json"
    assert results_file.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(results_file.read_text())
    assert not results["errors"], results["errors"]
    assert results["plugin_loaded"]
    from landlearn.processing_provider.provider import ALGORITHMS

    assert results["actions"] == sorted(f"landlearn_{c.ID}" for c in ALGORITHMS)
    for name, info in results["dialogs"].items():
        assert info["title"], name
        if info.get("INPUT_RASTER") not in (None, "None"):
            assert info["INPUT_RASTER"] == results["layer_id"], name
    assert results["dialogs"]["classifypixels"]["EXTENT"] not in (None, "None")
    layer = results["classified_layer"]
    assert layer["renderer"] == "paletted" and "developed" in layer["classes"]
    # the README's screenshots are refreshed on purpose (`make screenshots`), never as a side
    # effect of `make test`, which must leave the checkout as it found it
    shots = ROOT / "docs" / "screenshots"
    refresh = os.environ.get("LANDLEARN_SCREENSHOTS") == "1"
    for png in SCREENSHOTS:
        assert (tmp_path / png).stat().st_size > 10_000, png
        if refresh:
            shots.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / png, shots / png)
