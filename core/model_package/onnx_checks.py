"""What an ONNX graph from someone else may hold, checked before ONNX Runtime sees it.

A graph is data, but ONNX Runtime follows what it says: a tensor stored as "external data"
names a file to read as weights (a user's file, or /dev/zero), and control flow (Loop,
Scan, If: a subgraph run as often as a number in the graph says) can keep the first tile
busy for ever. LandLearn's exported networks use neither: traced graphs of convolutions,
pooling, resizing and a softmax (their int8 copies add quantise/dequantise pairs). So the
graph is parsed (protobuf, by the onnx package: parsing opens no file) and refused when it
holds external data anywhere, control flow or subgraphs, functions of its own, operators
outside the standard domains, or an implausible number of nodes. The parse replaces a byte
scan for the external-data key, which another protobuf encoding of the same field evades.
"""

from __future__ import annotations

from ..errors import InputError
from ..runtime.deps import require

__all__ = ["check_graph"]

CONTROL_FLOW = frozenset({"Loop", "Scan", "If", "SequenceMap"})
# operators' domains (an int8 graph also imports ai.onnx.ml's opset, and uses none of it)
DOMAINS = frozenset({"", "ai.onnx", "com.microsoft"})
MAX_NODES = 100_000  # LandLearn's largest networks have a few thousand


ORT_MARKER = b"ORTM"  # bytes 4..8 of an ORT-format model


def check_graph(data: bytes, where: str, parameter: str = "model") -> None:
    """Raise InputError unless the serialised graph ``data`` holds only what LandLearn's
    exports hold (see the module's docstring)."""
    onnx = require("onnx")

    def bad(why: str) -> InputError:
        return InputError(parameter, f"'{where}': its ONNX graph {why}; LandLearn's graphs "
                          "have none, so this one is refused (no file was read, nothing ran)")

    if data[4:8] == ORT_MARKER:
        # ONNX Runtime reads bytes with this marker as its own ORT format, not as the ONNX
        # graph checked here: a graph could pass these checks and another one run
        raise bad("is marked as ONNX Runtime's own format (ORT), which these checks cannot "
                  "read")
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged graph
        raise InputError(parameter, f"'{where}': its ONNX graph cannot be loaded "
                         f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}"
                         "); export it again with Export Model, or classify with "
                         "RUNTIME=torch") from None
    external = onnx.TensorProto.EXTERNAL

    def check_tensors(tensors) -> None:
        for t in tensors:
            if t.data_location == external or len(t.external_data):
                raise bad("takes tensors from files outside it (external data)")

    if len(proto.functions):
        raise bad("defines functions of its own")
    graph = proto.graph
    if len(graph.node) > MAX_NODES:
        raise bad(f"holds {len(graph.node)} operators, more than {MAX_NODES}")
    check_tensors(graph.initializer)
    for sparse in graph.sparse_initializer:
        check_tensors([sparse.values, sparse.indices])
    kinds = onnx.AttributeProto
    for node in graph.node:
        if node.domain not in DOMAINS:
            raise bad(f"uses the operator '{node.op_type[:60]}' of the domain "
                      f"'{node.domain[:60]}'")
        if node.op_type in CONTROL_FLOW:
            raise bad(f"holds control flow (a {node.op_type} operator)")
        for a in node.attribute:
            if a.type in (kinds.GRAPH, kinds.GRAPHS):
                raise bad(f"holds a subgraph (attribute '{a.name[:40]}' of {node.op_type[:40]})")
            check_tensors([a.t, *a.tensors])
            for sparse in [a.sparse_tensor, *a.sparse_tensors]:
                check_tensors([sparse.values, sparse.indices])
