"""Peak memory of one network pass (or, --train, one training step) per pixel, per
architecture and encoder.

Classify Pixels refuses a TILE_SIZE x BATCH_SIZE whose network pass cannot fit in the
memory left (core/classify/memory.py); the bytes per pixel it assumes come from here.
Each case runs in a process of its own (peak RSS is per process): the model is built
(4 bands, 7 classes, untrained: weights do not change activation sizes), one pass over a
256 px tile, then one over a 1024 px tile; the marginal cost is the growth of the peak
between them over the growth in pixels (what a larger tile adds), float32 on the CPU.

--train: one training step (forward, cross-entropy, backward, AdamW step) on a batch of
one 256 px chip, then of eight; the growth of the peak over the 7 chips' pixels added is
what Train Deep Learning Model assumes per pixel of a batch (core/deep/train_memory.py).
--bands N: chips of N bands instead of 4 (what a band adds to a step: hyperspectral chips
of 224 bands against 4, core/deep/train_memory.py BAND_BYTES_PER_PX).

--onnx: the pass on ONNX Runtime (CPU provider, the session options Classify Pixels uses:
every optimisation, its memory arena) over the graph Export Model writes; what RUNTIME=auto
runs on a CPU. The check assumes torch's figures for it (core/classify/memory.py).

    python bench/bench_activation_memory.py [--train | --onnx] [--bands 4]
        [--cases unet:resnet18] [--out bench_activation_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

CASES = [(arch, enc) for arch in ("unet", "unetplusplus", "deeplabv3plus", "fpn", "pspnet",
                                  "linknet", "manet")
         for enc in ("resnet18", "resnet50", "efficientnet-b0", "mobilenet_v2")]

CHILD = r"""
import resource, sys, torch
from landlearn.core.deep.ensemble import ensemble
from landlearn.core.deep.models import build_model
torch.set_num_threads(2)
arch, enc, detail, bands = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
members = int(sys.argv[6]) if len(sys.argv) > 6 else 1
nets = [build_model(arch, enc, bands, 7, detail_head=detail).eval() for _ in range(members)]
net = nets[0] if members == 1 else ensemble(nets).eval()
peaks = []
with torch.inference_mode():
    for side in (int(v) for v in sys.argv[5].split(",")):
        net(torch.zeros(1, bands, side, side))
        # ru_maxrss: KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peaks.append(peak if sys.platform == "darwin" else peak * 1024)
print(peaks[0], peaks[1])
"""

EXPORT_CHILD = r"""
import sys, torch
from landlearn.core.deep.ensemble import ensemble
from landlearn.core.deep.models import build_model
from landlearn.core.deep.onnx_export import export_onnx
arch, enc, detail, bands = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
members = int(sys.argv[6])
nets = [build_model(arch, enc, bands, 7, detail_head=detail).eval() for _ in range(members)]
net = nets[0] if members == 1 else ensemble(nets).eval()
emd = {"Classes": [{"Value": v, "Name": f"c{v}"} for v in range(1, 8)],
       "LandLearn": {"architecture": arch, "encoder": enc, "in_channels": bands,
                     "class_values": list(range(1, 8)),
                     "normalization": {"mean": [0.0] * bands, "std": [1.0] * bands}}}
emd["LandLearn"]["ensemble_members"] = members
with open(sys.argv[5], "wb") as f:
    f.write(export_onnx(net, emd))
"""

# the graph exported in a process of its own: the export's peak (torch's tracer, the
# proto's copies of a resnet50's weights) hid the small tile's pass in the same process
ONNX_CHILD = r"""
import resource, sys, numpy as np
import onnxruntime as ort
bands, graph = int(sys.argv[4]), sys.argv[6]
options = ort.SessionOptions()
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
peaks = []
for side in (int(v) for v in sys.argv[5].split(",")):
    session.run(None, {session.get_inputs()[0].name: np.zeros((1, bands, side, side), np.float32)})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks.append(peak if sys.platform == "darwin" else peak * 1024)
print(peaks[0], peaks[1])
"""

TRAIN_CHILD = r"""
import resource, sys, torch
from landlearn.core.deep.models import build_model
torch.set_num_threads(2)
arch, enc, detail, bands = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
net = build_model(arch, enc, bands, 7, detail_head=detail).train()
opt = torch.optim.AdamW(net.parameters())
peaks = []
for batch in (1, 8):
    x = torch.zeros(batch, bands, 256, 256)
    y = torch.zeros(batch, 256, 256, dtype=torch.long)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks.append(peak if sys.platform == "darwin" else peak * 1024)
print(peaks[0], peaks[1])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_activation_memory.json")
    ap.add_argument("--train", action="store_true", help="a training step, not a pass")
    ap.add_argument("--onnx", action="store_true",
                    help="the pass on ONNX Runtime's CPU provider, not torch")
    ap.add_argument("--sides", default="256,1024",
                    help="a pass: the smaller and the larger tile, px (default 256,1024)")
    ap.add_argument("--bands", type=int, default=4, help="bands of the input (default 4)")
    ap.add_argument("--cases", default="",
                    help="architecture:encoder[+detail][+ensN],... (default: all)")
    args = ap.parse_args()
    cases = [tuple(c.split(":")) for c in args.cases.split(",")] if args.cases else \
        CASES + [("unet", "resnet18+detail")]
    if args.train and args.onnx:
        ap.error("--train and --onnx: one or the other")
    child = TRAIN_CHILD if args.train else ONNX_CHILD if args.onnx else CHILD
    small_side, large_side = (int(v) for v in args.sides.split(","))
    grown = 7 * 256 * 256 if args.train else large_side ** 2 - small_side ** 2
    rows = []
    for arch, enc in cases:
        name, detail = enc.split("+")[0], "detail" in enc
        # "+ens2": an ENSEMBLE_SIZE 2 package's one network (the default package)
        members = int(enc.split("+ens")[1].split("+")[0]) if "+ens" in enc else 1
        if members > 1 and args.train:
            ap.error("+ensN: a pass only (members train one after another)")
        t0 = time.perf_counter()
        argv = [arch, name, "1" if detail else "0", str(args.bands), args.sides]
        with tempfile.TemporaryDirectory() as tmp:
            if args.onnx:
                graph = os.path.join(tmp, "graph.onnx")
                made = subprocess.run([sys.executable, "-c", EXPORT_CHILD, *argv[:4], graph,
                                       str(members)],
                                      capture_output=True, text=True)
                if made.returncode:
                    rows.append({"architecture": arch, "encoder": enc,
                                 "error": made.stderr[-300:]})
                    continue
                argv.append(graph)
            elif not args.train:
                argv.append(str(members))
            got = subprocess.run([sys.executable, "-c", child, *argv],
                                 capture_output=True, text=True)
        if got.returncode:
            rows.append({"architecture": arch, "encoder": enc, "error": got.stderr[-300:]})
            continue
        small, large = (int(v) for v in got.stdout.split())
        per_px = (large - small) / grown
        rows.append({"architecture": arch, "encoder": enc, "bytes_per_px": round(per_px),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{arch:14s} {enc:18s} {per_px:6.0f} B/px", flush=True)
    with open(args.out, "w") as f:
        json.dump({"machine": platform.node(), "date": time.strftime("%Y-%m-%d"),
                   "measure": "training step" if args.train else
                   "network pass, ONNX Runtime CPU" if args.onnx else "network pass",
                   "bands": args.bands, "sides": args.sides,
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
