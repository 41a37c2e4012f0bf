"""segment.joint_shift_jit: the compiled joint mean shift gives the torch search's modes
bit for bit on real pixels, NoData included, with the bands in registers (1-4 bands) and in
arrays (more)."""

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.segment.joint_shift import _torch, joint_filter

pytestmark = pytest.mark.skipif(numba_version() is None, reason="numba is not installed")


@pytest.mark.parametrize("bands, scale", [((4, 3, 2), 8.0), ((8,), 32.0),
                                          ((4, 3, 2, 8, 9, 10), 8.0)])
def test_the_compiled_search_equals_torchs_on_real_pixels(sample, bands, scale):
    torch = pytest.importorskip("torch")
    import rasterio

    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        x = ds.read(list(bands)).astype(np.float32)[:, :90, :110] / scale
    valid = np.ones(x.shape[1:], bool)
    valid[30:40, 20:50] = False
    x[:, ~valid] = 0
    for hs, hr in ((3, 12.0), (5, 25.0)):
        ours = joint_filter(x, valid, hs, hr, 0.1, 100, "compiled")
        theirs = joint_filter(x, valid, hs, hr, 0.1, 100, torch.device("cpu"))
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(ours[0], x) and ours[2].max() > 0  # it moved
    np.testing.assert_array_equal(ours[0][:, ~valid], x[:, ~valid])
    assert (ours[1][:, ~valid] == 0).all() and (ours[2][~valid] == 0).all()


def test_an_infinite_value_takes_no_part(sample):
    """0 x inf is NaN: a pixel with an infinite value must not reach its neighbours' sums
    (each neighbour is weighed by 0 or 1), so it is left out as NoData would be."""
    import rasterio

    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        x = ds.read((4, 3, 2)).astype(np.float32)[:, :40, :40] / 8.0
    valid = np.ones(x.shape[1:], bool)
    clean = joint_filter(x, valid, 3, 12.0, 0.1, 100, "compiled")
    x[1, 20, 20] = np.inf
    hit = joint_filter(x, valid, 3, 12.0, 0.1, 100, "compiled")
    assert np.isfinite(np.delete(hit[0].reshape(3, -1), 20 * 40 + 20, axis=1)).all()
    assert hit[2][20, 20] == 0 and (hit[1][:, 20, 20] == 0).all()
    assert not np.array_equal(hit[0][:, 15:26, 15:26], clean[0][:, 15:26, 15:26])


def test_cuda_torch_search_agrees_with_the_compiled_one(sample):
    """Where a GPU is lent: the torch search on CUDA (where triton may not load, as in QGIS
    desktop) gives the compiled modes (float64 on both; the GPU may fuse multiply-adds, so
    values within 1e-3 and nearly every travel equal)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    import rasterio

    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        x = ds.read((4, 3, 2)).astype(np.float32)[:, :200, :200] / 8.0
    valid = np.ones(x.shape[1:], bool)
    ours = joint_filter(x, valid, 5, 15.0, 0.1, 100, "compiled")
    gpu = _torch(x, valid, 5, 15.0, 0.1, 100, torch.device("cuda"))
    assert np.mean(np.abs(ours[0] - gpu[0]) < 1e-3) > 0.999
    assert np.mean(ours[2] == gpu[2]) > 0.999
