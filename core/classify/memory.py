"""Will a network pass fit? The memory a deep model's batch of tiles takes, against what the
device has free.

tiling.py bounds a tile's bands and class scores; the network's activations are far
larger (a U-Net holds every encoder stage for its skip connections): TILE_SIZE=8192 with
a U-Net asked ~30 GB of a 24 GB machine and the kernel killed qgis_process with no
message. The bytes per pixel are measured (bench/bench_activation_memory.py, a pass's
peak growth from 256 to 1024 px tiles, float32, CPU) and taken at their low end, so a
pass that fits is not refused; a pass refused would not have fitted. Past 1024 px on
ONNX Runtime, whose arena grows faster, its own measures per encoder are taken at 90%;
only an encoder not measured with its architecture (ORT_PASS_BYTES_PER_PX) is counted
long there, as a pass counted short is killed with no message.
"""

from __future__ import annotations

from ..errors import InputError
from ..runtime.device import may_have_cuda
from ..runtime.free_memory import available_memory
from .tiling import tile_bytes

__all__ = ["ORT_PASS_BYTES_PER_PX", "PASS_BYTES_PER_PX", "fit_batch", "fitted_tile", "local_cpu",
           "runs_on"]

# Peak growth per tile pixel of one network pass, per architecture: 70% of the least
# measured (rounded down to tens) over resnet18/50, efficientnet-b0 and mobilenet_v2 from
# 256 to 1024 px tiles (4 bands, 7 classes; BENCHMARKS.md, "memory of a network pass"), as
# larger tiles cost a little less per pixel (U-Net resnet18: 619 B/px to 1024 px, 483 from
# 1024 to 2048). An architecture not listed (an ArcGIS model) takes the least of them.
PASS_BYTES_PER_PX = {
    "unet": 390, "unetplusplus": 550, "deeplabv3plus": 420, "fpn": 370, "pspnet": 150,
    "linknet": 300, "manet": 300,
}


# ONNX Runtime (RUNTIME=auto runs networks on it on a CPU) holds more than torch in large
# tiles: its memory arena grows in ever larger steps (stop 71: a U-Net took 651-704 B/px
# from 1024 to 2048 px where the table above assumes 390). Past ORT_FROM_PX the pixels of a
# tile cost, per architecture and encoder, 90% (rounded down to tens) of the peak growth
# per pixel from 1024 to 2048 px tiles (bench_activation_memory.py --onnx, 4 bands, 7
# classes; BENCHMARKS.md): measured where the tiles are large, the check's only concern
# there. Up to it, the table above (U-Net: 342-465 B/px from 256 to 1024 px on ONNX
# Runtime). U-Net (the default) is measured with every encoder offered; another
# architecture's encoder not measured takes its row's most: past 1024 px a pass counted
# short is killed with no message, one counted long is refused naming TILE_SIZE and what
# fits (vgg16_bn's U-Net took 1227 B/px, twice resnet50's: a row's most can still be
# short for it). PSPNet has no ONNX form.
ORT_FROM_PX = 1024
ORT_PASS_BYTES_PER_PX = {
    "unet": {"resnet18": 590, "resnet34": 580, "resnet50": 630, "mobilenet_v2": 400,
             "efficientnet-b0": 400, "resnext50_32x4d": 620, "efficientnet-b2": 400,
             "efficientnet-b4": 540, "densenet121": 590, "vgg16_bn": 1100},
    "unetplusplus": {"resnet18": 1100, "resnet34": 1100, "resnet50": 1850,
                     "mobilenet_v2": 430},
    "deeplabv3plus": {"resnet18": 210, "resnet34": 200, "resnet50": 250,
                      "mobilenet_v2": 250},
    "fpn": {"resnet18": 380, "resnet34": 380, "resnet50": 360, "mobilenet_v2": 240,
            "efficientnet-b0": 360},
    "linknet": {"resnet18": 470, "resnet34": 470, "resnet50": 700, "mobilenet_v2": 240},
    "manet": {"resnet18": 390, "resnet34": 460, "resnet50": 520, "mobilenet_v2": 220},
}
# the detail head's full-resolution features on top (DETAIL_HEAD, the default since round
# 8): U-Net resnet18 709 against 619 B/px on torch, resnet18 / resnet34 747 / 736 against
# 662 / 651 on ONNX Runtime past 1024 px; 70% of the least (85), rounded down to tens
DETAIL_HEAD_BYTES_PER_PX = 50
# each network of an ensemble (ENSEMBLE_SIZE, 2 by default) past the first: the default
# package (U-Net resnet34, detail head, 4 bands, 7 classes) of two took 786 against 658
# B/px on torch (256 to 1024 px), 533 against 465 on ONNX Runtime, and past 1024 px 992
# against 736 there; 70% of torch's difference (above ONNX Runtime's 68 below 1024 px,
# where its U-Net figure, 390, is itself under its 465) and 90% of ONNX Runtime's past
# 1024 px. Measured at 7 classes: a network's scores (4 B per class per pixel) are part of
# it, so an ensemble of many classes is counted a little short.
MEMBER_BYTES_PER_PX, ORT_MEMBER_BYTES_PER_PX = 80, 230

# an ONNX graph's own count (onnx_checks: its tensors alive at once, on the graph before
# ONNX Runtime fuses operators) is taken at this share, as the table is of its measures:
# LandLearn's exports count 152-640 B/px, so their table entries stand
GRAPH_SHARE = 0.7


def runs_on(predictor) -> dict:
    """fit_batch's and fitted_tile's keywords for how ``predictor`` runs a pass: on ONNX
    Runtime (with its graph's own count) or on torch."""
    return {"onnx": getattr(predictor, "engine", "torch") == "onnxruntime",
            "graph_per_px": getattr(predictor, "graph_per_px", None)}


