"""The mean-shift pass of segment.mean_shift compiled for the CPU (imported only where numba
is installed).

The same arithmetic as the torch pass, in the same order (float32 sums over the window from
its first neighbour to its last), one row of pixels per call so threads can share a tile
(nogil). numba caches the machine code on disk, so only the first run after an install
compiles (about a second).
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def pass_rows(v, valid, out, r, hr2, along_x, y0, y1):
    """Rows ``y0..y1`` of ``out`` = one 1D mean-shift step of (B, H, W) ``v`` along x
    (``along_x``) or y; NoData pixels keep their value and add nothing."""
    b, h, w = v.shape
    acc = np.zeros(b + 1, np.float32)
    for y in range(y0, y1):
        for x in range(w):
            if not valid[y, x]:
                for k in range(b):
                    out[k, y, x] = v[k, y, x]
                continue
            acc[:] = 0
            for o in range(-r, r + 1):
                yy, xx = (y, x + o) if along_x else (y + o, x)
                if yy < 0 or yy >= h or xx < 0 or xx >= w or not valid[yy, xx]:
                    continue
                d2 = np.float32(0)
                for k in range(b):
                    d = v[k, yy, xx] - v[k, y, x]
                    d2 += d * d
                if d2 < hr2:
                    for k in range(b):
                        acc[k] += v[k, yy, xx]
                    acc[b] += 1
            n = max(acc[b], np.float32(1))
            for k in range(b):
                out[k, y, x] = acc[k] / n
