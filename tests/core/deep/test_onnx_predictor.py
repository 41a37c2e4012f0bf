"""deep.onnx_predictor: a package's graph on ONNX Runtime, refused when it was altered."""

import json
import re
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
    # a graph of as many bands and classes from another package (other class values and
    # normalisation): its shapes fit, its description does not
    emd = json.loads(json.dumps(pkg.emd))
    emd["LandLearn"]["class_values"] = [v + 100 for v in emd["LandLearn"]["class_values"]]
    emd["LandLearn"]["normalization"]["mean"] = [m + 1 for m in
                                                emd["LandLearn"]["normalization"]["mean"]]
    model = build_model("unet", "resnet18", 10, len(info.class_values)).eval()
    alien = export_onnx(model, emd)
    with pytest.raises(InputError, match=r"^MODEL: .*c.dlpk': its ONNX graph was exported for "
                       r"another model \(class_values, normalization mean differ"):
        OnnxPredictor(read_package(_swap_graph(package, tmp_path / "c.dlpk", alien)), info)


def test_a_graph_taking_tensors_from_files_is_refused_twice(trained, tmp_path, monkeypatch):
    """Loaded from bytes, ONNX Runtime would read external data from the working directory:
    a crafted graph could take a user's file as its weights. Refused by the graph's checks
    before ONNX Runtime sees it, and (checks bypassed) by ONNX Runtime, pointed at an empty
    folder."""
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
    monkeypatch.setattr(onnx_predictor, "check_graph", lambda *a, **k: None)
    with pytest.raises(InputError, match="^MODEL: .*ONNX graph cannot be loaded"):
        onnx_predictor.OnnxPredictor(read_package(package), info)


def _graph(nodes, classes, initializers=(), opsets=(("", 17),), functions=()):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 10, "h", "w"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["b", classes, "h", "w"])], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                             functions=list(functions)).SerializeToString()


def _varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
    return out + bytes([n])


