"""Which chips a training folder holds, and where they lie: its manifest, map.txt or a
listing of images/ and labels/ (chip paths kept inside the folder), and the map-space
blocks of georeferenced chips (so chips that share ground go to one split side). Kept apart
from training_data.py, which reads what a folder says about its bands and classes.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import NamedTuple

from ..errors import InputError
from ..files import read_small_json
from ..runtime.free_memory import available_memory
from .chip_reader import PARAM, open_chip
from .classified_tiles import IMAGES, LABELS, MANIFEST, MAP_TXT
from .shared_grid import equal_groups

__all__ = ["CHIP_SUFFIXES", "MAX_JSON", "Placed", "chip_pairs", "inside", "load_json",
           "placements"]

MAX_JSON = 256 * 1024 * 1024  # a manifest of a million chips is ~200 MB


# the chip formats of Export Training Data (LandLearn's and ArcGIS's: TIFF, PNG, JPEG, MRF)
CHIP_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".mrf")

def load_json(path: str) -> dict:
    """A folder's description: an object of at most MAX_JSON bytes (the size checked before
    it is parsed), nested no deeper than Python's recursion allows, whose parse fits in
    the memory available (``_fits_in_memory``)."""
    try:
        got = read_small_json(path, MAX_JSON, lambda data: _fits_in_memory(path, data))
    except (OSError, ValueError) as exc:
        raise InputError(PARAM, f"'{path}' cannot be read as JSON ({str(exc)[:200]}): the "
                         "folder is damaged or incomplete; export the training data again, or "
                         "copy the folder whole") from None
    if not isinstance(got, dict):
        raise InputError(PARAM, f"'{path}' holds a JSON {type(got).__name__}, not the object "
                         "Export Training Data writes; export the training data again")
    return got


# Python objects per JSON value at most: an empty dict and its pointer (72 bytes) per
# '{', '[', ',' or ':'; a manifest of 400,000 chips (101 MB) took 0.62 GB, counted 0.94
BYTES_PER_VALUE = 72
CHECKED_FROM = 16 << 20  # smaller descriptions are read without asking


def _fits_in_memory(path: str, data: bytes) -> None:
    """Refuse, before parsing, a description whose Python objects may not fit in the memory
    available: a JSON of empty objects ('[{},{},...]') takes 24 times its size once parsed,
    and 256 MB of it took 7 GB (adversarial sweep, stop 68). Counted by its separators and
    brackets: an upper bound for any JSON (1.5x what a manifest of 400,000 chips took, 2x
    for 10^7 empty objects), checked only from CHECKED_FROM bytes."""
    if len(data) < CHECKED_FROM:
        return
    values = sum(data.count(c) for c in (b"{", b"[", b",", b":")) + 1
    need = values * BYTES_PER_VALUE + len(data)
    free = available_memory(None)
    if free is not None and need > free[0]:
        raise InputError(PARAM, f"'{path}' ({len(data) / 1e6:,.0f} MB) takes up to "
                         f"{need / 1e9:.1f} GB once read, and there are {free[0] / 1e9:.1f} "
                         f"GB {free[1]}; free memory, or export the training data in "
                         "smaller folders (train on several folders at once)")


def inside(folder: str, listed: str, sub: str) -> str:
    """A chip path listed in map.txt or the manifest, kept inside the training folder: a
    path that leads elsewhere (absolute, '..', a drive) falls back to the chip of that name
    in the folder's own images/ or labels/, as if the folder had been moved."""
    if not isinstance(listed, str):
        raise TypeError(f"chip path {listed!r}")
    name = listed.replace("\\", "/")
    if not re.match(r"^[A-Za-z]:", name):  # 'D:/...' is a Windows drive, wherever we run
        path = os.path.realpath(os.path.join(folder, name))
        if path.startswith(os.path.realpath(folder) + os.sep):
            return path
    return os.path.join(folder, sub, os.path.basename(name))


def chip_pairs(folder: str) -> list[tuple[str, str, dict]]:
    """(image, label, manifest entry or {}) for every chip, by manifest, map.txt or listing;
    every chip a regular file inside the folder (``_contained``)."""
    return _contained(folder, _listed_pairs(folder))


