"""MIN_LABELED_FRACTION: which chips it keeps, and what it is measured on."""


import numpy as np
import rasterio

from chip_checks import manifest
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.geo.extent import Extent
from landlearn.core.geo.grid import apply
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress


def _s2(sample):
    s2 = sample / "s2_osm_sparse"
    return (str(s2 / "s2l1c_10bands_10m_subset.tif"),
            LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass"))


def test_a_minimum_labelled_share_with_nofeature_tiles_is_warned_of(sample, tmp_path):
    """OUTPUT_NOFEATURE_TILES keeps chips whatever their labels: MIN_LABELED_FRACTION then
    decides nothing, and was ignored without a word."""
    image, labels = _s2(sample)
    progress = RecordingProgress()
    export_training_data(ExportConfig(image, labels, str(tmp_path / "c"), tile_size_x=128,
                                      tile_size_y=128, stride_x=128, stride_y=128,
                                      output_nofeature_tiles=True, min_labeled_fraction=0.5),
                         progress)
    assert any(w.startswith("MIN_LABELED_FRACTION (0.5) has no effect with "
                            "OUTPUT_NOFEATURE_TILES") for w in progress.warnings)


def test_the_labelled_fraction_of_an_edge_chip_counts_its_pixels_inside(sample, tmp_path):
    """A 40 x 40 px EXTENT, every pixel labelled, 64 px chips: the padding beyond the
    extent counted as unlabelled (1600 of 4096 = 39%), and MIN_LABELED_FRACTION 0.7 refused
    the whole export."""
    from synthetic import write

    image, _ = _s2(sample)
    with rasterio.open(image) as ds:
        write(tmp_path / "all.tif", np.full(ds.shape, 2, np.uint8), crs=ds.crs,
              transform=ds.transform, nodata=0)
        x0, y0 = apply(ds.transform, 100, 140)
        x1, y1 = apply(ds.transform, 140, 100)
    result = export_training_data(ExportConfig(
        image, LabelConfig(str(tmp_path / "all.tif")), str(tmp_path / "out"),
        extent=Extent(x0, y0, x1, y1), tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64,
        min_labeled_fraction=0.7))
    assert result.skipped_below_fraction == 0 and len(manifest(tmp_path / "out")["chips"]) == 1
