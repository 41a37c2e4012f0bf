"""Choosing where tensors go: DEVICE = auto / cuda / cpu, with honest errors.

Asking for CUDA where there is none is a mistake the user should hear about, never a
silent CPU run that takes hours instead of minutes.
"""

from __future__ import annotations

import os
import sys

from ..errors import InputError
from .deps import is_installed, require

DEVICES = ("auto", "cuda", "cpu")


def may_have_cuda() -> bool:
    """Whether a CUDA GPU could be there, asked without importing torch (2 s): no torch or
    no NVIDIA driver on Linux means no; elsewhere torch is asked."""
    if not is_installed("torch") or _no_nvidia_driver():
        return False
    return resolve_device("auto").type == "cuda"


def _no_nvidia_driver() -> bool:
    """On Linux, no NVIDIA driver means no CUDA GPU (asked before any library loads)."""
    return sys.platform.startswith("linux") and not (os.path.exists("/proc/driver/nvidia")
                                                     or os.path.exists("/dev/nvidia0"))


def cuda_index(name: str) -> int:
    """The GPU of 'cuda' (0) or 'cuda:N'; InputError('device') for anything else."""
    _, _, index = name.strip().lower().partition(":")
    if not index:
        return 0
    if not index.isdigit():
        raise InputError("device", f"'{name}' is not a device; use cuda, cuda:N (N the GPU's "
                         f"number, from 0), or one of {', '.join(DEVICES)}")
    return int(index)


def out_of_memory_advice(shape) -> str:
    """What to do when a batch of (n, bands, h, w) tiles does not fit the device's memory."""
    return (f"the device ran out of memory on a batch of {shape[0]} tiles of "
            f"{shape[2]} x {shape[3]} px; set a smaller BATCH_SIZE or TILE_SIZE, or DEVICE=cpu")


def onnx_may_have_cuda() -> bool:
    """Whether ONNX Runtime could run on a CUDA GPU, asked without torch (a light install
    of onnxruntime-gpu has none: may_have_cuda said no there, and DEVICE=auto ran on the
    CPU beside a GPU)."""
    if not is_installed("onnxruntime") or _no_nvidia_driver():
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def resolve_device(name: str = "auto"):
    """A torch.device for ``name``; raises InputError('device') when it cannot be had."""
    name = (name or "auto").strip().lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise InputError("device", f"'{name}' is not a device; use one of {', '.join(DEVICES)}")
    torch = require("torch")
    if name == "cpu":
        return torch.device("cpu")
    has_cuda = torch.cuda.is_available()
    if name == "auto":
        return torch.device("cuda" if has_cuda else "cpu")
    if not has_cuda:
        built = torch.version.cuda or "no CUDA (a CPU-only build)"
        raise InputError("device", f"CUDA was requested but no usable GPU was found (torch "
                         f"{torch.__version__}, built for {built}); choose DEVICE=auto or cpu, "
                         "or check the NVIDIA driver")
    index = cuda_index(name)
    if index >= torch.cuda.device_count():
        raise InputError("device", f"{name} does not exist; this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB, {device})"
    # the thread count is part of a run's identity: torch's CPU sums differ with it, so the
    # same SEED repeats a training run only at the same count (BENCHMARKS, round 12)
    unused = gpu_left_unused(torch)
    return (f"CPU ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)"
            + (f"; {unused}" if unused else ""))


def gpu_left_unused(torch) -> str | None:
    """Why a GPU this machine seems to have is not used, or None: DEVICE=auto took the CPU
    beside it (a CPU-only torch wheel, PyPI's default on Windows, a driver older than
    torch's CUDA, or a Mac's Apple GPU, which LandLearn does not use), and hours of CPU
    work should not pass unexplained."""
    if torch.cuda.is_available():
        return None
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    if mps is not None and mps.is_available():  # a Mac with Apple silicon
        return ("an Apple GPU (MPS) is present, but LandLearn does not run on it yet (not "
                "tested there): training and Classify Pixels use the CPU")
    import shutil

    if not (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")
            or shutil.which("nvidia-smi")):
        return None
    if not torch.version.cuda:
        return (f"an NVIDIA driver is installed, but torch {torch.__version__} is a CPU-only "
                "build: install a CUDA build of torch (pytorch.org) to use the GPU")
    return (f"an NVIDIA driver is installed, but torch {torch.__version__} (built for CUDA "
            f"{torch.version.cuda}) cannot use it: the driver may be older than that CUDA "
            "needs; update it, or install a torch built for an older CUDA")


def native_bf16(torch, device) -> bool:
    """Whether ``device`` (CUDA) computes in bfloat16 natively (compute capability 8.0 and
    up: Ampere, Ada, Hopper). torch.cuda.is_bf16_supported() also says yes where bfloat16
    is only emulated (a T4, V100 or GTX 10xx: cuDNN has no bfloat16 convolution there, so
    autocast failed or ran slower than float32); there, autocast takes float16 instead."""
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8
