"""model_package.onnx_checks: what a graph from someone else may hold, checked by parsing
it before ONNX Runtime sees it."""

import numpy as np
import pytest

from landlearn.core.errors import InputError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from landlearn.core.model_package import onnx_checks  # noqa: E402
from landlearn.core.model_package.onnx_checks import check_graph  # noqa: E402


def _model(nodes, initializers=(), domain=""):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 4, 4])],
        list(initializers))
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


def _conv(domain=""):
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    return [helper.make_node("Conv", ["input", "w"], ["out"], domain=domain)], [w]


def test_a_plain_graph_passes():
    nodes, inits = _conv()
    check_graph(_model(nodes, inits).SerializeToString(), "m.dlpk")


def test_external_data_control_flow_and_foreign_operators_are_refused(monkeypatch):
    nodes, inits = _conv()
    external = inits[0]
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk': its ONNX graph takes tensors from "
                                         "files outside it"):
        check_graph(_model(nodes, [external]).SerializeToString(), "m.dlpk")
    body = helper.make_graph([], "body", [], [])
    loop = [helper.make_node("If", ["c"], [], then_branch=body, else_branch=body)]
    with pytest.raises(InputError, match="holds control flow \\(a If operator\\)"):
        check_graph(_model(loop + nodes, _conv()[1]).SerializeToString(), "m.dlpk")
    custom, inits = _conv("my.ops")
    with pytest.raises(InputError, match="uses the operator 'Conv' of the domain 'my.ops'"):
        check_graph(_model(custom, inits, "my.ops").SerializeToString(), "m.dlpk")
    monkeypatch.setattr(onnx_checks, "MAX_NODES", 0)
    with pytest.raises(InputError, match="holds 1 operators, more than 0"):
        check_graph(_model(*_conv()).SerializeToString(), "m.dlpk")


def test_bytes_that_are_no_graph_cannot_be_loaded():
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk': its ONNX graph cannot be loaded"):
        check_graph(b"\x08\x07junk", "m.dlpk")


def test_a_graph_marked_as_onnx_runtimes_own_format_is_refused():
    """ONNX Runtime reads bytes with 'ORTM' at 4..8 as its ORT format, not as the ONNX graph
    the checks parsed: a harmless graph with that marker could carry another one. A
    producer name beginning 'ORTM' puts it there in a graph that parses as ONNX."""
    model = _model(*_conv())
    model.producer_name = "ORTM and more"
    data = model.SerializeToString()
    assert data[4:8] == b"ORTM" and onnx.load_from_string(data).graph.node
    with pytest.raises(InputError, match="its ONNX graph is marked as ONNX Runtime's own "
                                         "format \\(ORT\\)"):
        check_graph(data, "m.dlpk")
    ort = pytest.importorskip("onnxruntime")
    with pytest.raises(Exception):  # noqa: B017 - ORT took it for its own format
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()  # as OnnxPredictor loads: the ONNX graph, always
    options.add_session_config_entry("session.load_model_format", "ONNX")
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].name == "out"


def test_a_graph_that_expands_a_constant_to_tens_of_gigabytes_is_refused():
    """Expand to 10^5 x 10^5 floats (40 GB): ONNX Runtime folds it at load or on the first
    tile, and Linux ends QGIS. Shape inference on one tile sizes it first."""
    shape = numpy_helper.from_array(np.array([1, 3, 100_000, 100_000], np.int64), "shape")
    one = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "one")
    nodes = [helper.make_node("Expand", ["one", "shape"], ["big"]),
             helper.make_node("ReduceMean", ["big"], ["m"], keepdims=1),
             helper.make_node("Add", ["input", "m"], ["sum"]),
             helper.make_node("Conv", ["sum", "w"], ["out"])]
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    data = _model(nodes, [shape, one, w]).SerializeToString()
    check_graph(data, "m.dlpk")  # without the band count: not sized
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk': its ONNX graph makes a tensor "
                       r"'big' of \[1, 3, 100000, 100000\] \(111.8 GB\) from one 512 px tile"):
        check_graph(data, "m.dlpk", bands=2)
    nodes, inits = _conv()
    check_graph(_model(nodes, inits).SerializeToString(), "m.dlpk", bands=2)  # a plain one


def test_a_tensor_whose_size_inference_cannot_tell_is_refused():
    """Expand to a shape computed through Abs of a constant: shape inference does not
    follow Abs, so the 40 GB tensor was unsized and passed. Every tensor must be sized."""
    shape = numpy_helper.from_array(np.array([1, 3, 100_000, 100_000], np.int64), "shape")
    one = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "one")
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Abs", ["shape"], ["hidden"]),
             helper.make_node("Expand", ["one", "hidden"], ["big"]),
             helper.make_node("ReduceMean", ["big"], ["m"], keepdims=1),
             helper.make_node("Add", ["input", "m"], ["sum"]),
             helper.make_node("Conv", ["sum", "w"], ["out"])]
    data = _model(nodes, [shape, one, w]).SerializeToString()
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk': its ONNX graph makes a tensor "
                       r"'(big|m|sum)' whose size shape inference cannot tell"):
        check_graph(data, "m.dlpk", bands=2)


