"""`make package`: dist/landlearn-<version>.zip for QGIS's "Install from ZIP".

The zip holds one folder, landlearn/, with the plugin code, icons, metadata, licence and
README; no tests, sample data, benchmarks, scripts or virtual environment.
"""

from __future__ import annotations

import configparser
import os
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIRS = ("core", "processing_provider", "ui", "icons", "models")
INCLUDE_FILES = ("__init__.py", "plugin.py", "metadata.txt", "LICENSE", "README.md", "SECURITY.md",
                 "requirements.txt")


def _git(*args: str) -> bytes | None:
    import subprocess

    try:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _tracked() -> set[str] | None:
    """The files git tracks (staged ones included) when this folder is a checkout's top
    (None elsewhere: an unpacked source zip, or a plugin folder inside another repository,
    where every file is taken). An untracked file under the plugin's folders stops the
    build by name: left out, a new module would break the plugin; taken, a scratch file
    would ship."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or os.path.realpath(top.decode().strip()) != os.path.realpath(ROOT):
        return None
    untracked = [p for p in (_git("ls-files", "--others", "--exclude-standard", "-z",
                                  *INCLUDE_DIRS) or b"").decode().split("\0") if p]
    if untracked:
        raise SystemExit(f"make package: untracked files under the plugin's folders: "
                         f"{untracked[:10]}; git add them (new code) or remove them "
                         "(scratch files), then build again")
    return {p for p in (_git("ls-files", "-z") or b"").decode().split("\0") if p}


def main() -> str:
    meta = configparser.ConfigParser()
    meta.read(os.path.join(ROOT, "metadata.txt"))
    version = meta["general"]["version"]
    os.makedirs(os.path.join(ROOT, "dist"), exist_ok=True)
    target = os.path.join(ROOT, "dist", f"landlearn-{version}.zip")
    tmp = target + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in INCLUDE_FILES:
            zf.write(os.path.join(ROOT, name), f"landlearn/{name}")
        tracked = _tracked()
        for folder in INCLUDE_DIRS:
            for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, folder)):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    rel = os.path.relpath(full, ROOT)
                    if fn.endswith((".pyc", ".part.tif")) or (
                            tracked is not None and rel.replace(os.sep, "/") not in tracked):
                        continue  # a scratch file beside the code is not the plugin's
                    zf.write(full, "landlearn/" + rel)
    os.replace(tmp, target)
    print(target)
    return target


if __name__ == "__main__":
    main()