def _contained(folder: str, pairs: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    """A folder from someone else may hold chips that are links: to a private raster of
    the reader's (trained on, then shown in the report's validation picture) or to a FIFO
    (the run hangs, deaf to Cancel). Chips are read only where they really lie inside the
    folder and are regular files; a chip that does not exist is left to the caller's
    message."""
    root = os.path.realpath(folder) + os.sep
    parents: dict[str, str] = {}  # images/, labels/: resolved once (one lstat a chip)
    for pair in pairs:
        for path in pair[:2]:
            try:
                mode = os.lstat(path).st_mode
                head, name = os.path.split(path)
                if head not in parents:
                    parents[head] = os.path.realpath(head)
                real = os.path.join(parents[head], name)
                if stat.S_ISLNK(mode):
                    real = os.path.realpath(path)
                    mode = os.stat(real).st_mode
            except OSError:
                continue  # missing: said by the reader, naming the chip
            if not real.startswith(root) or not stat.S_ISREG(mode):
                what = ("leads outside the folder, to" if not real.startswith(root)
                        else "is not a regular file but")
                raise InputError(PARAM, f"'{folder}': chip '{os.path.relpath(path, folder)}' "
                                 f"{what} '{real}'; LandLearn reads only chips that lie in "
                                 "the training folder as files: copy the chips in rather "
                                 "than linking them")
    return pairs


def _listed_pairs(folder: str) -> list[tuple[str, str, dict]]:
    mpath = os.path.join(folder, MANIFEST)
    map_txt = os.path.join(folder, MAP_TXT)
    if os.path.exists(mpath):
        try:
            listed = [(inside(folder, c["image"], IMAGES), inside(folder, c["label"], LABELS), c)
                      for c in load_json(mpath).get("chips", [])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(PARAM, f"'{mpath}' lists chips without image or label "
                             f"({exc!r}); export the training data again") from None
        if not os.path.exists(map_txt):
            return listed
        # map.txt is the list (ArcGIS's, and what a user edits: a damaged chip's line
        # taken out was read again from the manifest); the manifest describes the chips
        # it lists, matched by image and label
        raw = _map_txt_lines(map_txt)
        if raw == [(str(c["image"]).replace("\\", "/"), str(c["label"]).replace("\\", "/"))
                   for _, _, c in listed]:
            return listed  # the usual case, told by their text (no path resolved again)
        described = {p[:2]: p[2] for p in listed}
        mapped = [(inside(folder, i, IMAGES), inside(folder, lab, LABELS)) for i, lab in raw]
        return [(i, lab, described.get((i, lab), {})) for i, lab in mapped]
    if os.path.exists(map_txt):
        return [(inside(folder, i, IMAGES), inside(folder, lab, LABELS), {})
                for i, lab in _map_txt_lines(map_txt)]
    # chips only: a world file (000.tfw, .pgw, .jgw) shares its chip's stem, and listed
    # after it, took the label's place
    pairs = []
    images = sorted(n for n in os.listdir(os.path.join(folder, IMAGES))
                    if n.lower().endswith(CHIP_SUFFIXES))
    labels = {os.path.splitext(n)[0]: n for n in os.listdir(os.path.join(folder, LABELS))
              if n.lower().endswith(CHIP_SUFFIXES)}
    for name in images:
        stem = os.path.splitext(name)[0]
        if stem in labels:
            pairs.append((os.path.join(folder, IMAGES, name),
                          os.path.join(folder, LABELS, labels[stem]), {}))
    return pairs


def _map_txt_lines(map_txt: str) -> list[tuple[str, str]]:
    """map.txt's (image, label) texts, with '/' for ArcGIS's '\\'. A line is cut after the
    image's suffix, not at every space: ArcGIS writes absolute paths, and on Windows those
    hold spaces ('C:/Users/Jane Doe/...'), which split into 'C:/Users/Jane' and 'Doe/...'.
    Where a folder's name holds a chip suffix and a space too ('.../x.tif chips/images/...'),
    the cut that leaves two paths most alike in length is taken: image and label paths
    differ only by images/labels, and the first suffix cut the image's path short.

    A map.txt comes with someone else's folder: its size is checked before it is read and
    no line is read past MAX_MAP_LINE (one line of 40 MB took 282 s and 1.7 GB)."""
    size = os.path.getsize(map_txt)
    if size > MAX_JSON:
        raise InputError(PARAM, f"'{map_txt}' is {size >> 20} MB, more than a list of a "
                         f"million chips ({MAX_JSON >> 20} MB); it is not a map.txt Export "
                         "Training Data writes: export the training data again")
    pairs = []
    with open(map_txt, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(iter(lambda: fh.readline(MAX_MAP_LINE + 1), ""), 1):
            if len(line) > MAX_MAP_LINE:
                raise InputError(PARAM, f"'{map_txt}' line {number} is longer than "
                                 f"{MAX_MAP_LINE} characters, not an image and label path; "
                                 "export the training data again, or mend that line")
            text = line.replace("\\", "/").strip()
            if not text:
                continue
            end = _SUFFIX_END.search(text)  # the label's suffix: a cut lies before it
            cuts = [(m.start(1), m.end(1)) for m in _MAP_CUT.finditer(text)
                    if end is not None and m.end(1) <= end.start()]
            if cuts:
                left, right = min(cuts, key=lambda c: abs(c[0] - (len(text) - c[1])))
                parts = [text[:left], text[right:]]
            else:
                parts = text.split()
            if len(parts) != 2 or not all(p.lower().endswith(CHIP_SUFFIXES) for p in parts):
                # 'broken line' was read as the chips 'broken' and 'line', and refused as
                # chips that do not exist (a sweep, stop 72); a one-word line was skipped
                raise InputError(PARAM, f"'{map_txt}' line {number} ('{text[:80]}') is not "
                                 "an image path and a label path (chips end in "
                                 f"{', '.join(CHIP_SUFFIXES)}); mend or remove that line")
            pairs.append((parts[0], parts[1]))
    return pairs


MAX_MAP_LINE = 16384  # two paths of PATH_MAX (4096), with room for multi-byte names
_SUFFIXES = "|".join(re.escape(s) for s in CHIP_SUFFIXES)
_MAP_CUT = re.compile(r"(?:" + _SUFFIXES + r")(\s+)", re.IGNORECASE)
_SUFFIX_END = re.compile(r"(?:" + _SUFFIXES + r")$", re.IGNORECASE)


class Placed(NamedTuple):
    """Where a chip lies: its block, its bounds (north-up chips only), the box round its
    corners, and its turn in degrees (0 for north-up and south-up chips)."""

    block: int
    bounds: tuple | None
    footprint: tuple | None
    turn: float


class _Spot(NamedTuple):
    """What a chip's own transform says of it (see ``_placement``)."""

    x: float  # centre
    y: float
    res_x: float  # pixel width and height on the map
    res_y: float
    bounds: tuple | None
    south_up: bool
    corners: tuple
    turn: float


def placements(pairs, tile: tuple[int, int]) -> list[Placed]:
    """Where each chip lies, from its own transform: tile-sized cells of the folder's map space,
    a chip in the cell of its centre. A transform without a CRS (a world file without .prj)
    places the chips as well: only the folder is not compared with others (shared_grid.py).
    A rotated chip (ArcGIS's ROTATION_ANGLE copies, written with a rotated world file) lies
    in the cell of its centre too, with its unrotated twin: placed nowhere, each was a
    block of its own, and a validation chip's rotated copies were trained on.

    Per chip a ``Placed``. The footprint is the box round its corners
    (the split's overlap test reads it where a chip has no bounds: south-up and turned
    chips beside a held-out block are dropped as others are); the turn is its rotation in
    degrees (0 for north-up and south-up chips), which keeps turned copies out of
    validation."""
    placed, systems = [], []
    for image, _, _ in pairs:
        with open_chip(image) as ds:
            systems.append(ds.crs)
            placed.append(_placement(ds))
    if any(p is None for p in placed) or not placed:
        # not georeferenced: every chip alone
        return [Placed(i, None, None, 0.0) for i in range(len(pairs))]
    if all(c is None for c in systems) and len(placed) > 1 and \
            len({(p.x, p.y) for p in placed}) < 2:
        # one made-up transform on every chip (pixel space, no CRS): they lie nowhere
        return [Placed(i, None, None, 0.0) for i in range(len(pairs))]
    # chips of several CRSs in one folder (ArcGIS's export of raster items separately, in
    # their own zones): blocks drawn per CRS, and only the first CRS's chips keep bounds
    # (the folder's CRS is its first chip's; read in it, the others' coordinates lay on
    # unrelated ground)
    out = [Placed(0, None, None, 0.0)] * len(placed)
    for g, members in enumerate(equal_groups(systems)):
        part = [placed[i] for i in members]
        x0 = min(p.x for p in part)
        y0 = min(p.y for p in part) if part[0].south_up else max(p.y for p in part)
        first = g == 0
        for i, p in zip(members, part):
            col = int((p.x - x0) / (p.res_x * tile[0]) + 1e-6)
            row = int(abs(p.y - y0) / (p.res_y * tile[1]) + 1e-6)
            out[i] = Placed(g * 10**12 + row * 100_000 + col, p.bounds if first else None,
                            p.corners if first else None, p.turn)
    return out


def _placement(ds) -> _Spot | None:
    """What an open chip's transform says of where it lies, or None where it places it
    nowhere (none, or degenerate). Bounds are
    (min x, min y, max x, max y) around its corners, for a north-up chip only. A rotated,
    turned or south-up chip (e > 0) has none: what reads bounds (label_cells, evaluation)
    takes its pixel row 0 for the northern edge and its columns for the map's, so it stays
    a cell of its own there; its centre still places it in a block."""
    t = ds.transform
    if ds.crs is None and t.is_identity or abs(t.determinant) == 0:
        return None
    w, h = ds.width, ds.height
    xs, ys = zip(*(t * (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))))
    cx, cy = t * (w / 2, h / 2)
    rx, ry = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
    # rows and columns along the map's axes (rasterio's is_rectilinear holds at 90 degrees),
    # columns running east and rows south: a 180-degree turn (a < 0) and a south-up world
    # file (e > 0) hold the map mirrored, so Coverage's weights would fall on the wrong rows
    upright = (abs(t.b) <= 1e-9 * abs(t.e) and abs(t.d) <= 1e-9 * abs(t.a) and t.a > 0
               and t.e < 0)
    corners = (min(xs), min(ys), max(xs), max(ys))
    # the turn of the columns on the map, as Affine.rotation counts it (Export Training
    # Data's copies, chip * rotation(k x ROTATION_ANGLE)): 0 for north-up and south-up
    turn = round(math.degrees(math.atan2(-t.d, t.a)) % 360.0, 6) % 360.0
    return _Spot(cx, cy, rx, ry, corners if upright else None, t.e > 0, corners, turn)