def test_sparse_weights_are_refused_whatever_their_size():
    """A sparse initializer of 65536 x 65536 with one value is a few bytes in the file;
    ONNX Runtime makes it dense (16 GB) while loading the graph."""
    values = numpy_helper.from_array(np.ones(1, np.float32), "big")
    indices = numpy_helper.from_array(np.zeros(1, np.int64), "big_indices")
    sparse = helper.make_sparse_tensor(values, indices, [65536, 65536])
    nodes, inits = _conv()
    model = _model(nodes, inits)
    model.graph.sparse_initializer.append(sparse)
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk': its ONNX graph holds sparse weights"):
        check_graph(model.SerializeToString(), "m.dlpk")
    const = helper.make_node("Constant", [], ["c"], sparse_value=sparse)
    with pytest.raises(InputError, match="holds a sparse tensor \\(attribute 'sparse_value' "
                                         "of Constant\\)"):
        check_graph(_model([const] + nodes, inits).SerializeToString(), "m.dlpk")


def test_shapes_a_graph_declares_for_its_own_tensors_are_not_believed():
    """The 112 GB Expand of the test above, with 'big' declared 1 x 1 x 1 x 1 in value_info
    (and the output declared small): inference is run on what the graph makes."""
    shape = numpy_helper.from_array(np.array([1, 3, 100_000, 100_000], np.int64), "shape")
    one = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "one")
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Expand", ["one", "shape"], ["big"]),
             helper.make_node("ReduceMean", ["big"], ["m"], keepdims=1),
             helper.make_node("Add", ["input", "m"], ["sum"]),
             helper.make_node("Conv", ["sum", "w"], ["out"])]
    model = _model(nodes, [shape, one, w])
    model.graph.value_info.append(helper.make_tensor_value_info("big", TensorProto.FLOAT,
                                                                [1, 1, 1, 1]))
    with pytest.raises(InputError, match=r"makes a tensor 'big' of \[1, 3, 100000, 100000\]"):
        check_graph(model.SerializeToString(), "m.dlpk", bands=2)


def test_constants_folded_at_load_are_bounded_together(monkeypatch):
    """Twenty Expands of constants, each under the per-tensor limit, fed to the tile: ONNX
    Runtime folds all of them at load. Their sum is bounded; tensors of the tile are not
    summed (they are made one after another and their memory reused)."""
    shape = numpy_helper.from_array(np.array([1, 2, 4, 4], np.int64), "shape")  # the tile's
    one = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "one")
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    nodes, last = [], "input"
    for k in range(20):
        nodes += [helper.make_node("Expand", ["one", "shape"], [f"c{k}"]),
                  helper.make_node("Add", [last, f"c{k}"], [f"a{k}"])]
        last = f"a{k}"
    nodes.append(helper.make_node("Conv", [last, "w"], ["out"]))
    data = _model(nodes, [shape, one, w]).SerializeToString()
    check_graph(data, "m.dlpk", bands=2)  # 20 x 128 bytes folded: passes
    each = 2 * 4 * 4 * 4
    monkeypatch.setattr(onnx_checks, "MAX_CONSTANT_BYTES", 19 * each)
    with pytest.raises(InputError, match=r"makes 0.0 GB of tensors that do not depend on the "
                                         r"tile \(folded into constants at load\)"):
        check_graph(data, "m.dlpk", bands=2)
    monkeypatch.setattr(onnx_checks, "MAX_CONSTANT_BYTES", 20 * each)
    check_graph(data, "m.dlpk", bands=2)  # the 20 tile-sized sums (a0..a19) not counted


def test_the_bytes_held_at_once_on_a_tile_are_counted():
    """Each tensor under MAX_TENSOR_BYTES, forty branches of the tile that all feed a last
    Sum are held at once (4.6 GB at 512 px in a package that says it is a U-Net, 383 MB).
    Counted in the graph's order: the input until its last reader, each branch until the
    Sum, the Sum's output to the end: 41 tensors of 2 bands at 4 bytes at the peak. A
    chain of the same operators holds two at a time."""
    def _model(nodes, initializers):  # a tile of any size, as LandLearn's exports take
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                       [1, 2, "h", "w"])],
            [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])],
            list(initializers))
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    scale = numpy_helper.from_array(np.ones((1, 2, 1, 1), np.float32), "s")
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    branches = [helper.make_node("Mul", ["input", "s"], [f"b{i}"]) for i in range(40)]
    wide = branches + [helper.make_node("Sum", [f"b{i}" for i in range(40)], ["sum"]),
                       helper.make_node("Conv", ["sum", "w"], ["out"])]
    per_px = check_graph(_model(wide, [scale, w]).SerializeToString(), "m.dlpk", bands=2)
    assert per_px == 41 * 2 * 4  # the Conv's output comes after the peak
    chain = [helper.make_node("Mul", ["input" if i == 0 else f"b{i - 1}", "s"], [f"b{i}"])
             for i in range(40)] + [helper.make_node("Conv", ["b39", "w"], ["out"])]
    assert check_graph(_model(chain, [scale, w]).SerializeToString(), "m.dlpk",
                       bands=2) == 2 * 4 + 3 * 4  # b39 and the output (2 + 3 bands)
    assert check_graph(_model(chain, [scale, w]).SerializeToString(), "m.dlpk") is None
