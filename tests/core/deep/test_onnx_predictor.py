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


def _graph(nodes, classes, initializers=(), opsets=(("", 17),), functions=(), bands=10):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", bands, "h", "w"])],
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


# -- Cancel heard while a graph runs --------------------------------------------------

def _slow_package(folder, convs: int, channels: int = 32):
    """A 5-band, 3-class package (no training: its weights are never read by ONNX Runtime)
    whose graph is a chain of ``convs`` 3x3 convolutions of ``channels`` channels, each
    within every check: slow by its count of operators, as a hostile graph may be."""
    from onnx import helper, numpy_helper

    from builder import deep_emd, write_zip
    from landlearn.core.model_package.onnx_graph import onnx_description

    inits = [numpy_helper.from_array(np.full((channels, 5, 1, 1), 0.01, np.float32), "w_in"),
             numpy_helper.from_array(np.full((channels, channels, 3, 3), 1 / (9 * channels),
                                             np.float32), "w"),  # a blur: values stay finite
             numpy_helper.from_array(np.linspace(-1, 1, 3 * channels, dtype=np.float32)
                                     .reshape(3, channels, 1, 1), "w_out")]
    nodes = [helper.make_node("Conv", ["input", "w_in"], ["h0"])]
    nodes += [helper.make_node("Conv", [f"h{i}", "w"], [f"h{i + 1}"], pads=[1, 1, 1, 1])
              for i in range(convs)]
    nodes += [helper.make_node("Conv", [f"h{convs}", "w_out"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    emd = deep_emd("unet")
    emd["LandLearn"]["onnx"] = onnx_description("model.onnx")
    out = folder / f"slow{convs}.dlpk"
    write_zip(out, {"unet.emd": json.dumps(emd).encode(), "unet.safetensors": b"\0" * 4096,
                    "model.onnx": _graph(nodes, 3, inits, bands=5)})
    return out


def _predictor(package):
    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    pkg = read_package(str(package))
    return OnnxPredictor(pkg, model_info(pkg))


def _hostile_chain(tmp_path, tile):
    """(the package of a chain whose one run takes >= 10 s here, that estimate): the
    length is measured on 50 convolutions of this machine, so the margin holds anywhere."""
    import time

    part = _predictor(_slow_package(tmp_path, 50))
    part(tile)  # the first run sets ONNX Runtime's pools up
    spent = []
    for _ in range(3):
        t0 = time.perf_counter()
        part(tile)
        spent.append(time.perf_counter() - t0)
    per_conv = min(spent) / 50
    convs = int(min(max(10 / per_conv, 2000), 90_000))  # under onnx_checks.MAX_NODES
    return _slow_package(tmp_path, convs), convs * per_conv


@pytest.mark.heavy
def test_a_cancel_stops_a_slow_graph_inside_its_run(tmp_path):
    """A hostile graph (thousands of heavy operators, each within the checks) held one
    batch, and Cancel, for minutes. ``is_canceled`` is asked while it runs, in the caller's
    thread (QGIS's main thread, where a Cancel click is handled), and stops it."""
    import threading
    import time

    from landlearn.core.errors import Cancelled

    tile = np.full((1, 5, 64, 64), 60.0, np.float32)
    package, whole = _hostile_chain(tmp_path, tile)
    predictor = _predictor(package)
    asked_from = set()
    t0 = time.perf_counter()

    def is_canceled():
        asked_from.add(threading.current_thread())
        return time.perf_counter() - t0 > 0.2

    with pytest.raises(Cancelled, match="Cancelled by the user"):
        predictor(tile, is_canceled=is_canceled)
    spent = time.perf_counter() - t0
    assert spent < whole / 5, f"cancelled after {spent:.1f} s of a {whole:.0f} s run"
    assert asked_from == {threading.current_thread()}
    assert not [t for t in threading.enumerate() if t.name == "landlearn-onnx-run"]


def test_a_graph_heard_for_cancel_gives_the_same_probabilities(tmp_path, monkeypatch):
    """Asked and never cancelled, a run gives what a run without asking gives (with
    test-time augmentation too); without ``is_canceled`` no thread is started."""
    from landlearn.core.deep import onnx_predictor

    predictor = _predictor(_slow_package(tmp_path, 60))
    x = np.random.default_rng(0).uniform(0, 120, (2, 5, 64, 64)).astype(np.float32)
    asked = []
    monkeypatch.setattr(onnx_predictor, "POLL_S", 0.001)  # asked within every run
    heard = predictor(x, tta=True, is_canceled=lambda: asked.append(1) or False)
    assert len(asked) >= 4
    def no_thread(*args):
        raise AssertionError("a run without is_canceled started a thread")

    monkeypatch.setattr(onnx_predictor.OnnxPredictor, "_run_heard", no_thread)
    plain = predictor(x, tta=True)
    assert np.ptp(plain[:, 0]) > 0  # the map depends on the tile
    np.testing.assert_array_equal(heard, plain)


@pytest.mark.heavy
def test_a_cancel_inside_a_batch_stops_classify_pixels_and_writes_nothing(tmp_path, sample,
                                                                         monkeypatch):
    """Through the engine: the stream hands its progress to the predictor, so a Cancel
    0.2 s into the first batch ends the run then (not when the batch is done), and the
    engine's cancel path leaves no output."""
    import os
    import time

    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.errors import Cancelled
    from landlearn.core.progress import NullProgress

    package, whole = _hostile_chain(tmp_path, np.full((1, 5, 64, 64), 60.0, np.float32))
    started, real = [], OnnxPredictor.__call__

    def timed(self, *args, **kwargs):
        started.append(time.perf_counter())
        return real(self, *args, **kwargs)

    class CancelInTheFirstBatch(NullProgress):
        def is_canceled(self):
            return bool(started) and time.perf_counter() - started[0] > 0.2

    monkeypatch.setattr(OnnxPredictor, "__call__", timed)
    out = tmp_path / "out"
    out.mkdir()
    config = ClassifyConfig(str(sample / "nc_landsat7" / "landsat_multiband.tif"),
                            str(package), str(out / "map.tif"), tile_size=64, padding=16,
                            batch_size=1, device="cpu", runtime="onnxruntime",
                            output_confidence=str(out / "confidence.tif"))
    with pytest.raises(Cancelled):
        classify_pixels(config, CancelInTheFirstBatch())
    spent = time.perf_counter() - started[0]
    assert len(started) == 1 and spent < whole / 5, \
        f"cancelled after {spent:.1f} s of a {whole:.0f} s batch"
    assert os.listdir(out) == []
