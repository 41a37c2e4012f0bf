"""Chip folders for the tests that read them: an export of the embedded nc sample, and the
same folder as ArcGIS would leave it (no LandLearn manifest, optionally no statistics)."""

import json
import os
import shutil

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.labels.base import LabelConfig


def nc_export(sample, out, tile=128, stride=64):
    nc = sample / "nc_landsat7"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")),
                                      str(out), tile_size_x=tile, tile_size_y=tile, stride_x=stride,
                                      stride_y=stride))
    return out


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def arcgis_copy(export, folder, keep_stats=False):
    """The export as ArcGIS writes one: no LandLearn manifest, no LandLearn block; without
    ``keep_stats`` no band statistics either."""
    shutil.copytree(export, folder)
    os.remove(folder / "landlearn_manifest.json")
    emd = read_json(folder / "esri_model_definition.emd")
    emd.pop("LandLearn")
    if not keep_stats:
        emd.pop("AllTilesStats")
    (folder / "esri_model_definition.emd").write_text(json.dumps(emd))
    if not keep_stats:
        stats = read_json(folder / "esri_accumulated_stats.json")
        stats.pop("BandStatsState", None)
        (folder / "esri_accumulated_stats.json").write_text(json.dumps(stats))
    return folder
