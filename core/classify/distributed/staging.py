"""The staging folder of a distributed run: the blocks' part files and the manifest.

It lies beside the output (``.<output name>.landlearn-parts``), so workers that can write
the output's folder can write it too, and it is hidden, so nobody mistakes a part for a
result. Its manifest says which run the parts belong to: a key over everything that
decides their pixels (the model's SHA-256, the parameters, the raster's identity, the
block layout and the engine). RESUME reuses the parts of a run with the same key, left
behind when the client was killed; any other key means the parts are stale and go. A
folder by that name without LandLearn's manifest is someone else's and stops the run,
unless it is empty (what a block stopped while it started can leave)."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import time
import uuid

import rasterio

from ...errors import InputError
from ...files import empty_dir, landlearn_manifest, write_text_atomic
from .worker import MANIFEST, part_paths

# parameters that change how the work is run, not a pixel of it
_NOT_IN_KEY = ("output", "output_confidence", "output_probabilities", "dask_scheduler",
               "parallel_processing_factor", "retries", "resume", "max_output_gpx")


def staging_path(output: str) -> str:
    folder, name = os.path.split(os.path.abspath(output))
    return os.path.join(folder, f".{name}.landlearn-parts")


def raster_identity(path: str | None, files: list[str] | None = None) -> list | None:
    """What tells that a raster's pixels are those of an earlier run: every file GDAL reads
    for it (the file, a .msk mask, a VRT's sources, nested VRTs' too) by real path, size
    and modification time, and a VRT by its text, not its name (Classify Raster
    Collection's mosaic gets a new name each run). Overviews (.ovr) count: GDAL reads them
    when a run resamples to a coarser CELL_SIZE. Not its .aux.xml: QGIS writes statistics
    there when the raster is only looked at (for most formats it holds no pixel setting;
    README, RESUME). A GDAL virtual path (/vsis3/...) or connection string (GPKG:...)
    counts by its name only: an object replaced under the same name is not noticed.
    ``files``: raster_files(path), when the caller has it already."""
    if not path:
        return None
    out = []
    for f in files if files is not None else raster_files(path):
        if f.startswith("/vsi") or not os.path.isfile(f):
            out.append([f])
        elif f.lower().endswith(".vrt"):
            with open(f, "rb") as fh:
                text = hashlib.sha256(fh.read()).hexdigest()
            # the run's own VRT by its text alone; a nested one by its path too
            out.append(["vrt", text] if f == path else [os.path.realpath(f), "vrt", text])
        else:
            st = os.stat(f)
            out.append([os.path.realpath(f), st.st_size, st.st_mtime_ns])
    return out


def raster_files(path: str, depth: int = 4) -> list[str]:
    """The files whose pixels a raster is made of: ``path`` first, then what GDAL lists
    for it (a .msk mask, overviews, a VRT's sources, and theirs down to ``depth`` nested
    VRTs), without .aux.xml (see raster_identity). A GDAL virtual path is itself."""
    if path.startswith("/vsi"):
        return [path]
    with rasterio.open(path) as ds:
        listed = list(ds.files)
    own = os.path.realpath(path)
    found = [path]
    for f in listed:
        if f.lower().endswith(".aux.xml") or (
                not f.startswith("/vsi") and os.path.realpath(f) == own):
            continue
        if depth > 0 and f.lower().endswith(".vrt") and os.path.isfile(f):
            found += raster_files(f, depth - 1)
        else:
            found.append(f)
    return list(dict.fromkeys(found))


def map_fields(config) -> dict:
    """The classify settings that decide a map's pixels (not where it goes, nor how the
    work is run)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_IN_KEY}


def run_key(config, model_sha256: str, engine: str, blocks: list, tile: int, pad: int,
            files: dict[str, list[str]] | None = None) -> str:
    """``files``: the rasters' raster_files by parameter, when the caller has them."""
    files = files or {}
    fields = map_fields(config)
    fields["wants"] = [bool(getattr(config, k)) for k in
                       ("output_confidence", "output_probabilities")]
    fields["model"] = model_sha256
    for name in ("input_raster", "segmented_raster"):
        fields[name] = raster_identity(getattr(config, name), files.get(name))
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
        # RESUME found an earlier run's folder with another key (model, parameters or
        # raster files changed): its blocks are discarded, which the log must say
        self.started_over = False
        if empty_dir(self.path):
            # what a block that was stopped while it started can leave (a worker's writer
            # made the folder again); nothing in it to lose
            os.rmdir(self.path)
        if os.path.lexists(self.path):
            theirs = landlearn_manifest(manifest)
            if theirs is None:
                raise InputError("output", f"'{self.path}' is in the way of the run's staging "
                                 "folder and LandLearn did not make it; move it away")
            if resume and theirs.get("key") == key:
                self.resumed = True
            else:
                self.started_over = resume
                _remove_tree(self.path)
                if os.path.lexists(self.path):
                    raise InputError("output", f"the stale staging folder '{self.path}' cannot "
                                     "be removed (a file in it is held open?); remove it")
        for old in glob.glob(glob.escape(self.path) + ".removed-*"):
            shutil.rmtree(old, ignore_errors=True)  # what an earlier removal left
        if not self.resumed:
            try:
                os.makedirs(self.path)
            except OSError as exc:
                raise InputError("output", f"cannot create the staging folder '{self.path}' "
                                 f"beside the output: {exc}") from None
            write_text_atomic(manifest, json.dumps({"generator": "LandLearn", "key": key},
                                                   indent=1) + "\n", "output")
        self.probe = manifest  # every worker must see it

    def recorded_engine(self) -> str | None:
        """What the run's blocks were computed on (cluster.preflight's engine), as recorded
        in the manifest; None before any was."""
        got = landlearn_manifest(os.path.join(self.path, MANIFEST)) or {}
        engine = got.get("engine")
        return engine if isinstance(engine, str) else None

    def engine_differs(self, engine: str | None) -> bool:
        recorded = self.recorded_engine()
        return recorded is not None and engine is not None and recorded != engine

    def record_engine(self, engine: str | None) -> None:
        if engine is None or engine == self.recorded_engine():
            return
        write_text_atomic(os.path.join(self.path, MANIFEST),
                          json.dumps({"generator": "LandLearn", "key": self.key,
                                      "engine": engine}, indent=1) + "\n", "output")

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
        """Remove the folder while it is this run's: a second run into the same OUTPUT
        (another QGIS, a job requeued while the first still ran) replaced it with its own,
        which this run's clean-up deleted, stopping that run too."""
        theirs = landlearn_manifest(os.path.join(self.path, MANIFEST))
        if theirs is not None and theirs.get("key") != self.key:
            return
        _remove_tree(self.path)


def _remove_tree(path: str) -> None:
    """Moved aside under another name first, then deleted: a tree deleted in place could
    lose its manifest and keep a part some file system held open (NFS's .nfs files),
    and a folder by the staging name without the manifest stops every later run. A
    block still running on a worker stops on its own once the manifest is gone
    (worker._check_staging)."""
    gone = f"{path}.removed-{uuid.uuid4().hex[:8]}"
    try:
        os.replace(path, gone)
    except OSError:
        gone = path
    for _ in range(20):
        shutil.rmtree(gone, ignore_errors=True)
        if not os.path.lexists(gone):
            return
        time.sleep(0.1)
