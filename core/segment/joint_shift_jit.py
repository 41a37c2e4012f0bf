"""Joint spatial-range mean shift (segment.joint_shift) compiled for the CPU (imported only
where numba is installed).

Per pixel, a point starts at the pixel's position and values and climbs the density of
the image's points: each step moves it to the mean of the points inside the joint uniform
kernel ((dy / hs)^2 + (dx / hs)^2 + sum((dv / hr)^2) <= 1), until the step is shorter than
the threshold (in kernel units) or the iterations run out. Positions are kept as float64
displacements from the start pixel, and neighbours are visited in a fixed order around the
rounded position, so a pixel's result does not depend on where its tile starts.
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def joint_rows(v, valid, out, disp, travel, hs, hr, thr2, max_iter, y0, y1):
    """Rows ``y0..y1`` of ``v`` (H, W, B: a pixel's bands side by side, which the inner
    loop reads together): ``out`` (B, H, W) the modes' values, ``disp`` (2, H, W) their
    displacement from the pixel, ``travel`` (H, W) the farthest the point went (pixels,
    rounded up): what a tile's halo must cover."""
    h, w, b = v.shape
    r = np.zeros(b, np.float64)
    acc = np.zeros(b, np.float64)
    inv_hs2 = 1.0 / (hs * hs)
    inv_hr2 = 1.0 / (hr * hr)
    for y in range(y0, y1):
        for x in range(w):
            if not valid[y, x]:
                for k in range(b):
                    out[k, y, x] = v[y, x, k]
                disp[0, y, x] = 0.0
                disp[1, y, x] = 0.0
                travel[y, x] = 0
                continue
            for k in range(b):
                r[k] = v[y, x, k]
            dy = 0.0
            dx = 0.0
            far = 0.0
            for _ in range(max_iter):
                cy = int(np.floor(dy + 0.5))
                cx = int(np.floor(dx + 0.5))
                sy = 0.0
                sx = 0.0
                n = 0
                acc[:] = 0.0
                for oy in range(cy - hs, cy + hs + 1):
                    yy = y + oy
                    if yy < 0 or yy >= h:
                        continue
                    ey = (oy - dy) ** 2 * inv_hs2
                    if ey > 1.0:
                        continue
                    for ox in range(cx - hs, cx + hs + 1):
                        xx = x + ox
                        if xx < 0 or xx >= w or not valid[yy, xx]:
                            continue
                        d = ey + (ox - dx) ** 2 * inv_hs2
                        if d > 1.0:
                            continue
                        for k in range(b):
                            e = v[yy, xx, k] - r[k]
                            d += e ** 2 * inv_hr2
                            if d > 1.0:  # it only grows: the same decision, sooner
                                break
                        if d > 1.0:
                            continue
                        sy += oy
                        sx += ox
                        for k in range(b):
                            acc[k] += v[yy, xx, k]
                        n += 1
                if n == 0:
                    break
                ny = sy / n
                nx = sx / n
                step = ((ny - dy) ** 2 + (nx - dx) ** 2) * inv_hs2
                for k in range(b):
                    m = acc[k] / n
                    step += (m - r[k]) ** 2 * inv_hr2
                    r[k] = m
                dy = ny
                dx = nx
                far = max(far, abs(dy), abs(dx))
                if step < thr2:
                    break
            for k in range(b):
                out[k, y, x] = r[k]
            disp[0, y, x] = dy
            disp[1, y, x] = dx
            travel[y, x] = int(np.ceil(far))
