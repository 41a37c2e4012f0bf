"""`pip install .` gives Dask workers LandLearn's engine without QGIS: the same code (the
engine fingerprint a client compares with its workers), importable on its own."""

import os
import shutil
import subprocess
import sys

import pytest

from paths import ROOT


def test_pip_install_gives_the_engine_and_its_fingerprint(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "__init__.py", "plugin.py", "LICENSE", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "core", src / "core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--target", str(target), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = ("import sys; import landlearn.core.classify.distributed.worker as w; "
             "import landlearn.core.classify.classify_pixels, landlearn.core.classify.collection; "
             "print(w.__file__); print(w.engine_fingerprint()['landlearn']); "
             "print('qgis' in sys.modules)")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(target),
           "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    path, fingerprint, qgis = out.stdout.split()
    assert path.startswith(str(target))
    from landlearn.core.classify.distributed.worker import engine_fingerprint

    assert fingerprint == engine_fingerprint()["landlearn"]
    assert qgis == "False"