def pass_bytes(tile: int, batch: int, info, graph_per_px: float | None = None,
               onnx: bool = False) -> int:
    """One pass's bytes: the architecture's (or, where the package names none, the least)
    per pixel, and on ONNX Runtime (``onnx``) its encoder's for the pixels past a 1024 px
    tile, where its arena grows faster than torch's; or an ONNX graph's own count where
    that is more: a graph from someone else need not be the architecture its package names
    (forty branches held 4.6 GB at 512 px where a U-Net holds 383 MB)."""
    arch = (info.architecture or "").lower()
    per_px = PASS_BYTES_PER_PX.get(arch, min(PASS_BYTES_PER_PX.values()))
    large_px = per_px
    if onnx and arch in ORT_PASS_BYTES_PER_PX:
        row = ORT_PASS_BYTES_PER_PX[arch]
        large_px = row.get((info.encoder or "").lower(), max(row.values()))
    if info.detail_head:
        per_px, large_px = per_px + DETAIL_HEAD_BYTES_PER_PX, large_px + DETAIL_HEAD_BYTES_PER_PX
    more = max(0, int(info.members) - 1)  # at most 8 (the package's schema)
    per_px += more * MEMBER_BYTES_PER_PX
    large_px += more * (ORT_MEMBER_BYTES_PER_PX if onnx else MEMBER_BYTES_PER_PX)
    small = min(tile, ORT_FROM_PX) ** 2
    net = per_px * small + large_px * (tile * tile - small)
    net = max(net, GRAPH_SHARE * (graph_per_px or 0) * tile * tile)
    return batch * int(net + tile_bytes(tile, info))


def fit_batch(config, info, device, tile: int, pad: int, batch: int, progress,
              share: int = 1, cap: int | None = None,
              graph_per_px: float | None = None, onnx: bool = False) -> int:
    """``batch`` (an automatic one lowered to fit), or an InputError naming TILE_SIZE or
    BATCH_SIZE and what would fit, where one pass of ``batch`` tiles of ``tile`` px cannot
    fit in the memory left: a ``share`` of it where that many local workers pass at once,
    at most ``cap`` (a Dask worker's own memory limit); ``graph_per_px``: an ONNX graph's
    own bytes per pixel (OnnxPredictor.graph_per_px); ``onnx``: ONNX Runtime runs it
    (``runs_on(predictor)`` gives both)."""
    if info.kind == "classical":
        return batch

    def need(tile: int, batch: int) -> int:
        return pass_bytes(tile, batch, info, graph_per_px, onnx)

    free = available_memory(device)
    if free is None:
        progress.info("the free memory of this device is not known: the network pass's "
                      "memory is not checked")
        return batch
    room, where = free[0] // max(1, share), free[1]
    if cap is not None and getattr(device, "type", "cpu") == "cpu":
        # a Dask worker's limit is on its RAM: a pass on the GPU is not bounded by it
        room = min(room, cap)
    shown = (f"{room / 1e9:.1f} GB {where}" + (f" for each of {share} workers" if share > 1
                                               else ""))
    if need(tile, batch) <= room:
        return batch
    if config.batch_size is None:
        while batch > 1 and need(tile, batch) > room:
            batch -= 1
        if need(tile, batch) <= room:
            progress.info(f"batch lowered to {batch} tiles: more would not fit in the {shown}")
            return batch
    asked = need(tile, batch)
    tiles = room // need(tile, 1)
    least = max(32, -(-(2 * pad + 16) // 32) * 32)  # geometry's least tile at this padding
    if batch > 1 and tiles >= 1:  # an explicit BATCH_SIZE: fewer tiles fit
        what, advice = "batch_size", f"use a BATCH_SIZE of at most {tiles}"
    else:
        fits = tile
        while fits > least and need(fits, 1) > room:
            fits -= 32
        what = "tile_size"
        if need(fits, 1) > room:  # not even the least tile: no size to offer
            advice = (f"no tile fits with PADDING {pad} px (the least is {least} px)"
                      if config.padding is not None else "no tile fits")
        else:
            advice = f"use a TILE_SIZE of at most {fits} px" + (
                " and BATCH_SIZE 1" if batch > 1 else "")
    raise InputError(what, f"one network pass over {batch} tile{'s' * (batch > 1)} of {tile} "
                     f"px takes about {asked / 1e9:.1f} GB, and there are {shown}; {advice}, "
                     "or free memory (other programs, a GPU shared with others)")


def fitted_tile(info, device, tile: int, graph_per_px: float | None = None,
                onnx: bool = False) -> int | None:
    """The largest automatic tile (a multiple of 32, at least 256 px, at most ``tile``) of
    which one pass fits in the memory left, or None where ``tile`` fits, nothing is known,
    or not even 256 px fits (fit_batch then says what to do). An automatic tile of up to
    2048 px (the model's chip) was refused on a small GPU naming TILE_SIZE, a setting the
    user never made."""
    if info.kind == "classical":
        return None
    free = available_memory(device)
    if free is None or pass_bytes(tile, 1, info, graph_per_px, onnx) <= free[0]:
        return None
    fits = tile - tile % 32
    while fits > 256 and pass_bytes(fits, 1, info, graph_per_px, onnx) > free[0]:
        fits -= 32
    return fits if fits < tile and pass_bytes(fits, 1, info, graph_per_px, onnx) <= free[0] else None


def local_cpu(device: str | None) -> bool:
    """Whether ``device`` (DEVICE's text) runs on this machine's CPU, asked without
    importing torch: cpu, or auto where no CUDA GPU can be."""
    name = (device or "auto").strip().lower()
    return name == "cpu" or (name == "auto" and not may_have_cuda())
