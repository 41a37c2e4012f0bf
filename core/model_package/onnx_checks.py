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

Memory: standard operators fed constant shapes (Expand, Tile, ConstantOfShape, Resize by
a scale of 10^4) make tensors of tens of GB when ONNX Runtime folds them at load or on the
first tile, and Linux ends QGIS for it. With the model's band count given, ONNX's shape
inference (with the constants propagated) is run on one tile of SIZE_TILE px, and a graph
in which any tensor it can size exceeds MAX_TENSOR_BYTES is refused, as is one whose
tensors that do not depend on the tile (what ONNX Runtime folds into constants at load)
exceed MAX_CONSTANT_BYTES together. LandLearn's networks stay far below (their largest
tensor at 512 px: 19-80 MB, measured over seven architectures); Classify Pixels runs a CPU
batch of at most one 512 px tile's pixels, or one tile up to 2048 px (16 times them).
The tile's tensors held at once (each from its node to its last reader) are counted too,
per tile pixel: Classify Pixels sizes the pass by that count where it is more than the
package's architecture says (classify.memory), so forty branches each under the limit
cannot take the machine's memory on a 2048 px tile.
Shapes the graph declares for its own tensors are dropped before inference: a graph could
declare a 1 x 1 tensor where its Expand makes 10^10 values, and inference kept the
declared shape. Sparse tensors are refused: a few bytes in the file that ONNX Runtime
makes dense at load (a 65536 x 65536 "sparse" weight is 16 GB).
"""

from __future__ import annotations

from ..errors import InputError
from ..runtime.deps import require

__all__ = ["check_graph"]

CONTROL_FLOW = frozenset({"Loop", "Scan", "If", "SequenceMap"})
# operators' domains (an int8 graph also imports ai.onnx.ml's opset, and uses none of it)
DOMAINS = frozenset({"", "ai.onnx", "com.microsoft"})
MAX_NODES = 100_000  # LandLearn's largest networks have a few thousand
SIZE_TILE = 512  # px: the tile the tensor sizes are inferred for (batch 1)
MAX_TENSOR_BYTES = 1024 ** 3  # 13 x the largest of LandLearn's (80 MB at 512 px)
MAX_CONSTANT_BYTES = 2 * 1024 ** 3  # the weights of the largest networks are ~0.5 GB


ORT_MARKER = b"ORTM"  # bytes 4..8 of an ORT-format model


def check_graph(data: bytes, where: str, parameter: str = "model",
                bands: int | None = None) -> float | None:
    """Raise InputError unless the serialised graph ``data`` holds only what LandLearn's
    exports hold (see the module's docstring); with ``bands``, also no tensor beyond
    MAX_TENSOR_BYTES on one SIZE_TILE px tile, and then the bytes per tile pixel its
    tensors hold at once at most (``_peak_alive``), for the memory check of a pass."""
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
    if len(graph.sparse_initializer):
        raise bad("holds sparse weights (made dense by ONNX Runtime at load, whatever "
                  "their size)")
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
            if a.type in (kinds.SPARSE_TENSOR, kinds.SPARSE_TENSORS) or \
                    a.HasField("sparse_tensor") or len(a.sparse_tensors):
                raise bad(f"holds a sparse tensor (attribute '{a.name[:40]}' of "
                          f"{node.op_type[:40]}), made dense by ONNX Runtime at load")
    if bands is not None:
        return _check_sizes(onnx, proto, bands, bad)
    return None


def _check_sizes(onnx, proto, bands: int, bad) -> float:
    """Every tensor the graph makes, sized by shape inference on one tile, within
    MAX_TENSOR_BYTES. A tensor inference cannot size is refused too: LandLearn's exports
    (every architecture, float and int8) infer whole, and a size hidden from inference (an
    Expand to a shape computed through Abs of a constant) was allocated by ONNX Runtime on
    the first tile, tens of GB."""
    import numpy as np

    graph = proto.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    # refused here, before ONNX Runtime folds any constant of the graph at load
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise bad(f"takes {len(inputs)} input(s) "
                  + (f"of {len(inputs[0].type.tensor_type.shape.dim)} dimensions "
                     if len(inputs) == 1 else "")
                  + "where LandLearn's graphs take one tile (batch, bands, rows, columns): "
                  "the package was altered")
    dims = inputs[0].type.tensor_type.shape.dim
    if dims[1].HasField("dim_value") and dims[1].dim_value != bands:
        raise bad(f"takes {dims[1].dim_value} bands, not the {bands} bands its package "
                  "describes: the graph was altered or belongs to another package")
    for d, value in zip(dims, (1, bands, SIZE_TILE, SIZE_TILE)):
        if not (d.HasField("dim_value") and d.dim_value > 0):  # a fixed tile stays its size
            d.Clear()
            d.dim_value = value
    tile_bytes = 4 * int(np.prod([d.dim_value for d in dims]))  # the tile in, float32
    # the shapes the graph declares for what it makes are inferred afresh, not believed
    del graph.value_info[:]
    for out in graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:  # shapes that contradict each other
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise bad(f"has shapes that do not agree ({first})") from None
    except Exception as exc:  # noqa: BLE001 - an onnx that cannot infer this graph (a newer
        # opset): its tensors cannot be sized, so it is not run
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise bad(f"has shapes this onnx cannot infer ({first}); update onnx (pip "
                  "install -U onnx) or classify with RUNTIME=torch") from None
    sized = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        t = vi.type.tensor_type
        dims = ([d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
                if t.HasField("shape") else [None])
        sized[vi.name] = (dims, t.elem_type)
    made = [o for node in graph.node for o in node.output if o]
    for name in made:
        dims, elem = sized.get(name, ([None], 0))
        if None in dims or elem == 0:
            raise bad(f"makes a tensor '{name[:60]}' whose size shape inference cannot tell "
                      f"from one {SIZE_TILE} px tile (LandLearn's exports size every one)")
    sizes: dict[str, int] = {}
    for name in made:
        dims, elem = sized[name]
        try:
            item = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)).itemsize
        except (KeyError, TypeError, ValueError):
            item = 8
        size = item * int(np.prod(np.array(dims, dtype=np.float64)))
        if size > MAX_TENSOR_BYTES:
            raise bad(f"makes a tensor '{name[:60]}' of {dims} ({size / 1024 ** 3:,.1f} GB) "
                      f"from one {SIZE_TILE} px tile, more than the "
                      f"{MAX_TENSOR_BYTES / 1024 ** 3:.0f} GB any network of LandLearn's needs")
        sizes[name] = size
    # what does not depend on the tile is folded into constants when ONNX Runtime loads
    # the graph, all of it at once: each tensor under the limit, twenty of them were not
    tiled = {inputs[0].name}
    for node in graph.node:
        if any(i in tiled for i in node.input):
            tiled.update(o for o in node.output if o)
    folded = sum(sizes[n] for n in made if n not in tiled)
    if folded > MAX_CONSTANT_BYTES:
        raise bad(f"makes {folded / 1024 ** 3:,.1f} GB of tensors that do not depend on the "
                  f"tile (folded into constants at load), more than the "
                  f"{MAX_CONSTANT_BYTES / 1024 ** 3:.0f} GB any network of LandLearn's holds")
    return _peak_alive(graph, inputs[0].name, tile_bytes, sizes, tiled) / SIZE_TILE ** 2


def _peak_alive(graph, tile_input: str, input_bytes: int, sizes: dict, tiled: set) -> int:
    """The most bytes of tile-dependent tensors alive at once when the nodes run in the
    graph's order (ONNX keeps nodes topologically sorted): each tensor from the node that
    makes it to its last reader (a graph output to the end). Each tensor under
    MAX_TENSOR_BYTES, forty branches of one that all feed a last Sum were not: 4.6 GB held
    at once on a 512 px tile, from a package that says it is a U-Net (383 MB)."""
    last = {name: len(graph.node) for name in (o.name for o in graph.output)}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name in tiled:
                last[name] = max(last.get(name, i), i)
    change = [0] * (len(graph.node) + 2)

    def alive(name: str, first: int, size: int) -> None:
        change[first] += size
        change[last.get(name, first) + 1] -= size

    alive(tile_input, 0, input_bytes)
    for i, node in enumerate(graph.node):
        for name in node.output:
            if name in tiled and name in sizes:
                alive(name, i, sizes[name])
    peak = held = 0
    for step in change:
        held += step
        peak = max(peak, held)
    return peak
