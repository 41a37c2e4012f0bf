"""What every benchmark needs: the plugin importable as `landlearn`, the data sets, and
writing its section of BENCHMARKS.md between markers (re-runs replace it)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from paths import SAMPLE, SHARED, ensure_importable  # noqa: E402

ensure_importable()

__all__ = ["ROOT", "SAMPLE", "SHARED", "write_section"]


def write_section(path: Path, text: str, key: str) -> None:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    body = path.read_text() if path.exists() else "# LandLearn benchmarks\n\n"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[:body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    path.write_text(body)
