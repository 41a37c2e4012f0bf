"""`make package` builds an installable zip without tests or sample data."""

import subprocess
import sys
import zipfile

from paths import ROOT


def test_package_zip_holds_the_plugin_only():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py")],
                         capture_output=True, text=True, check=True)
    names = zipfile.ZipFile(out.stdout.strip()).namelist()
    assert "landlearn/metadata.txt" in names and "landlearn/__init__.py" in names
    assert "landlearn/core/geo/raster.py" in names and "landlearn/icons/landlearn.svg" in names
    assert "landlearn/models/land_cover_from_polygons.model3" in names
    assert "landlearn/core/classical/trees/__init__.py" in names  # subpackages, their faces
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("landlearn/tests", "landlearn/sample_data",
                                                  "landlearn/.venv", "landlearn/bench"))]


def test_an_untracked_file_beside_the_code_stops_the_build_by_name():
    """The zip took every file under core/ and the others, so a developer's untracked
    scratch file shipped to users; left out silently, a new module not yet added to git
    would break the plugin instead. The build stops and names it."""
    import shutil

    import pytest

    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True,
            text=True).stdout.strip() != str(ROOT.resolve()):
        pytest.skip("no git checkout here: every file under the plugin's folders is taken")
    scratch = ROOT / "core" / "zz_scratch_not_tracked.py"
    scratch.write_text("print('debug')\n")
    try:
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py")],
                             capture_output=True, text=True)
    finally:
        scratch.unlink()
    assert out.returncode != 0
    assert "untracked files under the plugin's folders: ['core/zz_scratch_not_tracked.py']" \
        in out.stderr
