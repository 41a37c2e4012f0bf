"""The staging folder of a distributed run: the blocks' part files and the manifest.

It lies beside the output (``.<output name>.landlearn-parts``), so workers that can write
the output's folder can write it too, and it is hidden, so nobody mistakes a part for a
result. Its manifest says which run the parts belong to: a key over everything that
decides their pixels (the model's SHA-256, the parameters, the raster's identity, the
block layout and the engine). RESUME reuses the parts of a run with the same key, left
behind when the client was killed; any other key means the parts are stale and go. A
folder by that name without LandLearn's manifest is someone else's and stops the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time

from ...errors import InputError
from ...files import write_text_atomic
from .worker import MANIFEST, part_paths

# parameters that change how the work is run, not a pixel of it
_NOT_IN_KEY = ("output", "output_confidence", "output_probabilities", "dask_scheduler",
               "parallel_processing_factor", "retries", "resume", "max_output_gpx")


def staging_path(output: str) -> str:
    folder, name = os.path.split(os.path.abspath(output))
    return os.path.join(folder, f".{name}.landlearn-parts")


def _identity(path: str | None) -> list | None:
    if not path:
        return None
    if path.startswith("/vsi"):
        return [path]
    st = os.stat(path)
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def run_key(config, model_sha256: str, engine: str, blocks: list, tile: int, pad: int) -> str:
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_IN_KEY}
    fields["wants"] = [bool(getattr(config, k)) for k in
                       ("output_confidence", "output_probabilities")]
    fields["model"] = model_sha256
    fields["input_raster"] = _identity(config.input_raster)
    fields["segmented_raster"] = _identity(config.segmented_raster)
    fields["engine"] = engine
    fields["layout"] = [tile, pad, [b.window for b in blocks], [b.work for b in blocks]]
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Staging:
    """Create (or, with ``resume``, reopen) the staging folder for a run with ``key``."""

    def __init__(self, output: str, key: str, resume: bool):
        self.path = staging_path(output)
        self.key = key
        manifest = os.path.join(self.path, MANIFEST)
        self.resumed = False
        if os.path.lexists(self.path):
            theirs = None
            try:
                with open(manifest, encoding="utf-8") as fh:
                    theirs = json.load(fh)
            except (OSError, ValueError):
                pass
            if not isinstance(theirs, dict) or theirs.get("generator") != "LandLearn":
                raise InputError("output", f"'{self.path}' is in the way of the run's staging "
                                 "folder and LandLearn did not make it; move it away")
            if resume and theirs.get("key") == key:
                self.resumed = True
            else:
                shutil.rmtree(self.path)
        if not self.resumed:
            try:
                os.makedirs(self.path)
            except OSError as exc:
                raise InputError("output", f"cannot create the staging folder '{self.path}' "
                                 f"beside the output: {exc}") from None
            write_text_atomic(manifest, json.dumps({"generator": "LandLearn", "key": key},
                                                   indent=1) + "\n", "output")
        self.probe = manifest  # every worker must see it

    def finished(self, blocks: list, config) -> set[int]:
        """Blocks whose parts are all there (each written whole by the atomic writer)."""
        if not self.resumed:
            return set()
        done = set()
        for b in blocks:
            paths = [p for p in part_paths(self.path, b.index, config).values() if p]
            if all(os.path.isfile(p) for p in paths):
                done.add(b.index)
        return done

    def remove(self) -> None:
        # a block still running on a worker may add a temporary file while the tree goes;
        # it stops on its own once the manifest is gone (worker._check_staging)
        for _ in range(20):
            shutil.rmtree(self.path, ignore_errors=True)
            if not os.path.lexists(self.path):
                return
            time.sleep(0.1)
