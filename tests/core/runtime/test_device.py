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
    assert describe_device(torch.device("cpu")) == f"CPU ({os.cpu_count()} logical cores)"
    if torch.cuda.is_available():
        text = describe_device(torch.device("cuda", 0))
        assert text.startswith(torch.cuda.get_device_name(0)) and text.endswith("GiB, cuda:0)")
