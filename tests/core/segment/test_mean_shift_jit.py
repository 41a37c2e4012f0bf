"""segment.mean_shift_jit: the compiled CPU pass gives torch's pass bit for bit, and Segment
on the CPU runs without importing torch."""

import subprocess
import sys

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.segment.mean_shift import mean_shift_filter

pytestmark = pytest.mark.skipif(numba_version() is None, reason="numba is not installed")


def test_the_compiled_pass_equals_torchs_on_real_pixels(sample):
    torch = pytest.importorskip("torch")
    import rasterio

    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        x = ds.read((4, 3, 2)).astype(np.float32)[:, :160, :200] / 8.0
    valid = np.ones(x.shape[1:], bool)
    valid[40:60, 50:90] = False  # NoData neither moves nor pulls
    x[:, ~valid] = 0
    for radius, rng in ((3, 12.0), (6, 25.0)):
        ours = mean_shift_filter(x, valid, radius, rng, 3, "compiled")
        theirs = mean_shift_filter(x, valid, radius, rng, 3, torch.device("cpu"))
        np.testing.assert_array_equal(ours, theirs)
        assert not np.array_equal(ours, x)  # it did filter
    np.testing.assert_array_equal(ours[:, ~valid], x[:, ~valid])


def test_one_pass_along_x_by_hand():
    from landlearn.core.segment.mean_shift_jit import pass_rows

    v = np.array([[[0, 1, 10, 11, 30]]], np.float32)
    valid = np.array([[True, True, True, True, False]])
    out = np.empty_like(v)
    pass_rows(v, valid, out, 1, np.float32(4.0), True, 0, 1)
    # 0 and 1 average each other; 10 and 11 likewise; NoData keeps its value
    np.testing.assert_array_equal(out[0, 0], [0.5, 0.5, 10.5, 10.5, 30])


def test_segment_on_the_cpu_never_imports_torch(sample, tmp_path):
    from paths import ROOT

    image = sample / "nc_landsat7" / "landsat_multiband.tif"
    code = (
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from paths import ensure_importable\nensure_importable()\n"
        "from landlearn.core.segment import SegmentConfig, segment\n"
        f"r = segment(SegmentConfig({str(image)!r}, output_segment_ids={str(tmp_path / 'ids.tif')!r},"
        " device='cpu'))\n"
        "assert 'torch' not in sys.modules\nprint(r.segments)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) > 100
