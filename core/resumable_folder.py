"""An output folder that a stopped run can take up (RESUME).

Classify Raster Collection's each_item mode writes one map per item into a folder that
appears whole or not at all (staged_folder.StagedFolder). A run of 10^4 items that a job
scheduler terminates at item 7,000 should not start over: with RESUME its folder is built
under a fixed hidden name beside the output, ``.<folder name>.landlearn-resume``, with a
manifest holding the run's key (what decides its files); a run stopped by anything but
the user's Cancel (``keep_on``: a termination, an item that failed) leaves it, and the next
run with the same key takes it up. Any other key, or a run without RESUME, finds
it stale and removes it, as the Dask engine does with its parts (classify.distributed.
staging). The folder is made, manifest included, under a temporary name and renamed, so a
stop at any moment leaves no folder or a whole one; the run's own bookkeeping
(``resume_only``: the manifest, the items' journal) is moved aside while the folder is
published and put back when publishing fails, so the finished work stays for RESUME.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable

from .errors import InputError
from .files import (
    MARKER,
    empty_dir,
    landlearn_manifest,
    temporary_sibling,
    write_text_atomic,
)
from .staged_folder import StagedFolder

__all__ = ["RESUME_MANIFEST", "STARTED_OVER", "ResumableFolder", "resumable_path"]

RESUME_MANIFEST = "landlearn_resume.json"


def resumable_path(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.landlearn-resume")


STARTED_OVER = ("RESUME: the earlier run's unfinished work was made with another model, "
                "other parameters or raster files that changed since; it is discarded and "
                "this run starts over")


class ResumableFolder(StagedFolder):
    """A StagedFolder that, with ``resume``, stages in the fixed folder under ``key`` and
    keeps it after the errors ``keep_on`` accepts (a termination signal); ``resumed``
    says an earlier run's work is there. Without ``resume`` it is a StagedFolder that
    first removes a stale fixed folder."""

    def __init__(self, path: str, parameter: str, key: str, resume: bool,
                 keep_on: Callable[[BaseException], bool], resume_only: tuple[str, ...] = (),
                 **options):
        self.key, self.resume, self.keep_on = key, resume, keep_on
        self.resume_only = (RESUME_MANIFEST, *resume_only)
        self.resumed = False
        # RESUME found an earlier run's folder under another key: discarded (said in the log)
        self.started_over = False
        super().__init__(path, parameter, **options)

    def _make_staging(self) -> str:
        fixed = resumable_path(self.path)
        self._put_back_aside(fixed)
        if os.path.lexists(fixed):
            theirs = landlearn_manifest(os.path.join(fixed, RESUME_MANIFEST))
            # a folder whose publishing was killed after its marker was written
            ours = theirs is not None or empty_dir(fixed) or \
                landlearn_manifest(os.path.join(fixed, MARKER)) is not None
            if not ours:
                if not self.resume:
                    return super()._make_staging()  # not in this run's way
                raise InputError(self.parameter, f"'{fixed}' is in the way of the run's "
                                 "resumable staging folder and LandLearn did not make it; "
                                 "move it away")
            if self.resume and theirs is not None and theirs.get("key") == self.key:
                self.resumed = True
                return fixed
            self.started_over = self.resume and theirs is not None
            stale = temporary_sibling(fixed)  # another run's, or not to be taken up
            try:
                os.replace(fixed, stale)
            except OSError:
                if self.resume:
                    raise
                return super()._make_staging()  # best effort when it is only in the way
            shutil.rmtree(stale, ignore_errors=True)
        if not self.resume:
            return super()._make_staging()
        fresh = temporary_sibling(fixed)
        os.makedirs(fresh)
        self._write_manifest(fresh)
        os.replace(fresh, fixed)
        return fixed

    def _put_back_aside(self, fixed: str) -> None:
        """A publish killed midway (SIGKILL) left the bookkeeping it had moved aside in
        ``.<fixed name>.<hex>.part.aside``: back into the folder it came from (which then
        says whose it is again), or away when that folder is gone (it was published)."""
        folder, name = os.path.split(fixed)
        try:
            entries = os.listdir(folder)
        except OSError:  # a folder one may write but not list: nothing to find there
            return
        for entry in entries:
            if not (entry.startswith(f".{name}.") and entry.endswith(".part.aside")):
                continue
            aside = os.path.join(folder, entry)
            junction = getattr(os.path, "isjunction", lambda _p: False)  # Windows, 3.12+
            if os.path.islink(aside) or junction(aside) or not os.path.isdir(aside):
                continue  # not a folder LandLearn set aside: a link would lead elsewhere
            if os.path.isdir(fixed):
                for item in os.listdir(aside):
                    if not os.path.lexists(os.path.join(fixed, item)):
                        os.replace(os.path.join(aside, item), os.path.join(fixed, item))
            shutil.rmtree(aside, ignore_errors=True)

    def _write_manifest(self, folder: str) -> None:
        write_text_atomic(os.path.join(folder, RESUME_MANIFEST),
                          json.dumps({"generator": "LandLearn", "key": self.key}, indent=1)
                          + "\n", self.parameter)

    def _kept(self, exc: BaseException):
        """With RESUME the finished work stays where RESUME finds it (publish puts its
        bookkeeping back): the error is the cause itself, not a folder moved aside."""
        if not self.resume:
            return super()._kept(exc)
        return exc

    def publish(self) -> str:
        if not self.resume:
            return super().publish()
        self._check_replaceable()  # before the bookkeeping moves: a foreign file stops here
        aside = temporary_sibling(self.staging, ".aside")  # see _put_back_aside
        os.makedirs(aside)
        try:
            # the manifest last: until then the folder still says whose it is
            for name in (*self.resume_only[1:], self.resume_only[0]):
                if os.path.lexists(os.path.join(self.staging, name)):
                    os.replace(os.path.join(self.staging, name), os.path.join(aside, name))
            published = super().publish()
        except BaseException:
            if os.path.isdir(self.staging):  # not published: the work stays for RESUME
                for name in os.listdir(aside):
                    os.replace(os.path.join(aside, name), os.path.join(self.staging, name))
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return published

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.resume or self._done:
            return super().__exit__(exc_type, exc, tb)
        if exc_type is None:
            try:
                self.publish()
            except BaseException:
                self._done = True  # kept (publish put the bookkeeping back)
                raise
            return None
        if self.keep_on(exc):
            self._done = True  # left for RESUME
            return None
        return super().__exit__(exc_type, exc, tb)
