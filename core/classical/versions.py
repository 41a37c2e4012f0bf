"""Which scikit-learn wrote a classical package, and whether this one can read it.

A skops file holds scikit-learn objects as that version laid them out, and the trees files
hold its private node records: a package written by another scikit-learn series may load
into objects that do not work. Packages record the versions that wrote them; loading one
from another series stops with the install command that matches it, instead of a
traceback from deep inside scikit-learn.
"""

from __future__ import annotations

import re

from ..errors import InputError
from ..runtime.deps import install_command
from ..runtime.fast_paths import installed, series

__all__ = ["check_written_with", "written_with"]

PACKAGES = ("scikit-learn", "skops", "numpy")


def written_with() -> dict[str, str | None]:
    """The versions to record in a classical package's .emd."""
    return {p: installed(p) for p in PACKAGES}


def check_written_with(recorded, where: str, parameter: str = "model") -> None:
    """Refuse a package whose scikit-learn series differs from the installed one.

    Packages from before versions were recorded were all written by scikit-learn 1.9.
    """
    wrote = (recorded or {}).get("scikit-learn") if isinstance(recorded, dict) else None
    wrote = wrote if isinstance(wrote, str) else "1.9"
    if not re.fullmatch(r"\d{1,4}\.\d{1,4}[0-9A-Za-z.+]{0,20}", wrote):
        # pasted into the install command below: text from a package must not become a
        # command the user is told to run
        raise InputError(parameter, f"'{where}' records a scikit-learn version that is not a "
                         "version number; the package is damaged or made to deceive: train "
                         "the model again, or ask its author for it")
    have = installed("scikit-learn")
    if series(wrote) != series(have):
        raise InputError(parameter, f"'{where}' was written by scikit-learn {wrote[:20]}, and "
                         f"this Python has {f'scikit-learn {have}' if have else 'no scikit-learn'}; a classifier is read back by "
                         f"the series that wrote it. Install it with: "
                         f"{install_command(f'scikit-learn=={series(wrote)}.*')} "
                         "(then restart QGIS), or train the model again with this "
                         "scikit-learn")
