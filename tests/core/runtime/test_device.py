"""DEVICE = auto / cuda / cpu: the device asked for, or an error that says why not."""

import os
import sys

import pytest

from landlearn.core.errors import InputError, MissingDependency
from landlearn.core.runtime.device import describe_device, resolve_device


def test_device_choices():
    pytest.importorskip("torch")
    assert resolve_device("cpu").type == "cpu"
    import torch

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="DEVICE: CUDA was requested but no usable GPU"):
            resolve_device("cuda")
    with pytest.raises(InputError, match="DEVICE: 'tpu' is not a device"):
        resolve_device("tpu")


def test_names_are_trimmed_and_case_blind_and_empty_means_auto():
    torch = pytest.importorskip("torch")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("").type == resolve_device(None).type == expected


def test_a_cuda_index_is_checked():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        assert resolve_device(f"cuda:{count - 1}") == torch.device("cuda", count - 1)
        with pytest.raises(InputError, match=f"^DEVICE: cuda:{count} does not exist; this machine "
                                             f"has {count} CUDA device"):
            resolve_device(f"cuda:{count}")
    else:
        with pytest.raises(InputError, match="^DEVICE: CUDA was requested but no usable GPU"):
            resolve_device("cuda:1")


def test_a_bad_name_is_refused_before_torch_is_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InputError, match="^DEVICE: 'gpu' is not a device; use one of auto, cuda, cpu"):
        resolve_device("gpu")
    with pytest.raises(MissingDependency):
        resolve_device("auto")


def test_describe_the_cpu():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    assert describe_device(torch.device("cpu")).startswith(
        f"CPU ({os.cpu_count()} logical cores, {threads} torch threads)")
    if torch.cuda.is_available():
        text = describe_device(torch.device("cuda", 0))
        assert text.startswith(torch.cuda.get_device_name(0)) and text.endswith("GiB, cuda:0)")


def test_may_have_cuda_asks_without_importing_torch_where_it_can(monkeypatch):
    import os
    import sys

    from landlearn.core.runtime import device

    monkeypatch.setattr(device, "is_installed", lambda name: False)
    assert device.may_have_cuda() is False  # no torch: no CUDA, nothing imported
    monkeypatch.setattr(device, "is_installed", lambda name: True)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    called = []
    monkeypatch.setattr(device, "resolve_device", lambda name: called.append(name))
    assert device.may_have_cuda() is False and called == []  # no NVIDIA driver: torch not asked


def test_a_gpu_that_auto_leaves_unused_is_explained(monkeypatch):
    """DEVICE=auto beside an NVIDIA GPU torch cannot use ran on the CPU, and the log said
    'CPU' alone: a CPU-only torch wheel, or a driver older than torch's CUDA, is said now."""
    from types import SimpleNamespace

    from landlearn.core.runtime import device

    def fake(cuda_build, available=False):
        return SimpleNamespace(__version__="2.15.0", version=SimpleNamespace(cuda=cuda_build),
                               cuda=SimpleNamespace(is_available=lambda: available))

    real_exists = os.path.exists
    monkeypatch.setattr(device.os.path, "exists",
                        lambda p: p == "/proc/driver/nvidia" or real_exists(p))
    assert "torch 2.15.0 is a CPU-only build: install a CUDA build" in \
        device.gpu_left_unused(fake(None))
    assert "built for CUDA 13.2) cannot use it: the driver may be older" in \
        device.gpu_left_unused(fake("13.2"))
    assert device.gpu_left_unused(fake("13.2", available=True)) is None
    monkeypatch.setattr(device.os.path, "exists", lambda p: False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert device.gpu_left_unused(fake(None)) is None  # no NVIDIA driver: nothing to say
    mac = fake(None)
    mac.backends = SimpleNamespace(mps=SimpleNamespace(is_available=lambda: True))
    assert "an Apple GPU (MPS) is present, but LandLearn does not run on it" in \
        device.gpu_left_unused(mac)
    mac.backends.mps.is_available = lambda: False
    assert device.gpu_left_unused(mac) is None


def test_bfloat16_autocast_only_where_the_gpu_computes_it():
    """torch.cuda.is_bf16_supported() says yes on a T4 or V100 too (bfloat16 emulated;
    cuDNN has no bfloat16 convolution below compute capability 8): autocast takes float16
    there (review 94)."""
    from types import SimpleNamespace

    from landlearn.core.runtime.device import native_bf16

    def gpu(major):
        return SimpleNamespace(cuda=SimpleNamespace(
            get_device_capability=lambda device: (major, 0),
            is_bf16_supported=lambda including_emulation=True: True))

    assert [native_bf16(gpu(m), "cuda:0") for m in (6, 7, 8, 9)] == [False, False, True, True]