def _hidden_external_data(conv, classes: int) -> bytes:
    """A graph whose weight is external data at /etc/hostname, its entry's key tag written
    as the over-long varint 8a 00 (field 1 to protobuf): built from the inside out, each
    message's length counted, since one more byte anywhere breaks the ones around it."""
    from onnx import TensorProto, helper, numpy_helper

    tensor = numpy_helper.from_array(np.zeros((classes, 10, 1, 1), np.float32), "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    path = b"/etc/hostname"
    entry = b"\x8a\x00\x08location\x12" + _varint(len(path)) + path
    tensor = tensor.SerializeToString() + b"\x6a" + _varint(len(entry)) + entry  # field 13
    graph = helper.make_graph(
        [conv], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 10, "h", "w"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["b", classes, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ClearField("graph")
    graph = graph.SerializeToString() + b"\x2a" + _varint(len(tensor)) + tensor  # initializer
    data = model.SerializeToString() + b"\x3a" + _varint(len(graph)) + graph  # graph
    assert b"\x0a\x08location" not in data  # what a byte search would look for
    return data


def test_control_flow_foreign_operators_and_hidden_external_data_are_refused(trained, tmp_path):
    """Graphs ONNX Runtime would load: a Loop (a trip count in the graph can hold the first
    tile for ever), an operator from a custom domain, and external data spelt with an
    over-long varint (the same field to protobuf, invisible to a byte search)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(str(trained[0])))
    classes = len(info.class_values)
    w = numpy_helper.from_array(np.zeros((classes, 10, 1, 1), np.float32), "w")
    conv = helper.make_node("Conv", ["input", "w"], ["probabilities"])
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]),
                              helper.make_node("Identity", ["x"], ["x_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [])])
    scalar = [helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name, kind, [], [value])) for name, kind, value in (
            ("n", TensorProto.INT64, 2 ** 62), ("t", TensorProto.BOOL, True),
            ("x0", TensorProto.FLOAT, 0.0))]
    loop = [*scalar, helper.make_node("Loop", ["n", "t", "x0"], ["xf"], body=body),
            helper.make_node("Add", ["input", "xf"], ["shifted"]),
            helper.make_node("Conv", ["shifted", "w"], ["probabilities"])]
    custom = [helper.make_node("Conv", ["input", "w"], ["probabilities"], domain="evil.ops")]
    cases = {
        "control flow (a Loop operator)": _graph(loop, classes, [w]),
        "'Conv' of the domain 'evil.ops'": _graph(custom, classes, [w],
                                                  [("", 17), ("evil.ops", 1)]),
    }
    cases["external data"] = _hidden_external_data(conv, classes)
    for n, (why, graph) in enumerate(cases.items()):
        package = _swap_graph(trained[0], tmp_path / f"{n}.dlpk", graph)
        with pytest.raises(InputError, match=f"^MODEL: .*its ONNX graph .*{re.escape(why)}"):
            OnnxPredictor(read_package(package), info)


def test_a_graph_is_held_to_the_largest_network_whatever_the_weights_claim(trained, tmp_path,
                                                                           monkeypatch):
    """ONNX Runtime never reads the weights, so their declared size (a zip header: free to
    lie) set the graph's ceiling: 2 GB claimed let a 2.5 GB graph in. Now also held to what
    the largest network takes (lowered here to fall under this package's graph)."""
    import shutil

    from builder import lying_size
    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.model_package import onnx_graph
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info
    package = tmp_path / "lying.dlpk"
    shutil.copy(trained[0], package)
    lying_size(package, "model.safetensors", 2 << 30)
    info = model_info(read_package(str(trained[0])))
    with zipfile.ZipFile(package) as zf:
        graph = zf.getinfo("model.onnx").file_size
    monkeypatch.setattr(onnx_graph, "GRAPH_SLACK", 0)
    monkeypatch.setattr(onnx_graph, "MAX_NETWORK_BYTES", int(graph / 1.25) - 1)
    with pytest.raises(InputError, match="^MODEL: .*ONNX graph 'model.onnx' of .* more than"):
        OnnxPredictor(read_package(str(package)), info)


def test_a_graph_of_fixed_size_or_that_moves_pixels_is_refused(trained, tmp_path):
    """A graph of one tile size (as the Deepness copy has) failed on the first tile with a
    raw ONNX Runtime error; one that doubles the tile put its classes on the wrong pixels
    (the top-left quarter was taken)."""
    from onnx import TensorProto, helper, numpy_helper

    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(str(trained[0])))
    classes = len(info.class_values)
    w = numpy_helper.from_array(np.zeros((classes, 10, 1, 1), np.float32), "w")
    fixed = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["probabilities"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 10, 64, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       [1, classes, 64, 64])], [w]),
        opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    package = _swap_graph(trained[0], tmp_path / "fixed.dlpk", fixed)
    with pytest.raises(InputError, match=r"^MODEL: .*takes tensor\(float\) \[1, 10, 64, 64\], "
                                         "not float32 tiles of any batch and size"):
        OnnxPredictor(read_package(package), info)
    reps = numpy_helper.from_array(np.array([1, 1, 2, 2], np.int64), "reps")
    doubled = _graph([helper.make_node("Conv", ["input", "w"], ["c"]),
                      helper.make_node("Tile", ["c", "reps"], ["probabilities"])],
                     classes, [w, reps])
    predictor = OnnxPredictor(read_package(_swap_graph(trained[0], tmp_path / "d.dlpk",
                                                       doubled)), info)
    x = np.zeros((2, 10, 32, 32), np.float32)
    with pytest.raises(InputError, match=r"its ONNX graph gave float32 \[2, \d+, 64, 64\] for "
                                         r"a tile of \[2, 10, 32, 32\], not the"):
        predictor(x)
    shape = numpy_helper.from_array(np.array([7, -1], np.int64), "shape")
    broken = _graph([helper.make_node("Reshape", ["input", "shape"], ["flat"]),
                     helper.make_node("Reshape", ["flat", "back"], ["probabilities"])],
                    classes, [shape, numpy_helper.from_array(
                        np.array([-1, classes, 32, 32], np.int64), "back")])
    # a reshape no tile fits (7 rows of a 512 px tile's values): refused before it runs,
    # as shape inference cannot size it (it failed on the first tile before)
    with pytest.raises(InputError, match=r"its ONNX graph makes a tensor 'flat' whose size "
                                         "shape inference cannot tell"):
        OnnxPredictor(read_package(_swap_graph(trained[0], tmp_path / "r.dlpk", broken)), info)
