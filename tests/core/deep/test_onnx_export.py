"""deep.onnx_export: every architecture LandLearn trains exports to an ONNX graph that
gives torch's probabilities on ONNX Runtime (real Landsat tiles), and the Deepness-ready
copy gives the same map when fed the way Deepness feeds it."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.deep.architectures import ARCHITECTURES
from landlearn.core.model_package.onnx_checks import check_graph

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from landlearn.core.deep.models import build_model  # noqa: E402
from landlearn.core.deep.onnx_export import (  # noqa: E402
    NOT_EXPORTABLE,
    NotExportable,
    deepness_copy,
    export_onnx,
    onnx_difference,
)


@pytest.fixture(scope="module")
def landsat(sample):
    """Two 128 px tiles of the Landsat scene (raw values, NoData at the band mean) and the
    bands' statistics."""
    with rasterio.open(sample / "nc_landsat7" / "landsat_multiband.tif") as ds:
        data = ds.read(window=Window(100, 100, 256, 128)).astype(np.float64)
        valid = ~np.all(data == ds.nodata, axis=0)
    mean = np.array([data[b][valid].mean() for b in range(5)])
    std = np.array([data[b][valid].std() for b in range(5)])
    raw = np.where(valid[None], data, mean[:, None, None])
    return np.stack([raw[:, :, :128], raw[:, :, 128:]]), mean, std


def _emd(arch, mean, std, classes=7, tile=64):
    return {"ImageWidth": tile, "ImageHeight": tile, "ModelFile": "m.safetensors",
            "Classes": [{"Value": v, "Name": f"c{v}", "Color": [v, v, v]}
                        for v in range(1, classes + 1)],
            "LandLearn": {"format": "landlearn-model", "version": 1, "kind": "deep",
                          "architecture": arch, "encoder": "resnet18", "in_channels": len(mean),
                          "class_values": list(range(1, classes + 1)),
                          "normalization": {"mean": mean.tolist(), "std": std.tolist()},
                          "padding": 16, "cell_size": [28.5, 28.5], "crs_units": "metre"}}


@pytest.mark.parametrize("arch", [name for name, _, _ in ARCHITECTURES
                                  if name not in NOT_EXPORTABLE])
def test_every_architecture_gives_torchs_probabilities_on_onnx_runtime(arch, landsat):
    raw, mean, std = landsat
    torch.manual_seed(0)
    model = build_model(arch, "resnet18", 5, 7).eval()
    graph = export_onnx(model, _emd(arch, mean, std))
    # what Classify Pixels checks a graph for passes, every tensor sized on a 512 px tile
    check_graph(graph, f"{arch}.dlpk", bands=5)
    assert onnx_difference(graph, model, _emd(arch, mean, std), raw) <= 1e-3
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": raw.astype(np.float32)})[0]
    with torch.no_grad():
        z = (raw - mean[None, :, None, None]) / std[None, :, None, None]
        want = model(torch.from_numpy(z.astype(np.float32))).softmax(1).numpy()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9999
    # any batch and tile size: the graph's axes are dynamic
    assert session.run(None, {"input": raw[:1, :, :96, :64].astype(np.float32)})[0].shape == \
        (1, 7, 96, 64)


def test_metadata_and_the_deepness_copy(landsat):
    raw, mean, std = landsat
    torch.manual_seed(1)
    model = build_model("unet", "resnet18", 5, 7).eval()
    graph = export_onnx(model, _emd("unet", mean, std))
    proto = onnx.load_from_string(graph)
    assert proto.producer_name == "LandLearn" and proto.opset_import[0].version == 17
    deep = deepness_copy(graph, 64)
    session = ort.InferenceSession(deep, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    assert shape[1:] == [5, 64, 64] and session.get_outputs()[0].shape[1:] == [7, 64, 64]
    meta = session.get_modelmeta().custom_metadata_map
    # fed as Deepness feeds a tile: values / 255, then standardised with the metadata
    m = np.array(json.loads(meta["standardization_mean"]), np.float32)
    s = np.array(json.loads(meta["standardization_std"]), np.float32)
    tile = np.transpose(raw[0, :, :64, :64], (1, 2, 0))[None]  # NHWC as Deepness reads it
    x = np.transpose((np.float32(tile * 1.0 / 255.0) - m) / s, (0, 3, 1, 2))
    got = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    plain = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(
        None, {"input": raw[:1, :, :64, :64].astype(np.float32)})[0]
    np.testing.assert_allclose(got, plain, atol=1e-4)
    assert json.loads(meta["model_type"]) == "Segmentor"
    assert len(json.loads(meta["class_names"])) == 7


def test_an_architecture_without_a_graph_says_why_and_trains_on(landsat, tmp_path):
    """PSPNet's adaptive pooling has no ONNX form for varying tiles: export refuses up front,
    and a training keeps its package (torch) with a note saying so."""
    from landlearn.core.deep.train_package import onnx_graph

    raw, mean, std = landsat
    model = build_model("pspnet", "resnet18", 5, 7).eval()
    with pytest.raises(NotExportable, match="adaptive average pooling"):
        export_onnx(model, _emd("pspnet", mean, std))

    from types import SimpleNamespace

    data = SimpleNamespace(chips=[], band_count=5, mean=mean, std=std)  # what onnx_graph reads
    graph, note = onnx_graph(model, _emd("pspnet", mean, std), data)
    assert graph is None and note.startswith("no ONNX graph: pspnet cannot be exported")
    graph, note = onnx_graph(build_model("fpn", "resnet18", 5, 7).eval(),
                             _emd("fpn", mean, std), data)
    assert graph is not None and note is None
