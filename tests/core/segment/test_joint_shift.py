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
    """On CUDA the Triton kernel where triton may load and its kernel builds, else the
    torch search and why."""
    torch = pytest.importorskip("torch")
    from landlearn.core.segment import joint_shift

    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: None)
    monkeypatch.setattr(joint_shift, "_trial", lambda device, bands: None)
    assert joint_shift.gpu_search(torch.device("cuda")) == "one Triton kernel"
    assert joint_shift.gpu_search(torch.device("cpu")) == "torch"
    monkeypatch.setattr(joint_shift, "_trial", lambda device, bands: "no C compiler")
    assert joint_shift.gpu_search(torch.device("cuda")) == "torch tensor operations (no C compiler)"
    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: "inside QGIS desktop ...")
    assert joint_shift.gpu_search(torch.device("cuda:1")) == \
        "torch tensor operations (inside QGIS desktop ...)"


def test_a_gpu_runs_the_kernel_only_where_it_can(monkeypatch):
    """No GPU needed: which search joint_filter calls on a CUDA device, and that a kernel
    that cannot be built here (no C compiler for triton's launcher) is tried once per
    device and band count, then left to the torch search."""
    from types import SimpleNamespace

    from landlearn.core.segment import joint_shift

    calls = []
    monkeypatch.setattr(joint_shift, "_triton", lambda *a: calls.append("triton") or "t")
    monkeypatch.setattr(joint_shift, "_torch", lambda *a: calls.append("torch") or "c")
    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: None)
    cuda = SimpleNamespace(type="cuda")
    x, ok = np.zeros((3, 4, 4), np.float32), np.ones((4, 4), bool)
    monkeypatch.setattr(joint_shift, "_trial", lambda device, bands: None)
    assert joint_filter(x, ok, 2, 10.0, 0.1, 5, cuda) == "t"
    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: "in QGIS desktop")
    assert joint_filter(x, ok, 2, 10.0, 0.1, 5, cuda) == "c"
    assert joint_filter(x, ok, 2, 10.0, 0.1, 5, SimpleNamespace(type="cpu")) == "c"
    assert calls == ["triton", "torch", "torch"]

    # the trial itself: a build that fails is said, and not tried again
    monkeypatch.setattr(joint_shift, "triton_blocked", lambda: None)
    monkeypatch.undo()
    tries = []

    def broken(*a):
        tries.append(a[0].shape)
        raise RuntimeError("Failed to find C compiler. Please specify via CC environment "
                           "variable.\nmore")

    monkeypatch.setattr(joint_shift, "_triton", broken)
    monkeypatch.setattr(joint_shift, "require", lambda name: SimpleNamespace(
        device=lambda d: SimpleNamespace(type="cuda", name=d)))
    joint_shift._trial.cache_clear()
    try:
        why = joint_shift._trial("cuda:0", 3)
        assert why == ("the Triton kernel could not be built here: RuntimeError: Failed to "
                       "find C compiler. Please specify via CC environment variable.")
        assert joint_shift._trial("cuda:0", 3) == why and tries == [(3, 8, 8)]
    finally:
        joint_shift._trial.cache_clear()
