"""Where the repo, the plugin's import path and the data sets are (importable by tests)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPATH = ROOT / ".build" / "pythonpath"
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "sample_data"
# the throwaway QGIS profile scripts/setup.sh made (another one inside a QGIS root)
PROFILE = Path(os.environ.get("LANDLEARN_PROFILE") or ROOT / ".qgis-profile")


def ensure_importable() -> None:
    """Make the repo root (the plugin folder) importable as the package ``landlearn``."""
    link = PYPATH / "landlearn"
    if not link.exists():
        PYPATH.mkdir(parents=True, exist_ok=True)
        os.symlink("../..", link)
    if str(PYPATH) not in sys.path:
        sys.path.insert(0, str(PYPATH))
