"""Joint spatial-range mean shift (segment.joint_shift) compiled for the CPU (imported only
where numba is installed).

Per pixel, a point starts at the pixel's position and values and climbs the density of
the image's points: each step moves it to the mean of the points inside the joint uniform
kernel ((dy / hs)^2 + (dx / hs)^2 + sum((dv / hr)^2) <= 1), until the step is shorter than
the threshold (in kernel units) or the iterations run out. Positions are kept as float64
displacements from the start pixel, and neighbours are visited in a fixed order around the
rounded position, so a pixel's result does not depend on where its tile starts.

Why two kernels: about half of the neighbours inside the spatial disc fall outside the
range radius, at random, so a branch per neighbour ("in or out?") is mispredicted half the
time. Both kernels compute a neighbour's whole distance and add it with a weight of 0 or 1
instead; adding 0.0 changes no sum, so the modes are the same bit for bit as with branches
(and as the torch search's). With up to 4 bands, the common case (Segment takes the first
three bands by default), the bands live in registers (``rows4``, bands past the image's
padded with zeros, which add exactly 0 to every distance and sum): about 1.9x the speed of
the branching loop on NAIP; more bands go through arrays (``rows_any``, about 1.3x).
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def _write(disp, travel, y, x, dy, dx, far):
    """A pixel's displacement and travel (both kernels)."""
    disp[0, y, x] = dy
    disp[1, y, x] = dx
    travel[y, x] = int(np.ceil(far))


@numba.njit(nogil=True, cache=True)
def rows4(v, valid, out, disp, travel, hs, hr, thr2, max_iter, y0, y1):
    """Rows ``y0..y1`` of ``v`` (H, W, 4: a pixel's bands side by side, zero-padded to 4):
    ``out`` (B <= 4, H, W) the modes' values, ``disp`` (2, H, W) their displacement from
    the pixel, ``travel`` (H, W) the farthest the point went (pixels, rounded up): what a
    tile's halo must cover."""
    h, w = v.shape[0], v.shape[1]
    b = out.shape[0]
    inv_hs2 = 1.0 / (hs * hs)
    inv_hr2 = 1.0 / (hr * hr)
    for y in range(y0, y1):
        for x in range(w):
            r0 = np.float64(v[y, x, 0])
            r1 = np.float64(v[y, x, 1])
            r2 = np.float64(v[y, x, 2])
            r3 = np.float64(v[y, x, 3])
            dy = 0.0
            dx = 0.0
            far = 0.0
            if valid[y, x]:
                for _ in range(max_iter):
                    cy = int(np.floor(dy + 0.5))
                    cx = int(np.floor(dx + 0.5))
                    sy = 0.0
                    sx = 0.0
                    n = 0.0
                    a0 = 0.0
                    a1 = 0.0
                    a2 = 0.0
                    a3 = 0.0
                    for oy in range(cy - hs, cy + hs + 1):
                        yy = y + oy
                        if yy < 0 or yy >= h:
                            continue
                        ey = ((oy - dy) * (oy - dy)) * inv_hs2
                        if ey > 1.0:
                            continue
                        for ox in range(cx - hs, cx + hs + 1):
                            xx = x + ox
                            if xx < 0 or xx >= w or not valid[yy, xx]:
                                continue
                            p0 = np.float64(v[yy, xx, 0])
                            p1 = np.float64(v[yy, xx, 1])
                            p2 = np.float64(v[yy, xx, 2])
                            p3 = np.float64(v[yy, xx, 3])
                            d = ey + ((ox - dx) * (ox - dx)) * inv_hs2
                            d += ((p0 - r0) * (p0 - r0)) * inv_hr2
                            d += ((p1 - r1) * (p1 - r1)) * inv_hr2
                            d += ((p2 - r2) * (p2 - r2)) * inv_hr2
                            d += ((p3 - r3) * (p3 - r3)) * inv_hr2
                            t = 1.0 if d <= 1.0 else 0.0
                            sy += t * oy
                            sx += t * ox
                            a0 += t * p0
                            a1 += t * p1
                            a2 += t * p2
                            a3 += t * p3
                            n += t
                    if n == 0.0:
                        break
                    ny = sy / n
                    nx = sx / n
                    step = ((ny - dy) * (ny - dy) + (nx - dx) * (nx - dx)) * inv_hs2
                    m = a0 / n
                    step += ((m - r0) * (m - r0)) * inv_hr2
                    r0 = m
                    m = a1 / n
                    step += ((m - r1) * (m - r1)) * inv_hr2
                    r1 = m
                    m = a2 / n
                    step += ((m - r2) * (m - r2)) * inv_hr2
                    r2 = m
                    m = a3 / n
                    step += ((m - r3) * (m - r3)) * inv_hr2
                    r3 = m
                    dy = ny
                    dx = nx
                    far = max(far, abs(dy), abs(dx))
                    if step < thr2:
                        break
            out[0, y, x] = r0
            if b > 1:
                out[1, y, x] = r1
            if b > 2:
                out[2, y, x] = r2
            if b > 3:
                out[3, y, x] = r3
            _write(disp, travel, y, x, dy, dx, far)


@numba.njit(nogil=True, cache=True)
def rows_any(v, valid, out, disp, travel, hs, hr, thr2, max_iter, y0, y1):
    """``rows4`` for any band count: ``v`` (H, W, B), ``out`` (B, H, W)."""
    h, w, b = v.shape
    r = np.zeros(b, np.float64)
    acc = np.zeros(b, np.float64)
    inv_hs2 = 1.0 / (hs * hs)
    inv_hr2 = 1.0 / (hr * hr)
    for y in range(y0, y1):
        for x in range(w):
            for k in range(b):
                r[k] = v[y, x, k]
            dy = 0.0
            dx = 0.0
            far = 0.0
            if valid[y, x]:
                for _ in range(max_iter):
                    cy = int(np.floor(dy + 0.5))
                    cx = int(np.floor(dx + 0.5))
                    sy = 0.0
                    sx = 0.0
                    n = 0.0
                    for k in range(b):
                        acc[k] = 0.0
                    for oy in range(cy - hs, cy + hs + 1):
                        yy = y + oy
                        if yy < 0 or yy >= h:
                            continue
                        ey = ((oy - dy) * (oy - dy)) * inv_hs2
                        if ey > 1.0:
                            continue
                        for ox in range(cx - hs, cx + hs + 1):
                            xx = x + ox
                            if xx < 0 or xx >= w or not valid[yy, xx]:
                                continue
                            d = ey + ((ox - dx) * (ox - dx)) * inv_hs2
                            for k in range(b):
                                e = v[yy, xx, k] - r[k]
                                d += (e * e) * inv_hr2
                            t = 1.0 if d <= 1.0 else 0.0
                            sy += t * oy
                            sx += t * ox
                            for k in range(b):
                                acc[k] += t * v[yy, xx, k]
                            n += t
                    if n == 0.0:
                        break
                    ny = sy / n
                    nx = sx / n
                    step = ((ny - dy) * (ny - dy) + (nx - dx) * (nx - dx)) * inv_hs2
                    for k in range(b):
                        m = acc[k] / n
                        step += ((m - r[k]) * (m - r[k])) * inv_hr2
                        r[k] = m
                    dy = ny
                    dx = nx
                    far = max(far, abs(dy), abs(dx))
                    if step < thr2:
                        break
            for k in range(b):
                out[k, y, x] = r[k]
            _write(disp, travel, y, x, dy, dx, far)
