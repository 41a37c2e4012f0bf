"""Mean-shift filtering in torch (GPU when there is one), the smoothing step of mean-shift
segmentation.

Each pixel's value moves to the mean of the neighbours within SPATIAL radius whose values
lie within RANGE radius of it; repeated, values settle on local modes and edges survive.
The 2D window is applied as a row pass then a column pass (a separable approximation, as
fast bilateral filters do): 2(2r+1) neighbours per pass instead of (2r+1)^2, which is what
makes it several times faster than Orfeo ToolBox on a CPU. Outside the raster (and on
NoData) nothing is averaged in, so a tile computed with a halo of radius x iterations
equals the same pixels computed in one pass.

On the CPU the pass runs as compiled code (mean_shift_jit, numba) on every core, without
importing torch: the 1.7-1.9 s torch import and its ~600 MB were most of a whole
`qgis_process run landlearn:segment` (BENCHMARKS.md). torch runs it on a GPU, and on the
CPU where numba is missing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..classical.trees.kernel import numba_version
from ..runtime.deps import require
from ..runtime.threads import compute_threads


def halo(spatial_radius: int, iterations: int) -> int:
    """How far a filtered pixel depends on its neighbours: two passes per iteration."""
    return 2 * spatial_radius * iterations


def _pass(torch, v, valid, r: int, hr2: float, dim: int):
    """One 1D mean-shift step along ``dim`` (1 = rows, 2 = columns) of (B, H, W) ``v``."""
    b, h, w = v.shape
    pad = (0, 0, r, r) if dim == 1 else (r, r, 0, 0)
    # a last channel of ones (zeros outside the data) makes one multiply-add give both the
    # sum of the accepted neighbours and their count
    # and NoData pixels hold 0 there, so that a neighbour that is NoData adds nothing even
    # when its value happens to lie within the range radius
    vx = torch.cat([torch.where(valid, v, torch.zeros_like(v)), valid[None].to(v.dtype)])
    vp = torch.nn.functional.pad(vx, pad)
    acc = torch.zeros_like(vx)
    d2 = torch.empty((h, w), dtype=v.dtype, device=v.device)
    for o in range(2 * r + 1):
        sh = vp[:, o:o + h, :] if dim == 1 else vp[:, :, o:o + w]
        d = sh[:b] - v
        torch.sum(d.mul_(d), 0, out=d2)
        m = (d2 < hr2).to(v.dtype)  # invalid neighbours add zeros, ones channel included
        acc.addcmul_(sh, m.expand_as(sh))
    out = acc[:b].div_(acc[b:].clamp_(min=1.0))
    return torch.where(valid, out, v)


def compiled_available() -> bool:
    """Whether the compiled CPU pass can run (numba installed, not turned off)."""
    return numba_version() is not None


def _compiled(values, valid, r: int, hr2: float, iterations: int):
    from .mean_shift_jit import pass_rows

    v = np.ascontiguousarray(values, np.float32)
    ok = np.ascontiguousarray(valid, np.bool_)
    h = v.shape[1]
    threads = min(compute_threads(), 16)
    step = max(1, -(-h // (threads * 4)))
    spans = [(y, min(y + step, h)) for y in range(0, h, step)]
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(iterations):
            for along_x in (True, False):  # columns (along x) first, as the torch pass
                out = np.empty_like(v)
                args = (v, ok, out, r, np.float32(hr2), along_x)
                list(pool.map(lambda span, a=args: pass_rows(*a, *span), spans))
                v = out
    return v


def mean_shift_filter(values, valid, spatial_radius: int, range_radius: float,
                      iterations: int, device):
    """Filter (B, H, W) float32 ``values`` (numpy) with (H, W) bool ``valid``; numpy out.
    ``device`` "compiled" runs the CPU pass without torch; else a torch.device."""
    if device == "compiled":
        return _compiled(values, valid, spatial_radius, float(range_radius) ** 2, iterations)
    torch = require("torch")
    with torch.inference_mode():
        v = torch.from_numpy(values).to(device)
        ok = torch.from_numpy(valid).to(device)
        hr2 = float(range_radius) ** 2
        for _ in range(iterations):
            v = _pass(torch, v, ok, spatial_radius, hr2, 2)
            v = _pass(torch, v, ok, spatial_radius, hr2, 1)
        return v.cpu().numpy()
