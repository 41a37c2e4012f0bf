"""A network pass that cannot fit is refused before any work (naming TILE_SIZE or
BATCH_SIZE and what fits) or, for an automatic batch, lowered; one that fits runs."""

import os

import numpy as np
import pytest
import rasterio

from landlearn.core.classify import memory
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress

NC = "nc_landsat7/landsat_multiband.tif"
MB = 1 << 20


def _free(monkeypatch, mb):
    """The device has ``mb`` MB for the pass (above the headroom the process keeps)."""
    monkeypatch.setattr(memory, "available_memory",
                        lambda device: (mb * MB, "of memory available"))


def test_local_cpu_is_asked_without_torch():
    assert memory.local_cpu("cpu") and not memory.local_cpu("cuda")


def test_a_unet_pass_costs_more_per_pixel_than_a_pspnet_and_grows_with_tile_and_batch():
    class Info:
        kind, in_channels, class_values = "deep", 4, list(range(7))
        architecture, encoder, detail_head, members = "unet", "resnet34", False, 1
    unet = memory.pass_bytes(1024, 1, Info)
    Info.architecture = "pspnet"
    assert memory.pass_bytes(1024, 1, Info) < unet
    Info.architecture = "an arcgis model"  # not measured: the least of the table
    assert memory.pass_bytes(1024, 1, Info) == memory.pass_bytes(1024, 1, type(
        "P", (), dict(vars(Info), architecture="pspnet")))
    Info.architecture = "unet"
    assert memory.pass_bytes(2048, 1, Info) == 4 * unet == memory.pass_bytes(1024, 4, Info)
    assert unet >= 1024 * 1024 * 400  # 8192 px: over 26 GB, what killed qgis_process
    # an ONNX graph's own count where it is more (at 70%, as the table's): a graph from
    # someone else need not be the U-Net its package names
    assert memory.pass_bytes(1024, 1, Info, graph_per_px=256) == unet  # LandLearn's own
    assert memory.pass_bytes(1024, 1, Info, graph_per_px=17_500) == \
        unet + 1024 * 1024 * (int(0.7 * 17_500) - memory.PASS_BYTES_PER_PX["unet"])


def unet_without(info):
    """A pass of ``info``'s tile of 1024 px by one network, without an ensemble."""
    return memory.pass_bytes(1024, 1, type("One", (), dict(vars(info), members=1)))


def test_onnx_runtime_s_large_tiles_are_sized_by_its_own_measures_per_encoder():
    """ONNX Runtime's arena took 651-747 B/px from 1024 to 2048 px (U-Net resnet18/34, with
    and without the detail head) where the check assumed torch's 390: a TILE_SIZE of 4096
    px on a machine with 7-12 GB free was admitted and would not fit (stop 71). Past 1024
    px its pixels cost 90% of its own figure per encoder; under torch the check is as
    before, and below 1024 px both are. An ensemble's second network counts too."""
    class Info:
        kind, in_channels, class_values = "deep", 4, list(range(7))
        architecture, encoder, detail_head, members = "unet", "resnet34", True, 1
    torch_4096 = memory.pass_bytes(4096, 1, Info)
    ort_4096 = memory.pass_bytes(4096, 1, Info, onnx=True)
    measured = (651 + 85) * (4096 * 4096 - 1024 * 1024)  # resnet34 + the detail head's
    assert 0.85 * measured < ort_4096 - memory.pass_bytes(1024, 1, Info, onnx=True) < measured
    assert ort_4096 > 1.3 * torch_4096
    assert memory.pass_bytes(1024, 1, Info, onnx=True) == memory.pass_bytes(1024, 1, Info)
    # the default package averages two networks in one pass: 992 B/px past 1024 px
    Info.members = 2
    measured = 992 * (4096 * 4096 - 1024 * 1024)
    assert 0.85 * measured < memory.pass_bytes(4096, 1, Info, onnx=True) - memory.pass_bytes(
        1024, 1, Info, onnx=True) < measured
    assert memory.pass_bytes(1024, 1, Info) < 786 * 1024 * 1024 + 0.2e9  # torch's measure
    assert memory.pass_bytes(1024, 1, Info) > 1.1 * unet_without(Info)
    Info.members = 1
    Info.encoder = "an encoder not measured"  # its architecture's most: not killed unsaid
    assert memory.pass_bytes(4096, 1, Info, onnx=True) == memory.pass_bytes(
        4096, 1, type("M", (), dict(vars(Info), encoder="vgg16_bn")), onnx=True)
    from landlearn.core.deep.architectures import BACKBONES

    assert set(memory.ORT_PASS_BYTES_PER_PX["unet"]) == set(BACKBONES)  # all measured
    Info.architecture = "an arcgis model"  # not in ONNX Runtime's table: torch's least
    assert memory.pass_bytes(4096, 1, Info, onnx=True) == memory.pass_bytes(4096, 1, Info)


