"""Cross-validation groups of polygons that touch: one group.

Grouped by polygon, a field digitised as two polygons of one class (split at a lane, a
parcel boundary) put pixels a metre apart into different folds: each fold trained on the
far side of the line it tested, and the score read neighbours as skill. Polygons of one
class that share a pixel edge (4-neighbours on the label grid) are joined; those of other
classes stay apart (their pixels teach another class). Points work alike: two labelled
cells side by side are one group.
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

__all__ = ["merge_touching", "touching_pairs"]


def touching_pairs(lab, inner: Window, area: Window) -> np.ndarray:
    """(k, 2) ids of same-class polygons that share an edge in ``inner`` or across its right
    and bottom edges (one more column and row, inside ``area``): windows that tile the
    area find every edge once."""
    right = int(area.col_off + area.width)
    bottom = int(area.row_off + area.height)
    c0, r0 = int(inner.col_off), int(inner.row_off)
    ext = Window(c0, r0, min(int(inner.width) + 1, right - c0),
                 min(int(inner.height) + 1, bottom - r0))
    ids, y = lab.read_ids(ext), lab.read(ext)
    pairs = []
    for a, b, ya, yb in ((ids[:, :-1], ids[:, 1:], y[:, :-1], y[:, 1:]),
                         (ids[:-1], ids[1:], y[:-1], y[1:])):
        hit = (a > 0) & (b > 0) & (a != b) & (ya == yb) & (ya > 0)
        if hit.any():
            pairs.append(np.stack([a[hit], b[hit]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    both = np.concatenate(pairs).astype(np.int64)
    return np.unique(np.sort(both, axis=1), axis=0)


def merge_touching(groups: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, int]:
    """``groups`` (polygon ids) relabelled so that ids linked by ``pairs`` share one group:
    the connected components, numbered by their smallest id; and how many polygons joined
    another."""
    if len(pairs) == 0:
        return groups, 0
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids, index = np.unique(np.concatenate([groups, pairs.ravel()]), return_inverse=True)
    g_index, p_index = index[:len(groups)], index[len(groups):].reshape(-1, 2)
    links = coo_matrix((np.ones(len(p_index)), (p_index[:, 0], p_index[:, 1])),
                       shape=(len(ids), len(ids)))
    n, component = connected_components(links, directed=False)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, component, ids)  # each component named by its smallest id
    present = np.unique(g_index)
    joined = len(present) - len(np.unique(component[present]))
    return first[component[g_index]], joined
