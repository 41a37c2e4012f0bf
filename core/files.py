"""Output destinations: writable folders and atomic writes of small files."""

from __future__ import annotations

import os
import shutil
import uuid

from .errors import InputError


def ensure_writable_folder(path: str, parameter: str) -> None:
    """Create the output's folder if needed; fail naming ``parameter`` if it is not writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise InputError(parameter, f"cannot create the folder '{folder}': {exc}") from exc
    if not os.access(folder, os.W_OK):
        raise InputError(parameter, f"the folder '{folder}' is not writable; choose another output")


def temporary_sibling(path: str, suffix: str = "") -> str:
    """A hidden, unique name beside ``path``, on the same file system (so rename is atomic)."""
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.part{suffix}")


def write_text_atomic(path: str, text: str, parameter: str) -> str:
    ensure_writable_folder(path, parameter)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class StagedFolder:
    """Build an output folder under a hidden temporary name; publish it whole, or not at all.

    A cancelled or failed export must not leave half a training set that a later training
    run would happily read. ``replace`` allows an existing non-empty folder to be swapped
    out, but only once the new one is complete, and only when ``replaceable(path)`` agrees
    (so OVERWRITE cannot be aimed at someone's home folder).
    """

    def __init__(self, path: str, parameter: str, replace: bool = False,
                 replaceable=lambda path: True, what: str = "output"):
        self.path = os.path.abspath(path)
        self.parameter = parameter
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise InputError(parameter, f"'{self.path}' is a file; choose a folder")
        if os.path.isdir(self.path) and os.listdir(self.path):
            if not replace:
                raise InputError(parameter, f"the folder '{self.path}' is not empty; choose an "
                                 "empty or new folder, or set OVERWRITE to replace it")
            if not replaceable(self.path):
                raise InputError(parameter, f"the folder '{self.path}' is not empty and does not "
                                 f"look like {what}, so it is not replaced even with OVERWRITE; "
                                 "choose an empty or new folder")
        ensure_writable_folder(self.path, parameter)
        self.staging = temporary_sibling(self.path)
        os.makedirs(self.staging)
        self._done = False

    def publish(self) -> str:
        old = None
        if os.path.isdir(self.path):
            if os.listdir(self.path):
                old = temporary_sibling(self.path, ".old")
                os.replace(self.path, old)
            else:
                os.rmdir(self.path)
        os.replace(self.staging, self.path)
        self._done = True
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return self.path

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self._done = True

    def __enter__(self) -> StagedFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            self.publish()
        else:
            self.discard()