pytest.importorskip("segmentation_models_pytorch")


def test_the_engine_that_runs_a_pass_is_the_one_its_memory_is_sized_for(model):
    pytest.importorskip("onnxruntime")
    from landlearn.core.classify.predictor import load_predictor

    onnx, info = load_predictor(model, "cpu", runtime="onnxruntime")
    torch_, _ = load_predictor(model, "cpu", runtime="torch")
    assert memory.runs_on(onnx)["onnx"] and not memory.runs_on(torch_)["onnx"]
    assert memory.runs_on(onnx)["graph_per_px"] > 0
    assert (info.architecture, info.encoder, info.detail_head, info.members) == \
        ("unet", "resnet18", True, 1)


def _cfg(sample, model, out, **kw):
    return ClassifyConfig(str(sample / NC), model, str(out), device="cpu", **kw)


def test_an_explicit_tile_that_cannot_fit_is_refused_before_any_work(sample, model, tmp_path,
                                                                    monkeypatch):
    """100 MB free: a 512 px U-Net pass with the detail head (~130 MB) is refused naming
    TILE_SIZE and the largest that fits, and nothing is written."""
    _free(monkeypatch, 100)
    out = tmp_path / "map.tif"
    with pytest.raises(InputError, match=r"^TILE_SIZE: one network pass over 1 tile of 512 px "
                       r"takes about 0\.1 GB, and there are 0\.1 GB of memory available; use "
                       r"a TILE_SIZE of at most 448 px"):
        classify_pixels(_cfg(sample, model, out, tile_size=512))
    assert os.listdir(tmp_path) == []
    with pytest.raises(InputError, match=r"^BATCH_SIZE: one network pass over 8 tiles of 256 "
                       r"px.*use a BATCH_SIZE of at most 3"):
        classify_pixels(_cfg(sample, model, out, tile_size=256, batch_size=8))
    _free(monkeypatch, 1)  # not even the least tile at this padding: no size is offered
    with pytest.raises(InputError, match=r"^TILE_SIZE: .*; no tile fits with PADDING 48 px "
                       r"\(the least is 128 px\), or free memory"):
        classify_pixels(_cfg(sample, model, out, tile_size=512, padding=48))
    assert os.listdir(tmp_path) == []


