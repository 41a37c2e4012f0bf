"""Spatial blocks shared by training folders over the same ground.

Two folders exported from two image dates over the same labels hold the same places twice.
With blocks drawn per folder, validation could hold out a place in one folder while the
other folder trained on it: the score then measures memory of the place, not skill. Dropping
every training chip that overlaps any folder's held-out block closes that, but throws away
far more than it holds out (each folder's blocks lie elsewhere: six dates at 10% lost about
47% of the ground). So folders in one CRS (compared as coordinate systems, not as WKT text,
which differs between writers for the same CRS) are put on one grid of blocks in map
space: a block is then one place in every folder at once, held out or trained on whole, and
only the chips along its edge are dropped, as within one folder.

Folders in different CRSs, or whose chips are not all georeferenced, keep their own blocks:
their places cannot be compared without reprojecting every chip, and two such folders
rarely cover the same ground.
"""

from __future__ import annotations

import math
from dataclasses import replace

from rasterio.crs import CRS
from rasterio.errors import CRSError

__all__ = ["crs_groups", "equal_groups", "overlapping_apart", "share_blocks"]

# a chip's corner this close (in blocks) below a block line counts as on it: coordinates
# rounded to 9 decimals in the manifest must not move a chip into the block before
_SNAP = 1e-6


def _parse(wkt: str | None) -> CRS | None:
    if not wkt:
        return None
    try:
        return CRS.from_wkt(wkt)
    except CRSError:
        return None  # a CRS GDAL cannot read is compared with nothing: its folder stays alone


def equal_groups(systems: list) -> list[list[int]]:
    """Indices of equal coordinate systems (rasterio CRS objects, None for none), each group
    in the order of its first member, the groups in that order too."""
    groups: list[tuple[object, list[int]]] = []
    for i, crs in enumerate(systems):
        for known, members in groups:
            if known == crs:
                members.append(i)
                break
        else:
            groups.append((crs, [i]))
    return [members for _, members in groups]


def crs_groups(crs_wkts: list[str | None]) -> list[list[int]]:
    """Indices of the folders in each coordinate system that two or more folders share, in
    the order of their first folder. Folders without a CRS are in no group."""
    parsed = [_parse(w) for w in crs_wkts]
    return [members for members in equal_groups(parsed)
            if parsed[members[0]] is not None and len(members) > 1]


def share_blocks(folders: list[list], crs_wkts: list[str | None]) -> list[list]:
    """The folders' chips (training_data.Chip, which imports this module) with the
    folders of one CRS on one grid of blocks in map space.

    The grid starts at the group's top-left chip corner and its blocks are as large as the
    group's largest chip in map units (a chip's block is the one holding its top-left
    corner, as Export Training Data numbers them). Such chips get ``region`` = the number of
    folders + the group's index, so their ``block_key`` is the same for every folder at one
    place; other chips are returned as they were. A folder with a chip that is not
    georeferenced keeps its own blocks."""
    out = [list(chips) for chips in folders]
    placed = [all(c.ground is not None for c in chips) and any(c.turn == 0 for c in chips)
              for chips in folders]
    wkts = [w if ok else None for w, ok in zip(crs_wkts, placed)]
    for g, members in enumerate(crs_groups(wkts)):
        chips = [c for m in members for c in folders[m]]
        upright = [c.ground for c in chips if c.turn == 0]  # north-up or south-up
        width = max(b[2] - b[0] for b in upright)
        height = max(b[3] - b[1] for b in upright)
        if not (width > 0 and height > 0):
            continue  # degenerate bounds: nothing to share
        # a turned copy is placed by the size of its own folder's chips (folders of other
        # cell sizes share the grid: by the largest, a 10 m copy beside 30 m chips lay a
        # block up and left of its chip)
        corner = {id(c): _corner(c, *_chip_size(folders[m])) for m in members
                  for c in folders[m]}
        x0 = min(x for x, _ in corner.values())
        y0 = max(y for _, y in corner.values())
        cols = int((max(x for x, _ in corner.values()) - x0) / width + _SNAP) + 1
        region = len(folders) + g
        for m in members:
            out[m] = [replace(c, region=region,
                              block=math.floor((y0 - corner[id(c)][1]) / height + _SNAP) * cols
                              + math.floor((corner[id(c)][0] - x0) / width + _SNAP))
                      for c in folders[m]]
    return out


def _chip_size(chips) -> tuple[float, float]:
    """The map width and height of a folder's upright chips (a folder's are one size)."""
    upright = [c.ground for c in chips if c.turn == 0]
    return max(b[2] - b[0] for b in upright), max(b[3] - b[1] for b in upright)


def _corner(chip, width: float, height: float) -> tuple[float, float]:
    """(left, top) of the ground a chip covers; for a turned copy (its footprint is wider
    than its chip at an oblique angle) the corner of an upright chip of the grid's size
    round the same centre: its chip's own corner, so the copy shares its chip's block."""
    x0, y0, x1, y1 = chip.ground
    if chip.turn == 0:
        return x0, y1
    return (x0 + x1) / 2 - width / 2, (y0 + y1) / 2 + height / 2


def overlapping_apart(folders: list[list], crs_wkts: list[str | None]) -> list[tuple[int, int]]:
    """Pairs of folders whose footprints (the rectangle around each folder's chips, its
    edges densified and taken to longitude and latitude) overlap by more than 1% of the
    smaller one although they are in different CRSs, so share_blocks keeps their blocks
    apart: two Sentinel-2 tiles of neighbouring UTM zones share a strip, and a place held
    out in one folder can be trained on through the other. Polygons, not boxes: a UTM
    rectangle's box in degrees is slanted wider, and folders that only touch overlapped.
    Said to the user, not mended (that needs every chip reprojected)."""
    from osgeo import ogr
    from rasterio.warp import transform

    parsed = [_parse(w) for w in crs_wkts]
    shapes: list = []
    for chips, crs in zip(folders, parsed):
        if crs is None or not chips or any(c.ground is None for c in chips):
            shapes.append(None)
            continue
        x0, y0 = min(c.ground[0] for c in chips), min(c.ground[1] for c in chips)
        x1, y1 = max(c.ground[2] for c in chips), max(c.ground[3] for c in chips)
        steps = [i / 20 for i in range(20)]
        xs = ([x0 + (x1 - x0) * t for t in steps] + [x1] * 20
              + [x1 - (x1 - x0) * t for t in steps] + [x0] * 20)
        ys = ([y0] * 20 + [y0 + (y1 - y0) * t for t in steps]
              + [y1] * 20 + [y1 - (y1 - y0) * t for t in steps])
        try:
            lon, lat = transform(crs, "EPSG:4326", xs, ys)
        except Exception:  # noqa: BLE001 - a CRS PROJ cannot take to degrees: not compared
            shapes.append(None)
            continue
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in zip(lon, lat):
            ring.AddPoint_2D(float(x), float(y))
        ring.CloseRings()
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        shapes.append(poly if poly.IsValid() and poly.GetArea() > 0 else None)
    pairs = []
    for i in range(len(folders)):
        for j in range(i + 1, len(folders)):
            a, b = shapes[i], shapes[j]
            if a is None or b is None or parsed[i] == parsed[j]:
                continue
            shared = a.Intersection(b)
            if shared is not None and shared.GetArea() > 0.01 * min(a.GetArea(), b.GetArea()):
                pairs.append((i, j))
    return pairs
