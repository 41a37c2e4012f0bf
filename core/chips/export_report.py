"""The few lines a user reads after an export: what was written and which classes are thin."""

from __future__ import annotations


def summarize(result) -> str:
    d = result.description
    counts = result.class_pixels
    total = sum(counts.values())
    skipped = []
    if result.skipped_unlabelled:
        skipped.append(f"{result.skipped_unlabelled} without labels")
    if result.skipped_below_fraction:
        skipped.append(f"{result.skipped_below_fraction} below the labelled fraction")
    if result.skipped_nodata:
        skipped.append(f"{result.skipped_nodata} all NoData")
    if getattr(result, "skipped_outside_mask", 0):
        skipped.append(f"{result.skipped_outside_mask} not wholly inside MASK_POLYGONS")
    lines = [
        f"{result.chips} chips of {d.tile_size[0]} x {d.tile_size[1]} px (stride "
        f"{d.stride[0]} x {d.stride[1]}) from {result.windows} windows"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
        + (f"; {result.rotated_copies} of the chips are copies turned by "
           f"ROTATION_ANGLE ({d.rotation_angle:g} degree steps)"
           if getattr(result, "rotated_copies", 0) else ""),
        f"{len(d.band_names)} bands ({d.dtype}), cell size {d.cell_size[0]:g} x "
        f"{d.cell_size[1]:g}, {len({c.block for c in d.chips})} spatial blocks",
        f"{total} labelled pixels in the chips (overlapping chips count a pixel once per chip):",
    ]
    for c in d.classes:
        n = counts.get(c.value, 0)
        share = 100.0 * n / total if total else 0.0
        lines.append(f"  {c.value:>3} {c.name}: {n} px ({share:.1f}%)")
    if result.labels_on_nodata:
        lines.append(f"{result.labels_on_nodata} labelled chip pixels fell on image NoData and "
                     "were set to 0")
    for w in result.warnings:
        lines.append(f"Warning: {w}")
    return "\n".join(lines)