def test_local_workers_share_the_memory_and_are_refused_before_they_start(
        sample, model, tmp_path, monkeypatch):
    """PARALLEL_PROCESSING_FACTOR=2: each worker checked its pass against the whole
    machine's free memory, inside a block, after the cluster had started (review, stop
    68). Now refused in the client, with half the memory each."""
    _free(monkeypatch, 200)  # 512 px: ~120 MB a pass; 100 MB each for two workers
    with pytest.raises(InputError, match=r"^TILE_SIZE: one network pass over 1 tile of 512 px "
                       r".*0\.1 GB of memory available for each of 2 workers"):
        classify_pixels(_cfg(sample, model, tmp_path / "map.tif", tile_size=512,
                             parallel_processing_factor="2"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_local_workers_are_checked_for_the_engine_they_will_run(sample, model, tmp_path,
                                                                monkeypatch, runtime):
    """The client's check before local workers start sized their passes as torch's while
    they run ONNX Runtime on a CPU (RUNTIME=auto), whose large tiles take more."""
    import importlib

    pytest.importorskip("onnxruntime")
    module = importlib.import_module("landlearn.core.classify.classify_pixels")
    asked = []

    def spy(*args, **kwargs):
        asked.append(kwargs.get("onnx"))
        raise InputError("tile_size", "stop here")
    monkeypatch.setattr(module, "fit_batch", spy)
    with pytest.raises(InputError, match="stop here"):
        classify_pixels(_cfg(sample, model, tmp_path / "map.tif", runtime=runtime,
                             parallel_processing_factor="2"))
    assert asked == [runtime == "onnxruntime"]


def test_an_automatic_batch_is_lowered_to_fit_and_the_map_is_the_same(sample, model, tmp_path,
                                                                       monkeypatch):
    progress = RecordingProgress()
    classify_pixels(_cfg(sample, model, tmp_path / "a.tif", tile_size=128), progress)
    assert not any("batch lowered" in m for m in progress.messages)
    _free(monkeypatch, 20)  # 128 px: ~7.4 MB a tile: 2 fit
    lowered = RecordingProgress()
    classify_pixels(_cfg(sample, model, tmp_path / "b.tif", tile_size=128), lowered)
    said = [m for m in lowered.messages if "batch lowered" in m]
    assert said and said[0].startswith("batch lowered to 2 tiles"), lowered.messages
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        x, y = a.read(1), b.read(1)
    assert np.mean(x == y) > 0.999  # batching changes float sums in the last bits only


def test_where_the_system_cannot_say_nothing_is_refused_and_the_log_says_so(
        sample, model, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device: None)
    progress = RecordingProgress()
    classify_pixels(_cfg(sample, model, tmp_path / "a.tif", tile_size=128), progress)
    assert any("memory is not checked" in m for m in progress.messages)


def test_an_onnx_graph_that_holds_more_than_its_architecture_is_checked_by_its_own_count(
        sample, model, tmp_path, monkeypatch):
    """The pass of an ONNX graph is sized by what the graph itself holds at once where
    that is more than its package's architecture: a graph counted at 100 KB per pixel (a
    package from someone else that says it is a U-Net) is refused where a U-Net fits."""
    pytest.importorskip("onnxruntime")
    from landlearn.core.deep import onnx_predictor

    _free(monkeypatch, 2000)
    out = tmp_path / "map.tif"
    classify_pixels(_cfg(sample, model, out, tile_size=512, runtime="onnxruntime"))
    monkeypatch.setattr(onnx_predictor, "check_graph", lambda *a, **k: 100_000.0)
    with pytest.raises(InputError, match=r"^TILE_SIZE: one network pass over 1 tile of 512 px "
                       r"takes about 18\.\d GB"):
        classify_pixels(_cfg(sample, model, tmp_path / "other.tif", tile_size=512,
                             runtime="onnxruntime"))
    assert not (tmp_path / "other.tif").exists()


def test_an_automatic_tile_that_cannot_fit_is_lowered_and_said(sample, model, tmp_path,
                                                               monkeypatch):
    """Without TILE_SIZE the tile is LandLearn's choice (up to 2048 px, the model's chip):
    one that cannot fit was refused naming TILE_SIZE, a setting the user never made. It is
    lowered to the largest that fits, and said; the map is the one an explicit tile of
    that size gives."""
    from landlearn.core.classify.predictor import load_predictor
    from landlearn.core.classify.tiling import geometry
    from landlearn.core.geo.extent import Extent

    _, info = load_predictor(model, "cpu", runtime="torch")
    area = rasterio.windows.Window(0, 0, 320, 320)  # a corner: two passes, kept short
    with rasterio.open(sample / NC) as ds:
        corner = Extent(*rasterio.windows.bounds(area, ds.transform), None)
    auto, _ = geometry(_cfg(sample, model, tmp_path / "x.tif"), info, area)
    assert auto > 288
    # room for one pass of 288 px, not of 320
    _free(monkeypatch, memory.pass_bytes(288, 1, info) / MB + 0.01)
    progress = RecordingProgress()
    classify_pixels(_cfg(sample, model, tmp_path / "auto.tif", batch_size=1, extent=corner,
                         runtime="torch"), progress)
    assert any("automatic tile lowered to 288 px" in m for m in progress.messages)
    classify_pixels(_cfg(sample, model, tmp_path / "given.tif", tile_size=288, batch_size=1,
                         extent=corner, runtime="torch"))
    with rasterio.open(tmp_path / "auto.tif") as a, rasterio.open(tmp_path / "given.tif") as g:
        np.testing.assert_array_equal(a.read(), g.read())
