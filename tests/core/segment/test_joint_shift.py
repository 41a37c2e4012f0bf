"""segment.joint_shift: modes as Comaniciu & Meer define them on small images whose modes
are known, the threshold and iteration limit, and the travel a tile halo must cover."""

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.segment.joint_shift import joint_filter


def _devices():
    out = []
    if numba_version() is not None:
        out.append("compiled")
    try:
        import torch

        out.append(torch.device("cpu"))
    except ImportError:
        pass
    return out


@pytest.fixture(params=_devices(), ids=str)
def device(request):
    return request.param


def test_an_edge_survives_and_noise_goes(device):
    rng = np.random.default_rng(1)
    x = np.where(np.arange(40)[None, None, :] < 20, 50.0, 150.0) + rng.normal(0, 3, (1, 30, 40))
    x = x.astype(np.float32)
    f, disp, travel = joint_filter(x, np.ones((30, 40), bool), 4, 20.0, 0.1, 100, device)
    left, right = f[0, :, :20], f[0, :, 20:]
    assert np.abs(left - 50).max() < 3 and np.abs(right - 150).max() < 3  # each side's mode
    assert f[0, :, :20].std() < x[0, :, :20].std() / 3
    # no point crosses the edge: the range kernel (20) does not reach 100 away
    assert (np.arange(40)[None, :20] + disp[1][:, :20] < 20).all()
    assert (travel >= np.ceil(np.abs(disp).max(0))).all()


def test_iterations_and_threshold_bound_the_search(device):
    ramp = np.tile(np.arange(30, dtype=np.float32), (1, 12, 1))  # a slope: modes drift
    valid = np.ones((12, 30), bool)
    one = joint_filter(ramp, valid, 3, 40.0, 0.0, 1, device)
    many = joint_filter(ramp, valid, 3, 40.0, 0.0, 50, device)
    loose = joint_filter(ramp, valid, 3, 40.0, 10.0, 50, device)
    assert one[2].max() <= 3 and many[2].max() > one[2].max()  # one step moves < hs
    np.testing.assert_array_equal(loose[0], one[0])  # a huge threshold stops after a step


def test_the_log_says_how_the_search_runs_on_a_gpu(monkeypatch):
    """On CUDA the Triton kernel where triton may load, else the torch search and why."""
    torch = pytest.importorskip("torch")
    from landlearn.core.segment import joint_shift

    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: None)
    assert joint_shift.gpu_search(torch.device("cuda")) == "one Triton kernel"
    assert joint_shift.gpu_search(torch.device("cpu")) == "torch"
    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: "inside QGIS desktop ...")
    assert joint_shift.gpu_search(torch.device("cuda:1")) == \
        "torch tensor operations (inside QGIS desktop ...)"
