"""refine.regions: regions of one class across tiles, and the minimum mapping unit."""

import numpy as np
import pytest

from landlearn.core.refine.regions import RegionGraph, label_classes, resolve

pytest.importorskip("scipy")


def test_label_classes_separates_classes_and_follows_connectivity():
    cls = np.array([[1, 0, 1],
                    [0, 1, 0],
                    [2, 2, 0]], np.uint8)
    four, n4 = label_classes(cls, 4)
    eight, n8 = label_classes(cls, 8)
    assert n4 == 4 and n8 == 2  # the diagonal 1s are one region with 8-connectivity
    assert (four[cls == 0] == -1).all() and len(set(eight[cls == 1])) == 1


def _one_tile(cls, connectivity, min_size, prob=None, into="largest"):
    graph = RegionGraph(connectivity, 1 if prob is None else len(prob))
    lab = graph.add_tile(cls, prob, 0, 0, cls.shape[1])
    final = resolve(graph, min_size, into)
    return np.where(lab >= 0, final[np.maximum(lab, 0)], 0)


def test_a_small_region_takes_the_class_of_its_largest_neighbour():
    cls = np.array([[1, 1, 1, 2, 2],
                    [1, 1, 3, 2, 2],
                    [1, 1, 1, 2, 2],
                    [1, 1, 1, 0, 0]], np.uint8)
    out = _one_tile(cls, 4, 2)
    assert out[1, 2] == 1  # 3 touches 1 (11 px) and 2 (6 px): the largest wins
    assert (out[cls != 3] == cls[cls != 3]).all()


def test_a_group_of_small_pieces_keeps_the_class_of_the_group_it_merged_into():
    # 3 x8 | 4 x1 | 1 x6 | 2 x6 in a row, unit 10 px: round 1 joins 3 with 4 (9 px, its
    # heir the 8 px of 3) and 1 with 2 (12 px: equal pieces, the first in raster order, 1);
    # round 2 merges the 9 px into the 12 px group, which keeps its class. Painting each
    # group in its largest original piece's class made the whole row 3.
    cls = np.array([[3] * 8 + [4] + [1] * 6 + [2] * 6], np.uint8)
    out = _one_tile(cls, 4, 10)
    assert (out == 1).all(), out


def test_similar_merges_by_probabilities_and_an_island_in_nodata_stays():
    cls = np.array([[1, 1, 1, 2, 2],
                    [1, 1, 3, 2, 2],
                    [0, 0, 0, 0, 0],
                    [0, 4, 0, 0, 0]], np.uint8)
    prob = np.zeros((4,) + cls.shape, np.float32)
    for k in range(4):
        prob[k][cls == k + 1] = 0.7
    prob[1][1, 2] = 0.3  # the small class-3 pixel looks like class 2 more than class 1
    prob[0][1, 2] = 0.0
    out = _one_tile(cls, 4, 2, prob, into="similar")
    assert out[1, 2] == 2 and out[3, 1] == 4 and (out[2] == 0).all()


def test_more_regions_than_the_memory_budget_is_refused_by_name():
    """A noisy gigapixel map makes some 10^8 regions, tens of GB of tables with no check:
    refused past a budget, naming MIN_REGION_SIZE and what to do."""
    from landlearn.core.errors import InputError

    cls = (np.indices((10, 10)).sum(0) % 2 + 1).astype(np.uint8)  # a checkerboard: 100 regions
    per = 3 * (8 + 8 + 1 + 32)
    RegionGraph(4, 1, budget=100 * per).add_tile(cls, None, 0, 0, 10)
    with pytest.raises(InputError, match="^MIN_REGION_SIZE: the map holds more than 99 regions"):
        RegionGraph(4, 1, budget=99 * per).add_tile(cls, None, 0, 0, 10)
