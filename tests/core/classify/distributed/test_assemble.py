"""Parts in any order make the one-process outputs."""

import numpy as np
import rasterio
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.distributed.assemble import Assembler
from landlearn.core.classify.distributed.plan import plan_blocks
from landlearn.core.classify.distributed.worker import (
    MANIFEST,
    BlockJob,
    engine_fingerprint,
    file_sha256,
    run_block,
)
from landlearn.core.geo.raster import RasterSource
from landlearn.core.model_package.format import read_package
from landlearn.core.model_package.info import model_info


def _parts(config, rf, nc_image, tmp_path, first: int | None = None):
    """The blocks of nc_image (the ``first`` ones) run into a staging folder, and an
    Assembler over them: (blocks, staging folder, assembler)."""
    staging = tmp_path / "parts"
    staging.mkdir()
    (staging / MANIFEST).write_text('{"generator": "LandLearn", "key": "k"}')
    area = Window(0, 0, 489, 443)
    blocks = plan_blocks(area, 64, 0, 256, False)[:first]
    for b in blocks:
        run_block(BlockJob(config, b, 64, 0, str(staging), file_sha256(str(rf[0])),
                           engine_fingerprint()["landlearn"]))
    info = model_info(read_package(str(rf[0])))
    with RasterSource(nc_image) as src:
        grid = src.grid.subgrid(area)
    return blocks, staging, Assembler(config, grid, info, area, str(staging))


def test_parts_assembled_in_reverse_order_make_the_one_process_map(rf, nc_image, tmp_path):
    ref = dict(output=str(tmp_path / "ref.tif"), output_probabilities=str(tmp_path / "rp.tif"))
    one = classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, **ref))
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "map.tif"), tile_size=64,
                            output_probabilities=str(tmp_path / "prob.tif"))
    blocks, staging, assembler = _parts(config, rf, nc_image, tmp_path)
    for b in reversed(blocks):
        assembler.add(b)
    assembler.commit()
    assert assembler.class_counts == one.class_pixels
    for a, b in (("ref.tif", "map.tif"), ("rp.tif", "prob.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            assert np.array_equal(x.read(), y.read())
            assert x.transform == y.transform and x.crs == y.crs
    with rasterio.open(tmp_path / "map.tif") as ds:
        assert ds.colormap(1)[1] == rasterio.open(tmp_path / "ref.tif").colormap(1)[1]


def test_a_damaged_part_is_told_from_a_failing_output(rf, nc_image, tmp_path, monkeypatch):
    """A part cut short is DamagedPart (RESUME computes its block again); an output that
    cannot be written (a full disk) is the run's error, and no part is taken for damaged
    (RESUME deleted good parts one after another as the disk stayed full)."""
    import errno

    import pytest

    from landlearn.core.classify.distributed.assemble import DamagedPart

    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "map.tif"), tile_size=64)
    blocks, staging, assembler = _parts(config, rf, nc_image, tmp_path, 2)
    try:
        part = sorted(staging.glob("*_class.tif"))[0]
        with open(part, "r+b") as fh:
            fh.truncate(200)
        with pytest.raises(DamagedPart):
            assembler.add(blocks[0])

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(assembler.cls, "write", full)
        with pytest.raises(OSError, match="No space left"):
            assembler.add(blocks[1])
        assert assembler.class_counts == {}  # neither block counted
    finally:
        assembler.abort()
