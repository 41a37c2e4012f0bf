"""Which chips an epoch trains on.

"uniform": every training chip once per epoch, in a new order (what training always did).
"balanced": chips holding rare classes are repeated (repeat-factor sampling, Gupta et al.,
LVIS 2019): a class found in a share f of the training chips gets the factor
max(1, sqrt(t / f)), a chip the largest factor of the classes it holds, and an epoch holds
every chip floor(factor) times plus a draw for the fractions, so that its length is fixed
(the learning-rate schedule counts steps). Repeating chips, rather than weighting the
loss, leaves the loss and its calibration as they are: the weights that inverse-frequency
loss weighting puts on rare pixels cost nc_landsat7 0.1 OA (BENCHMARKS.md, ablations).

t adapts to the class count: 1 / classes, so a class in fewer than its even share of the
chips is repeated; with 7 classes, one in 3% of the chips is repeated about 2.2 times.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLING", "epoch_length", "epoch_order", "repeat_factors", "sampling_factors"]

SAMPLING = ("uniform", "balanced")


def _shares(per_chip: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(chips holding each class, share of the chips holding each class, threshold t)."""
    present = per_chip > 0
    return present, present.mean(axis=0), 1.0 / per_chip.shape[1]


def repeat_factors(per_chip: np.ndarray) -> np.ndarray:
    """(chips, classes) labelled pixel counts -> each chip's repeat factor (>= 1)."""
    present, share, t = _shares(per_chip)
    by_class = np.where(share > 0, np.maximum(1.0, np.sqrt(t / np.maximum(share, 1e-12))), 1.0)
    return np.where(present, by_class, 1.0).max(axis=1, initial=1.0)


def _draws(factors: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(whole repeats per chip, fractional draws to add, the fractions): round(sum) chips
    in all, or fewer where too few chips have a fraction to draw."""
    whole = np.floor(factors).astype(int)
    frac = factors - whole
    extra = int(round(float(factors.sum()))) - int(whole.sum())
    return whole, max(0, min(extra, int((frac > 0).sum()))), frac


def epoch_order(train: list[int], factors: np.ndarray | None, rng: np.random.Generator
                ) -> np.ndarray:
    """One epoch's chips, shuffled: ``train`` once each when ``factors`` is None, else each
    chip floor(factor) times plus the fractions drawn without replacement (``_draws``)."""
    chips = np.asarray(train)
    if factors is None:
        return rng.permutation(chips)
    whole, extra, frac = _draws(factors)
    if extra:
        whole[rng.choice(len(chips), size=extra, replace=False, p=frac / frac.sum())] += 1
    return rng.permutation(np.repeat(chips, whole))


def epoch_length(train: list[int], factors: np.ndarray | None) -> int:
    """Chips per epoch for ``epoch_order`` (the schedule's step count)."""
    if factors is None:
        return len(train)
    whole, extra, _ = _draws(factors)
    return int(whole.sum()) + extra


def sampling_factors(mode: str, per_chip: np.ndarray, names: list[str]
                     ) -> tuple[np.ndarray | None, str]:
    """CHIP_SAMPLING's repeat factors (None: uniform) and a line for the log saying what
    they repeat ("" when uniform)."""
    if mode != "balanced":
        return None, ""
    factors = repeat_factors(per_chip)
    _, share, t = _shares(per_chip)
    rare = [f"{names[c]} ({share[c]:.0%} of chips)" for c in np.argsort(share, kind="stable")
            if 0 < share[c] < t]
    return factors, (f"class-balanced chips: {int(round(factors.sum()))} chip draws per epoch "
                     f"for {len(factors)} training chips, repeating those of "
                     + (", ".join(rare) if rare else "no class (none is rare)"))
