"""deep.onnx_predictor: a package's graph on ONNX Runtime, refused when it was altered."""

import json
import zipfile

import numpy as np
import pytest

from landlearn.core.errors import InputError

pytest.importorskip("onnxruntime")
pytest.importorskip("segmentation_models_pytorch")


def _swap_graph(src, dst, graph: bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, graph if item.filename == "model.onnx" else zin.read(item))
    return str(dst)


def test_the_graph_runs_and_an_altered_one_is_refused(trained, tmp_path):
    from landlearn.core.deep.models import build_model
    from landlearn.core.deep.onnx_export import export_onnx
    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    package = str(trained[0])
    pkg = read_package(package)
    info = model_info(pkg)
    predictor = OnnxPredictor(pkg, info)
    assert predictor.device.type == "cpu" and predictor.where.startswith("ONNX Runtime")
    raw = np.broadcast_to(info.mean[None, :, None, None], (2, 10, 64, 64)).astype(np.float32)
    prob = predictor(raw.copy(), tta=True)
    assert prob.shape == (2, len(info.class_values), 64, 64)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    # a graph for another band count, slipped into the package
    emd = json.loads(json.dumps(pkg.emd))
    emd["LandLearn"]["in_channels"] = 3
    emd["LandLearn"]["normalization"] = {"mean": [0, 0, 0], "std": [1, 1, 1]}
    other = export_onnx(build_model("unet", "resnet18", 3, len(info.class_values)).eval(), emd)
    with pytest.raises(InputError, match="^MODEL: .*takes .* not the 10 bands .* altered"):
        OnnxPredictor(read_package(_swap_graph(package, tmp_path / "a.dlpk", other)), info)
    with pytest.raises(InputError, match="^MODEL: .*ONNX graph cannot be loaded"):
        OnnxPredictor(read_package(_swap_graph(package, tmp_path / "b.dlpk", b"\x08\x07junk")),
                      info)


def test_a_graph_taking_tensors_from_files_is_refused_twice(trained, tmp_path, monkeypatch):
    """Loaded from bytes, ONNX Runtime would read external data from the working directory:
    a crafted graph could take a user's file as its weights. Refused by a byte scan before
    ONNX Runtime sees it, and (scan bypassed) by ONNX Runtime, pointed at an empty folder."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from landlearn.core.deep import onnx_predictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(str(trained[0])))
    classes = len(info.class_values)
    weight = numpy_helper.from_array(np.zeros((classes, 10, 1, 1), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "secret.bin"), ("offset", "0"),
                       ("length", str(classes * 10 * 4))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["probabilities"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 10, "h", "w"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["b", classes, "h", "w"])], [weight])
    crafted = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    package = _swap_graph(trained[0], tmp_path / "x.dlpk", crafted.SerializeToString())
    (tmp_path / "secret.bin").write_bytes(b"\x01" * (classes * 10 * 4))
    monkeypatch.chdir(tmp_path)  # where ONNX Runtime would look
    with pytest.raises(InputError, match="^MODEL: .*external data.*no file was read"):
        onnx_predictor.OnnxPredictor(read_package(package), info)
    monkeypatch.setattr(onnx_predictor, "_EXTERNAL_DATA", b"\x00never\x00")
    with pytest.raises(InputError, match="^MODEL: .*ONNX graph cannot be loaded"):
        onnx_predictor.OnnxPredictor(read_package(package), info)
