"""The compiled walk behind tree_kernel.FlatForest (imported only where numba is installed).

numba compiles it on first use and caches the machine code beside this file (or in the
user's cache folder where that is read-only), so only the first run after an install
pays the compilation (about a second).
"""

import numba
import numpy as np

u = np.uint64


@numba.njit(inline="always")
def _step(node, at, buf, feature, threshold, child):
    """One level down for the pixel whose codes start at ``at`` (a leaf stays put)."""
    return u(child[u(2) * node + u(buf[at + u(feature[node])] > threshold[node])])


@numba.njit(nogil=True, cache=True)
def walk(codes, n_features, perm, roots, feature, threshold, child, is_leaf, leaf_row,
         columns, table, out, block, start, stop):
    # Rows perm[start:stop] go in blocks: a block's codes are gathered in sorted order
    # (its last row repeated up to a multiple of 8), eight of them walk each tree side by
    # side, their sums stay in cache while every tree passes and are then written to
    # their own rows of ``out``. Unsigned indices throughout: numba checks signed ones
    # for negative values.
    nf = u(n_features)
    width = table.shape[1]
    buf = np.empty((block + 8) * n_features, codes.dtype)
    acc = np.empty((block + 8, out.shape[1]), np.float64)
    nodes = np.empty(8, np.uint64)
    for s in range(start, stop, block):
        m = min(stop, s + block) - s
        rows = (m + 7) // 8 * 8
        for r in range(rows):
            src = perm[s + min(r, m - 1)]
            for f in range(n_features):
                buf[r * n_features + f] = codes[src, f]
        acc[:rows] = 0.0
        for t in range(roots.shape[0]):
            root = u(roots[t])
            column = columns[t]
            for i in range(0, rows, 8):
                b = u(i) * nf
                n0 = root
                n1 = root
                n2 = root
                n3 = root
                n4 = root
                n5 = root
                n6 = root
                n7 = root
                while not (is_leaf[n0] & is_leaf[n1] & is_leaf[n2] & is_leaf[n3]
                           & is_leaf[n4] & is_leaf[n5] & is_leaf[n6] & is_leaf[n7]):
                    n0 = _step(n0, b, buf, feature, threshold, child)
                    n1 = _step(n1, b + nf, buf, feature, threshold, child)
                    n2 = _step(n2, b + u(2) * nf, buf, feature, threshold, child)
                    n3 = _step(n3, b + u(3) * nf, buf, feature, threshold, child)
                    n4 = _step(n4, b + u(4) * nf, buf, feature, threshold, child)
                    n5 = _step(n5, b + u(5) * nf, buf, feature, threshold, child)
                    n6 = _step(n6, b + u(6) * nf, buf, feature, threshold, child)
                    n7 = _step(n7, b + u(7) * nf, buf, feature, threshold, child)
                nodes[0] = n0
                nodes[1] = n1
                nodes[2] = n2
                nodes[3] = n3
                nodes[4] = n4
                nodes[5] = n5
                nodes[6] = n6
                nodes[7] = n7
                for j in range(8):
                    row = u(leaf_row[nodes[j]])
                    if column < 0:
                        for c in range(width):
                            acc[i + j, c] += table[row, c]
                    else:
                        acc[i + j, column] += table[row, 0]
        for r in range(m):
            dst = perm[s + r]
            for c in range(acc.shape[1]):
                out[dst, c] = acc[r, c]
