"""The promises every adversarial case checks (see conftest.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

RSS_BOUND = 700 << 20  # bytes above the resident size before the case


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def digest(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file under a folder."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


class Guard:
    """Runs one case and checks the four promises."""

    def __init__(self, folder: Path, sentinel: Path):
        self.folder, self.sentinel = folder, sentinel

    def refused(self, call, parameter: str, match: str = "", keep=()):
        """``call()`` must raise InputError for ``parameter`` (message matching ``match``),
        leaving the files in ``keep`` byte-identical."""
        from landlearn.core.errors import InputError

        before = {str(p): digest(p) for p in keep}
        base = _status("VmRSS")
        measured = _reset_peak()
        with pytest.raises(InputError) as info:
            call()
        peak = _status("VmHWM")
        assert info.value.parameter == parameter.upper(), str(info.value)
        assert str(info.value).startswith(parameter.upper() + ": ")
        if match:
            assert re.search(match, str(info.value)), str(info.value)
        self.after(before)
        if measured and base and peak:
            assert peak - base < RSS_BOUND, f"peak RSS grew by {(peak - base) >> 20} MB"
        return info.value

    def outcome(self, call, parameter: str):
        """Run ``call()``: None when it succeeds, its InputError when it names
        ``parameter``; anything else fails the test. Memory and sentinel are checked either
        way (for the fuzzer, where a mutant may well still be a working package)."""
        from landlearn.core.errors import InputError

        base = _status("VmRSS")
        measured = _reset_peak()
        error = None
        try:
            call()
        except InputError as exc:
            assert exc.parameter == parameter.upper(), f"blamed {exc.parameter}: {exc}"
            error = exc
        peak = _status("VmHWM")
        self.after({})
        if measured and base and peak:
            assert peak - base < RSS_BOUND, f"peak RSS grew by {(peak - base) >> 20} MB"
        return error

    def after(self, before: dict) -> None:
        assert not self.sentinel.exists(), "a gadget in the package ran"
        for path, hashes in before.items():
            assert digest(Path(path)) == hashes, f"{path} changed"
        left = [p for p in self.folder.rglob("*") if ".part" in p.name]
        assert not left, f"temporary files left: {left}"
