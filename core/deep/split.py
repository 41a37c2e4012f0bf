"""Train/validation split by spatial block, never by random overlapping chips.

Chips exported with a stride below the tile size overlap their neighbours; a random split
puts the same pixels on both sides and the validation score measures memory, not skill.
Whole blocks go to validation, and training chips that still overlap a validation chip are
dropped, so no pixel is seen on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..chips.training_data import Chip
from ..errors import InputError


@dataclass
class Split:
    train: list[int]
    valid: list[int]
    dropped: list[int]


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def spatial_split(chips: list[Chip], percent: float, seed: int = 0) -> Split:
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
    keys = sorted(blocks)
    order = np.random.default_rng(seed).permutation(len(keys))
    target = max(1, round(len(chips) * percent / 100))
    valid: list[int] = []
    for k in order:
        if len(valid) >= target:
            break
        valid.extend(blocks[keys[k]])
    valid_set = set(valid)
    by_folder: dict[int, list] = {}
    for i in valid:
        if chips[i].bounds is not None:
            by_folder.setdefault(chips[i].folder, []).append(chips[i].bounds)
    train, dropped = [], []
    for i in everything:
        if i in valid_set:
            continue
        b = chips[i].bounds
        if b is not None and any(_overlap(b, v) for v in by_folder.get(chips[i].folder, [])):
            dropped.append(i)
        else:
            train.append(i)
    if not train:
        raise InputError("validation_percent", f"holding out {percent}% leaves no training chip "
                         "that does not overlap the validation area; lower it, export more data, "
                         "or export smaller chips (Export Training Data's TILE_SIZE_X/Y = 0 fits "
                         "the chip size to the labelled area)")
    return Split(train, sorted(valid), dropped)
