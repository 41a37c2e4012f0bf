"""classical.trees.kernel_jit: the compiled walk over hand-made flat trees, called directly."""

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version

pytestmark = pytest.mark.skipif(numba_version() is None, reason="numba is not installed")


def _trees():
    """Two trees in flat form, as FlatForest lays them out. Tree 0 (nodes 0-2): band 0's
    code <= 0 goes to leaf row 0, else leaf row 1. Tree 1 (nodes 3-7): band 1's code <= 1
    goes to node 4 (band 0's code <= 0: leaf row 2, else 3), else to leaf row 4. Leaves
    point to themselves and compare against the largest code, so they stay put."""
    top = np.iinfo(np.uint16).max
    feature = np.array([0, 0, 0, 1, 0, 0, 0, 0], np.uint32)
    threshold = np.array([0, top, top, 1, 0, top, top, top], np.uint16)
    child = np.empty(16, np.uint32)
    child[0::2] = [1, 1, 2, 4, 5, 5, 6, 7]  # left (code <= threshold)
    child[1::2] = [2, 1, 2, 7, 6, 5, 6, 7]  # right
    is_leaf = np.array([0, 1, 1, 0, 0, 1, 1, 1], np.uint8)
    leaf_row = np.array([0, 0, 1, 0, 0, 2, 3, 4], np.uint32)
    roots = np.array([0, 3], np.uint64)
    return feature, threshold, child, is_leaf, leaf_row, roots


def _expected_leaf(codes):
    """The leaf rows of the two trees above, by hand."""
    t0 = np.where(codes[:, 0] <= 0, 0, 1)
    t1 = np.where(codes[:, 1] <= 1, np.where(codes[:, 0] <= 0, 2, 3), 4)
    return t0, t1


@pytest.mark.parametrize("n", [1, 8, 13])
def test_the_walk_adds_each_trees_leaf_row_into_every_pixels_own_row(n):
    from landlearn.core.classical.trees.kernel_jit import walk

    feature, threshold, child, is_leaf, leaf_row, roots = _trees()
    rng = np.random.default_rng(n)
    codes = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], 1).astype(np.uint16)
    table = np.arange(5 * 3, dtype=np.float64).reshape(5, 3) ** 2  # a row per leaf
    perm = rng.permutation(n).astype(np.int64)
    out = np.zeros((n, 3))
    walk(codes, 2, perm, roots, feature, threshold, child, is_leaf, leaf_row,
         np.array([-1, -1], np.int64), table, out, 2048, 0, n)
    t0, t1 = _expected_leaf(codes)
    np.testing.assert_array_equal(out, table[t0] + table[t1])


def test_one_column_per_tree_and_only_the_rows_asked_for():
    from landlearn.core.classical.trees.kernel_jit import walk

    feature, threshold, child, is_leaf, leaf_row, roots = _trees()
    n = 21
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], 1).astype(np.uint16)
    table = np.array([[1.0], [10.0], [100.0], [1000.0], [10000.0]])  # one number per leaf
    perm = np.arange(n, dtype=np.int64)[::-1].copy()
    out = np.full((n, 2), -1.0)
    # tree 0 feeds column 1, tree 1 column 0; blocks of 8 rows; only perm[5:17] walked
    walk(codes, 2, perm, roots, feature, threshold, child, is_leaf, leaf_row,
         np.array([1, 0], np.int64), table, out, 8, 5, 17)
    t0, t1 = _expected_leaf(codes)
    done = perm[5:17]
    np.testing.assert_array_equal(out[done, 1], table[t0[done], 0])
    np.testing.assert_array_equal(out[done, 0], table[t1[done], 0])
    rest = np.setdiff1d(np.arange(n), done)
    assert np.all(out[rest] == -1.0)  # rows outside the range are not touched
