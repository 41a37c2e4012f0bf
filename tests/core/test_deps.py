import re
import sys

import pytest

from landlearn.core import deps
from landlearn.core.device import resolve_device
from landlearn.core.errors import InputError, MissingDependency
from paths import ROOT


def test_pins_match_requirements_txt():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(0)
    for req in deps.PIP_REQUIREMENTS.values():
        assert pins[req.split("==")[0].lower()] == req


def test_missing_package_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(MissingDependency) as err:
        resolve_device("cpu")
    assert err.value.package == "torch"
    assert "-m pip install" in str(err.value) and "torch==2.15.0" in str(err.value)


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
