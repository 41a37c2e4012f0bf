"""Joint spatial-range mean-shift filtering (Comaniciu & Meer 2002), Segment's METHOD=joint.

Each pixel is a point (row, column, band values). Its mode is found by moving it, step by
step, to the mean of the image's points inside a uniform kernel around it that is joint in
space and range: (dy / hs)^2 + (dx / hs)^2 + sum((dv / hr)^2) <= 1, with hs the spatial
radius in pixels and hr the range radius. It stops when a step is shorter than THRESHOLD
(in kernel units: 0.1 is a tenth of the kernel) or after MAX_ITERATIONS, as Orfeo
ToolBox's MeanShiftSmoothing does. The filtered value is the mode's value; its spatial
position (the displacement from the pixel) is returned too, for grouping.

Exact across tiles: a pixel's result depends only on the points within its travel plus hs
of it, so the caller gives each tile a halo and widens it when a point travelled farther
(``travel``). On the CPU the search runs as compiled code (joint_shift_jit) on every core,
without torch; on a CUDA GPU as one Triton kernel (joint_shift_triton) where triton may
load, else as torch tensor operations (as on a CPU without numba); float64 everywhere.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import Cancelled
from ..runtime.deps import require
from ..runtime.threads import compute_threads
from ..runtime.triton_gate import load_triton, triton_blocked

__all__ = ["joint_filter", "gpu_search"]


def gpu_search(device, bands: int = 3) -> str:
    """How the search runs on torch device ``device``, in words for the log."""
    if getattr(device, "type", None) != "cuda":
        return "torch"
    why = _kernel_failure(device, bands)
    return "one Triton kernel" if why is None else f"torch tensor operations ({why})"


def _kernel_failure(device, bands: int) -> str | None:
    """None when the Triton kernel runs on ``device`` (a CUDA torch.device) for ``bands``
    bands; else why not. Beyond what triton_gate knows, triton builds a small C launcher
    the first time (a C compiler and Python's headers, often missing beside QGIS) and
    compiles the kernel: tried once per device and band count on 8 x 8 px, so a machine
    that cannot build it runs the torch search, and the log says why."""
    why = triton_blocked()
    if why is not None:
        return why
    return _trial(str(device), bands)


@functools.cache
def _trial(device: str, bands: int) -> str | None:
    torch = require("torch")
    try:
        _triton(np.zeros((bands, 8, 8), np.float32), np.ones((8, 8), bool), 1, 10.0, 0.1, 2,
                torch.device(device))
    except Exception as exc:  # noqa: BLE001 - no compiler, no headers, no cache folder
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return f"the Triton kernel could not be built here: {type(exc).__name__}: {first}"
    return None


def joint_filter(values: np.ndarray, valid: np.ndarray, hs: int, hr: float,
                 threshold: float, max_iter: int, device, halt: threading.Event | None = None):
    """(modes' values (B, H, W) float32, displacements (2, H, W) float64, travel (H, W)
    int32) of float32 ``values`` with (H, W) bool ``valid``. ``device`` "compiled" or a
    torch.device. Pixels with an infinite value take no part (as NoData would): both
    searches weigh every neighbour by 0 or 1, and 0 x inf is not 0. ``halt`` set (a
    cancelled run), the compiled search starts no more of its row spans and raises
    Cancelled: a tile at a large SPATIAL_DETAIL takes tens of seconds on a few cores."""
    valid = valid & np.isfinite(values).all(0)
    if device == "compiled":
        return _compiled(values, valid, hs, hr, threshold, max_iter, halt)
    if getattr(device, "type", None) == "cuda" and _kernel_failure(device, len(values)) is None:
        return _triton(values, valid, hs, hr, threshold, max_iter, device)
    return _torch(values, valid, hs, hr, threshold, max_iter, device)


def _compiled(values, valid, hs, hr, threshold, max_iter, halt=None):
    from .joint_shift_jit import rows4, rows_any

    b, h, w = values.shape
    if b <= 4:  # the bands in registers; zero bands add exactly 0 (joint_shift_jit)
        v = np.zeros((h, w, 4), np.float32)
        v[:, :, :b] = np.moveaxis(values, 0, -1)
        kernel = rows4
    else:
        v = np.ascontiguousarray(np.moveaxis(values.astype(np.float32, copy=False), 0, -1))
        kernel = rows_any
    ok = np.ascontiguousarray(valid, np.bool_)
    out = np.empty((b, h, w), np.float32)
    disp = np.empty((2, h, w), np.float64)
    travel = np.empty((h, w), np.int32)
    threads = min(compute_threads(), 16)
    step = max(1, -(-h // (threads * 8)))
    spans = [(y, min(y + step, h)) for y in range(0, h, step)]
    args = (v, ok, out, disp, travel, int(hs), float(hr), float(threshold) ** 2, int(max_iter))

    def run(span) -> None:
        if halt is None or not halt.is_set():  # a span under way finishes (no check inside)
            kernel(*args, *span)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, spans))
    if halt is not None and halt.is_set():
        raise Cancelled()  # some spans were never searched: the tile is not whole
    return out, disp, travel


def _triton(values, valid, hs, hr, threshold, max_iter, device):
    torch = require("torch")
    load_triton()
    from .joint_shift_triton import search

    with torch.inference_mode(), torch.cuda.device(device):
        v = torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(device)
        ok = torch.from_numpy(np.ascontiguousarray(valid, np.uint8)).to(device)
        b, h, w = v.shape
        out = torch.empty_like(v)
        disp = torch.empty((2, h, w), dtype=torch.float64, device=device)
        travel = torch.empty((h, w), dtype=torch.int32, device=device)
        search(v, ok, out, disp, travel, hs, hr, threshold, max_iter)
        return out.cpu().numpy(), disp.cpu().numpy(), travel.cpu().numpy()


def _torch(values, valid, hs, hr, threshold, max_iter, device):
    torch = require("torch")
    with torch.inference_mode():
        v = torch.from_numpy(np.ascontiguousarray(values)).to(device, torch.float64)
        ok = torch.from_numpy(np.ascontiguousarray(valid)).to(device)
        b, h, w = v.shape
        flat, ok_flat = v.reshape(b, -1), ok.reshape(-1)
        ay, ax = torch.nonzero(ok, as_tuple=True)
        r = flat[:, ay * w + ax].clone()
        dy = torch.zeros(len(ay), dtype=torch.float64, device=device)
        dx, far = torch.zeros_like(dy), torch.zeros_like(dy)
        live = torch.ones(len(ay), dtype=torch.bool, device=device)
        offsets = range(-hs, hs + 1)
        # the compiled code's arithmetic, in its order: same decisions at the kernel's edge
        inv_hs2, inv_hr2 = 1.0 / (hs * hs), 1.0 / (hr * hr)
        for _ in range(max_iter):
            idx = torch.nonzero(live, as_tuple=True)[0]
            if len(idx) == 0:
                break
            y0, x0, py, px, rr = ay[idx], ax[idx], dy[idx], dx[idx], r[:, idx]
            cy, cx = torch.floor(py + 0.5).long(), torch.floor(px + 0.5).long()
            sy, sx = torch.zeros_like(py), torch.zeros_like(px)
            n = torch.zeros_like(py)
            acc = torch.zeros_like(rr)
            for oy in offsets:
                for ox in offsets:
                    ty, tx = cy + oy, cx + ox
                    yy, xx = y0 + ty, x0 + tx
                    inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                    lin = yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)
                    d = (ty - py) ** 2 * inv_hs2 + (tx - px) ** 2 * inv_hs2
                    nb = flat[:, lin]
                    for k in range(b):
                        d = d + (nb[k] - rr[k]) ** 2 * inv_hr2
                    take = (inside & ok_flat[lin] & (d <= 1.0)).to(torch.float64)
                    sy += take * ty
                    sx += take * tx
                    acc += take * nb
                    n += take
            moved = n > 0
            n = n.clamp(min=1)
            ny, nx, nr = sy / n, sx / n, acc / n
            step = ((ny - py) ** 2 + (nx - px) ** 2) * inv_hs2
            for k in range(b):
                step = step + (nr[k] - rr[k]) ** 2 * inv_hr2
            new_y, new_x = torch.where(moved, ny, py), torch.where(moved, nx, px)
            dy[idx], dx[idx] = new_y, new_x
            r[:, idx] = torch.where(moved, nr, rr)
            far[idx] = torch.maximum(far[idx], torch.maximum(new_y.abs(), new_x.abs()))
            live[idx] = moved & (step >= threshold ** 2)
        out = v.clone()
        out[:, ay, ax] = r
        disp = torch.zeros((2, h, w), dtype=torch.float64, device=device)
        disp[0, ay, ax], disp[1, ay, ax] = dy, dx
        travel = torch.zeros((h, w), dtype=torch.int32, device=device)
        travel[ay, ax] = torch.ceil(far).to(torch.int32)
        return (out.to(torch.float32).cpu().numpy(), disp.cpu().numpy(),
                travel.cpu().numpy())
