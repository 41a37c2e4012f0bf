"""What every adversarial case asserts, and the packages and rasters they start from.

- a clear error: an InputError naming the parameter (``Guard.refused``);
- no code ran: the sentinel file the gadgets would create never appears;
- bounded memory: the peak resident memory of the case (the kernel's high-water mark,
  reset before each case through /proc/self/clear_refs) stays under ``RSS_BOUND`` above
  what the process held before it;
- nothing lost: the files given as inputs, and previous outputs, are byte-identical
  afterwards, and no temporary '.part' file is left anywhere in the case's folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import builder
from checks import Guard


@pytest.fixture
def guard(tmp_path) -> Guard:
    sentinel = tmp_path / "SENTINEL_code_ran"
    return Guard(tmp_path, sentinel)


@pytest.fixture(scope="session")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Valid packages to start from: a small random forest and a U-Net (random weights)."""
    pytest.importorskip("sklearn")
    folder = tmp_path_factory.mktemp("bases")
    out = {"classical": builder.classical_base(folder)}
    try:
        import segmentation_models_pytorch  # noqa: F401
    except ImportError:
        return out  # the deep cases skip, saying why
    # outside the try: a broken import in LandLearn's own deep code must fail, not skip
    out["deep"] = builder.deep_base(folder)
    return out


@pytest.fixture
def image(tmp_path) -> Path:
    """A private copy of the sample image, so 'unchanged' is checked on a file we own."""
    dst = tmp_path / "input" / "landsat.tif"
    dst.parent.mkdir()
    shutil.copy(builder.IMAGE, dst)
    return dst
