"""The SEED parameter's range, one for every algorithm that takes it.

NumPy's generators and scikit-learn refuse negative seeds, and the random forest derives a
seed per fold as SEED x 1000 + fold, which NumPy's legacy generator needs below 2^32: a
negative or very large SEED ended as "a bug in LandLearn" deep inside a fit. Checked
before any work instead, naming SEED.
"""

from __future__ import annotations

from .errors import InputError

__all__ = ["MAX_SEED", "check_seed"]

MAX_SEED = (2 ** 32 - 1) // 1000 - 1  # 4,294,966: SEED x 1000 + 999 < 2^32


def check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise InputError("seed", f"{seed!r} is not a seed LandLearn can use; use a whole "
                         f"number from 0 to {MAX_SEED:,}")
