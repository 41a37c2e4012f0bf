"""Export Training Data's BUFFER_RADIUS: point labels exported as discs (ArcGIS's
buffer_radius), each point's own pixel kept; no effect on label rasters, said."""

import json

import pytest

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from synthetic import points

# pixel centres of the nc sample (EPSG:32119, 28.5 m from 630534, 228114)
XY = [(1, (630534 + 28.5 * 100.5, 228114 - 28.5 * 100.5)),
      (2, (630534 + 28.5 * 300.5, 228114 - 28.5 * 200.5))]


def _pixels(folder):
    return {int(k): v for k, v in json.loads(
        (folder / "landlearn_manifest.json").read_text())["class_pixels"].items()}


def test_points_become_discs_of_the_radius_in_the_chips(sample, tmp_path):
    nc = sample / "nc_landsat7"
    path = points(tmp_path / "p.gpkg", XY, 32119)

    def export(out, radius):
        return export_training_data(ExportConfig(
            str(nc / "landsat_multiband.tif"),
            LabelConfig(path, class_field="cls", buffer_radius=radius), str(out),
            tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64), RecordingProgress())

    export(tmp_path / "one", 0.0)
    export(tmp_path / "disc", 100.0)
    assert _pixels(tmp_path / "one") == {1: 1, 2: 1}
    # pixel centres within 100 m (3.5 px) of a centre: 37 (none on the circle)
    assert _pixels(tmp_path / "disc") == {1: 37, 2: 37}
    # the folder says how its points were burnt
    manifest = json.loads((tmp_path / "disc" / "landlearn_manifest.json").read_text())
    assert manifest["buffer_radius"] == 100.0
    assert "buffer_radius" not in json.loads(
        (tmp_path / "one" / "landlearn_manifest.json").read_text())


@pytest.mark.heavy
def test_a_radius_on_a_label_raster_is_said_to_do_nothing(sample, tmp_path):
    nc = sample / "nc_landsat7"
    progress = RecordingProgress()
    export_training_data(ExportConfig(
        str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif"), buffer_radius=50.0),
        str(tmp_path / "r"), tile_size_x=64, tile_size_y=64), progress)
    assert any("BUFFER_RADIUS has no effect on a label raster" in w for w in progress.warnings)
    assert "buffer_radius" not in json.loads((tmp_path / "r" / "landlearn_manifest.json").read_text())
