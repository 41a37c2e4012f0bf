"""Output destinations: writable folders and atomic writes of small files."""

from __future__ import annotations

import os
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
