"""One gate for every use of scikit-learn's and skops' private internals.

LandLearn's classical engine is fast because it reaches past public APIs in a few places:
scikit-learn's tree builder, a fitted SVM's gamma and its pairwise decision helper,
gradient boosting's predictors and loss, the Platt calibrator fitted on given scores,
the node layouts of the trees files, and skops' module search. Each of those places asks
``fast_paths()`` first. It is true only on the scikit-learn and skops series they were
written and tested against (requirements.txt pins them) and unless the user sets
LANDLEARN_NO_FAST_PATHS=1; otherwise each place takes its public-API path, which gives the
same model and the same map, only slower (tested: tests/core/runtime/test_fast_paths.py).
The fast paths are an optimisation, never a requirement.
"""

from __future__ import annotations

import os

__all__ = ["TESTED_SERIES", "fast_paths", "installed", "series", "why_not"]

# the series whose private internals the fast paths were written against
TESTED_SERIES = {"scikit-learn": "1.9", "skops": "0.11"}
_MODULES = {"scikit-learn": "sklearn", "skops": "skops"}


def installed(package: str) -> str | None:
    """The installed version of ``package`` (a distribution name), without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def series(version: str | None) -> str | None:
    """'1.9.1' -> '1.9': the part of a version that private layouts follow."""
    return None if not version else ".".join(version.split(".")[:2])


def why_not(package: str = "scikit-learn") -> str | None:
    """Why the fast paths are off for ``package``, or None when they are on."""
    if os.environ.get("LANDLEARN_NO_FAST_PATHS", "") not in ("", "0"):
        return "LANDLEARN_NO_FAST_PATHS is set"
    have = installed(package)
    if series(have) != TESTED_SERIES[package]:
        return (f"{package} {have} is not the {TESTED_SERIES[package]} series LandLearn's fast "
                "paths were written for")
    return None


def fast_paths(package: str = "scikit-learn") -> bool:
    return why_not(package) is None
