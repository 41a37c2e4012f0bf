"""The exported raster's GDAL scale and offset, recorded with the chips."""

import json

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress


def _s2(sample):
    s2 = sample / "s2_osm_sparse"
    return (str(s2 / "s2l1c_10bands_10m_subset.tif"),
            LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass"))


def test_the_rasters_scale_and_offset_travel_with_the_chips(sample, tmp_path):
    """The chips hold stored values: the raster's GDAL scale and offset are recorded
    (SourceScaling), read back with the folder, and so reach the package."""
    import shutil

    from osgeo import gdal

    from landlearn.core.chips.training_data import read_training_data

    image, labels = _s2(sample)
    scaled = tmp_path / "scaled.tif"
    shutil.copy(image, scaled)
    ds = gdal.Open(str(scaled), gdal.GA_Update)
    for b in range(1, ds.RasterCount + 1):
        ds.GetRasterBand(b).SetScale(0.0001)
        ds.GetRasterBand(b).SetOffset(-1000)
    ds = None
    out = tmp_path / "chips"
    export_training_data(ExportConfig(str(scaled), labels, str(out), tile_size_x=64,
                                      tile_size_y=64, stride_x=64, stride_y=64))
    emd = json.loads((out / "esri_model_definition.emd").read_text())
    n = len(emd["InputRastersProps"]["BandNames"])
    assert emd["LandLearn"]["SourceScaling"] == [[0.0001, -1000.0]] * n
    assert read_training_data([out]).source_scaling == [[0.0001, -1000.0]] * n
    plain = tmp_path / "plain"
    export_training_data(ExportConfig(image, labels, str(plain), tile_size_x=64, tile_size_y=64,
                                      stride_x=64, stride_y=64))
    # none declared: said (null), so a package can tell it from an older folder's silence
    assert json.loads((plain / "esri_model_definition.emd").read_text())["LandLearn"][
        "SourceScaling"] is None
    progress = RecordingProgress()
    data = read_training_data([plain, out], progress)
    assert data.source_scaling is None and data.scaling_known
    assert any("declaring scale and offset" in w for w in progress.warnings)
    # an older folder (no key) says nothing: the package will not claim "none declared"
    emd = json.loads((plain / "esri_model_definition.emd").read_text())
    del emd["LandLearn"]["SourceScaling"]
    (plain / "esri_model_definition.emd").write_text(json.dumps(emd))
    assert not read_training_data([plain]).scaling_known
