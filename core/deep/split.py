"""Train/validation split by spatial block, never by random overlapping chips.

Chips exported with a stride below the tile size overlap their neighbours; a random split
puts the same pixels on both sides and the validation score measures memory, not skill.
Whole blocks go to validation, and training chips that still overlap a validation chip are
dropped, so no pixel is seen on both sides.

VALIDATION_PERCENT is a share of the labelled pixels (label_cells.py counts each pixel
once however many chips cover it), not of the chips. Counted in chips, 10% held out 18-69%
of the labelled pixels on the benchmark sets (nc_landsat7 30-36%, slovenia_s2 27-69%):
with a quarter-chip stride a block's chips cover 1.75 x 1.75 tiles, so a tenth of the
chips covered about a third of the labels (BENCHMARKS.md, Map quality, round 9).

On small sets a tenth of the labels is one or two places, and which classes they hold
decides what early stopping and the temperature see: a validation area without a rare class
cannot choose the epoch that learnt it. So, given the labels by class, the split is the one
of several seeded draws whose held-out area holds each class nearest the percentage asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..chips.training_data import Chip
from ..errors import InputError
from .label_cells import LabelCells, chip_cells

__all__ = ["CANDIDATES", "OVERSHOOT", "Split", "spatial_split"]

# a block that would take the held-out share beyond this many times the target is passed
# over while others fit (a block's footprint alone held 27% of slovenia_s2's labels)
OVERSHOOT = 1.5
# splits drawn from the seed when the cells are counted by class; the one whose held-out
# classes come nearest the percentage of each class's pixels (and training the rest) is kept
CANDIDATES = 32
_NONE = (0.0, None)


@dataclass
class Split:
    train: list[int]
    valid: list[int]
    dropped: list[int]
    # labelled pixels held out / in all chips (each counted once); chips when not counted
    held_out: float = 0.0
    total: float = 0.0
    # per class, when counted by class: labelled pixels held out / in all chips
    held_classes: np.ndarray | None = None
    class_totals: np.ndarray | None = None
    # turned copies (ROTATION_ANGLE) in held-out blocks: neither trained on nor scored (their
    # ground is their chip's again; scored, a held-out pixel counted once per copy)
    turned: list[int] = field(default_factory=list)

    def unvalidated(self) -> list[int]:
        """Indices of classes with labelled pixels of which no held-out block holds any:
        early stopping and the report cannot measure them ([] when not counted by class).
        Exact for chips exported on a grid; off it, as label_cells estimates them."""
        if self.held_classes is None:
            return []
        return [int(k) for k in np.flatnonzero((self.class_totals > 0) & (self.held_classes == 0))]


def _hold_out(order, blocks, cells: LabelCells, target: float):
    """Blocks held out in ``order`` until they hold ``target`` labelled pixels: the chips
    held out and, per cell held, (labelled pixels, pixels per class or None)."""
    held: dict[int, tuple[float, np.ndarray | None]] = {}
    valid: list[int] = []
    held_sum = 0.0

    def raised(block) -> dict[int, tuple[float, np.ndarray | None]]:
        """The cells whose held-out count ``block`` would raise, at their new counts."""
        new: dict[int, tuple[float, np.ndarray | None]] = {}
        for i in blocks[block]:
            by_class = cells.classes[i] if cells.classes is not None else None
            for j, (key, n) in enumerate(cells.of(i)):
                if n > max(held.get(key, _NONE)[0], new.get(key, _NONE)[0]):
                    new[key] = (n, None if by_class is None else by_class[j])
        return new

    def gain(block) -> float:
        return sum(n - held.get(key, _NONE)[0] for key, (n, _) in raised(block).items())

    def take(block) -> None:
        nonlocal held_sum
        new = raised(block)
        held_sum += sum(n - held.get(key, _NONE)[0] for key, (n, _) in new.items())
        held.update(new)
        valid.extend(blocks[block])

    left = []
    for block in order:  # blocks that fit, in the seed's order
        if held_sum >= target:
            break
        g = gain(block)
        if g <= 0:
            continue
        if held_sum + g <= OVERSHOOT * target:
            take(block)
        else:
            left.append(block)
    # short of the target (the blocks left are large): the one that brings the share
    # closest to it, by ratio, while that is closer than going without it; with nothing
    # held yet, always (the one that overshoots least). By ratio, because 4 labelled pixels
    # where 820 were asked are no validation at all, and 4,100 are too many but usable.
    while held_sum < target and left:
        gains = [gain(b) for b in left]
        k = int(np.argmin([abs(math.log(max(held_sum + g, 1e-9) / target)) for g in gains]))
        if valid and abs(math.log(max(held_sum + gains[k], 1e-9) / target)) >= \
                abs(math.log(held_sum / target)):
            break
        take(left.pop(k))
    return valid, held


def _mix_error(held, totals: np.ndarray, share: float) -> float:
    """How far each class's held-out pixels are from ``share`` of its labelled pixels, and
    its training pixels from the rest: the mean over classes of |log((held + 1) / (asked +
    1))| + |log((left + 1) / (rest + 1))|, every class weighing the same (as in macro F1).
    Leaving a class of n labelled pixels out of validation costs about log(share * n + 1),
    holding all of it out (nothing left to learn it from) log((1 - share) * n + 1): neither
    is done lightly, and small classes count little. Training pixels are counted as the
    labels less those held out; the chips dropped for overlapping the held-out ones are not
    subtracted (they are found per draw only for the draw kept)."""
    got = np.zeros_like(totals)
    for _, by_class in held.values():
        got += by_class
    t, got = totals[totals > 0], got[totals > 0]
    return float((np.abs(np.log((got + 1) / (share * t + 1)))
                  + np.abs(np.log((t - got + 1) / ((1 - share) * t + 1)))).mean())


def _train_chips(chips: list[Chip], valid: list[int], check: Callable[[], None],
                 held: set[int] | None = None) -> tuple[list[int], list[int]]:
    """(training chips, chips dropped for overlapping a validation chip of their region: their
    folder, or every folder in its CRS, which share one grid of blocks). Compared as arrays,
    a slab of chips at a time: a region of all the folders in a CRS made the pairwise
    loop grow with the square of the folders (10 dates of 5,000 chips: 250 million tests).
    ``held``: every chip of the held-out blocks (``valid`` and the turned copies left out
    of it), none trained on; only ``valid``'s ground drops neighbours (a copy's footprint,
    the box round its corners, reaches past its chip: 1.4 x at 45 degrees)."""
    valid_set = set(valid) if held is None else held
    by_region: dict[int, list] = {}
    for i in valid:
        if chips[i].ground is not None:
            by_region.setdefault(chips[i].block_key[0], []).append(chips[i].ground)
    drop = np.zeros(len(chips), dtype=bool)
    for region, held in by_region.items():
        v = np.asarray(held, dtype=np.float64)
        mine = np.array([i for i, c in enumerate(chips) if i not in valid_set
                         and c.ground is not None and c.block_key[0] == region], dtype=np.int64)
        step = max(1, 4_000_000 // len(v))
        for k in range(0, len(mine), step):
            check()
            part = mine[k:k + step]
            b = np.asarray([chips[i].ground for i in part], dtype=np.float64)
            # an overlap is more than float noise: neighbours that share an edge (STRIDE =
            # tile, or chips placed by their own georeferencing) differ there by a unit in
            # the last place, and were dropped around every held-out block. A ten-thousandth
            # of a chip is under a pixel of any chip up to 10,000 px.
            tx = ((b[:, 2] - b[:, 0]) * 1e-4)[:, None]
            ty = ((b[:, 3] - b[:, 1]) * 1e-4)[:, None]
            hit = ((b[:, None, 0] < v[None, :, 2] - tx) & (v[None, :, 0] < b[:, None, 2] - tx)
                   & (b[:, None, 1] < v[None, :, 3] - ty) & (v[None, :, 1] < b[:, None, 3] - ty))
            drop[part[hit.any(axis=1)]] = True
    train = [i for i in range(len(chips)) if i not in valid_set and not drop[i]]
    return train, [int(i) for i in np.flatnonzero(drop)]


def spatial_split(chips: list[Chip], percent: float, seed: int = 0,
                  cells: LabelCells | None = None,
                  check: Callable[[], None] = lambda: None) -> Split:
    """Hold out whole blocks, in an order drawn from ``seed``, until they hold ``percent``
    of the labelled pixels (``cells``, from label_cells.label_cells) or, without ``cells``,
    of the chips. A block that would take the share beyond OVERSHOOT x ``percent`` is
    passed over; if the blocks that fit fall short, passed-over blocks are added while one
    brings the share closer to ``percent`` by ratio (so when no block fits, the one that
    overshoots least is held out, whatever the seed). Blocks without labelled pixels are
    never held out (they would validate nothing and drop their neighbours). With ``cells``
    counted by class, CANDIDATES such orders are drawn from ``seed`` and the split whose
    held-out pixels come nearest ``percent`` of each class's, and its training pixels
    nearest the rest (``_mix_error``), is kept, unless it leaves no training chip (then
    the next nearest). The
    share reached is in ``held_out`` / ``total``."""
    if not 0 <= percent < 100:
        raise InputError("validation_percent", f"{percent} is not a percentage below 100")
    everything = list(range(len(chips)))
    if percent == 0:
        return Split(everything, [], [])
    blocks: dict[tuple[int, int], list[int]] = {}
    for i, chip in enumerate(chips):
        blocks.setdefault(chip.block_key, []).append(i)
    if len(blocks) < 2:
        raise InputError("validation_percent", "all chips lie in one spatial block, so no area "
                         "can be held out for validation; export a larger area or smaller chips "
                         "(Export Training Data's TILE_SIZE_X/Y = 0 fits the chip size to the "
                         "labelled area), or set VALIDATION_PERCENT to 0")
    cells = cells or chip_cells(len(chips))
    total = cells.total()
    if total == 0:
        raise InputError("ignore_classes", "the training chips hold no labelled pixels: every "
                         "label is NoData, an ignored class or a value the chips' classes do "
                         "not declare; check IGNORE_CLASSES and the labels")
    keys = sorted(blocks)
    rng = np.random.default_rng(seed)
    totals = cells.class_totals()  # None when not counted by class: one draw
    draws = []
    for k in range(CANDIDATES if totals is not None else 1):
        check()
        order = [keys[j] for j in rng.permutation(len(keys))]
        valid, held = _hold_out(order, blocks, cells, total * percent / 100)
        draws.append((0.0 if totals is None else _mix_error(held, totals, percent / 100), k,
                      valid, held))
    draws.sort(key=lambda d: d[:2])  # the nearest mix; on a tie the earlier draw
    # turned copies (ROTATION_ANGLE) in held-out blocks are scored nowhere, so their wider
    # footprints drop no training chip; a folder of nothing but turned chips keeps them
    upright = {c.folder for c in chips if not c.turn}
    for draw in draws:  # the first that leaves a training chip
        scored = [i for i in draw[2] if not (chips[i].turn and chips[i].folder in upright)]
        train, dropped = _train_chips(chips, scored, check, set(draw[2]))
        if train:
            _, _, everything_held, held = draw
            break
    else:
        raise InputError("validation_percent", f"holding out {percent}% leaves no training chip "
                         "that does not overlap the validation area; lower it, export more data, "
                         "or export smaller chips (Export Training Data's TILE_SIZE_X/Y = 0 fits "
                         "the chip size to the labelled area)")
    valid = scored
    turned = sorted(set(everything_held) - set(scored))
    held_sum = sum(n for n, _ in held.values())
    held_classes = None
    if totals is not None:
        held_classes = np.zeros_like(totals)
        for _, by_class in held.values():
            held_classes += by_class
    return Split(train, sorted(valid), dropped, held_sum, total, held_classes, totals,
                 sorted(turned))
