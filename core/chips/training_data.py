"""Reading chip folders for training: ours, or Classified Tiles folders exported by ArcGIS Pro.

Several folders train one model when they agree on band count and tile size. What the Esri
files lack (where each chip lies) is recovered from the chips' own georeferencing, so
ArcGIS folders get spatial blocks too and validation never sits next to its training twin.
Folders in one CRS share one grid of blocks (shared_grid.py), so that a place held out for
validation is held out in every folder (two image dates over the same labels).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geo.classes import ClassInfo, check_class_names, default_color
from . import description_fields as fields
from .band_stats import BandStats
from .chip_listing import Placed, chip_pairs, load_json, placements
from .chip_reader import PARAM, open_chip, read_image_chip
from .classified_tiles import EMD, IMAGES, LABELS, MANIFEST, MAP_TXT, STATS_JSON
from .empty_bands import kept_bands, pooled_stats
from .folder_pooling import same_bands, same_pixels
from .shared_grid import overlapping_apart, share_blocks

MAX_CHIP = 4096  # as Export Training Data's largest tile
MAX_BANDS = 1024


@dataclass(frozen=True)
class Chip:
    image: str
    label: str
    folder: int
    block: int
    bounds: tuple[float, float, float, float] | None
    # whose blocks ``block`` numbers: the folder's own (None), or a grid shared by the
    # folders in one CRS (shared_grid.py: the number of folders + the group's index)
    region: int | None = None
    # a rotated copy's ground as a box (ROTATION_ANGLE; no bounds): what the split's
    # overlap test compares, so a copy of a chip beside a held-out block is dropped as
    # its chip is
    footprint: tuple[float, float, float, float] | None = None
    # degrees a turned copy's columns run from east (ROTATION_ANGLE's, or ArcGIS's rotated
    # chips): kept out of validation, where its ground is its chip's once more
    turn: float = 0.0

    @property
    def ground(self) -> tuple[float, float, float, float] | None:
        """The box of ground the chip covers: its bounds, or a rotated copy's footprint."""
        return self.bounds if self.bounds is not None else self.footprint

    @property
    def block_key(self) -> tuple[int, int]:
        """One place: chips with the same key are held out or trained on together."""
        return (self.folder if self.region is None else self.region), self.block


@dataclass
class TrainingData:
    folders: list[str]
    chips: list[Chip]
    classes: list[ClassInfo]
    band_names: list[str]
    mean: np.ndarray
    std: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    tile_size: tuple[int, int]
    nodata: float | None
    dtype: str
    cell_size: tuple[float, float] | None
    crs_wkt: str | None
    class_pixels: dict[int, int] = field(default_factory=dict)
    source_bands: list[int] | None = None  # 1-based bands of the exported raster, in order
    source_band_count: int | None = None  # how many bands that raster had
    # GDAL's [scale, offset] of each of those bands (None: none declared); the chips hold
    # the stored values, and so must the rasters the model classifies
    source_scaling: list[list[float]] | None = None
    scaling_known: bool = False  # every folder says what its raster declared
    # per folder (Chip.folder): each band's own NoData; none given: ``nodata`` for every band
    band_nodata: list[list[float | None]] = field(default_factory=list)
    # folders another tool wrote (ArcGIS Pro: no LandLearn description), whose label 0 that
    # tool's training takes for a 'background' class where LandLearn's takes it for no label
    foreign: list[str] = field(default_factory=list)
    # the 0-based bands of each chip file the model reads, in order (None: all): bands with
    # no valid pixel in any chip are left out (empty_bands.py), and how many the files hold
    chip_bands: list[int] | None = None
    chip_band_count: int | None = None

    @property
    def band_count(self) -> int:
        return len(self.band_names)

    def read_image(self, chip: Chip) -> tuple[np.ndarray, np.ndarray, list[float | None]]:
        """(pixels (the bands the model reads, h, w), missing (h, w) bool, those bands' own
        NoData) of ``chip``: what training, calibration and checks read."""
        if self.chip_bands is None:
            pixels, missing = read_image_chip(chip.image, self.band_count, self.tile_size)
            return pixels, missing, self.nodata_of(chip)
        pixels, missing = read_image_chip(chip.image, self.chip_band_count, self.tile_size,
                                          self.chip_bands)
        nodata = self.nodata_of(chip)
        return pixels, missing, [nodata[b] for b in self.chip_bands]

    def nodata_of(self, chip: Chip) -> list[float | None]:
        """Each band's own NoData in ``chip``'s folder."""
        if chip.folder < len(self.band_nodata):
            return self.band_nodata[chip.folder]
        return [self.nodata] * (self.chip_band_count or self.band_count)




def _classes(emd: dict, stats: dict, path: str) -> list[ClassInfo]:
    raw = emd.get("Classes") or [
        {"Value": c.get("ClassValue"), "Name": c.get("ClassName"), "Color": c.get("Color")}
        for c in stats.get("Classes", [])]
    out = []
    for c in raw:
        v = c["Value"]
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 255 or \
                v != int(v):
            raise InputError(PARAM, f"'{path}': its classes list the value {repr(v)[:20]}; class values "
                             "are whole numbers 1..255 (0 = no class): export the training "
                             "data again")
        v = int(v)
        if v == 0:
            continue
        name = str(c.get("Name") or f"Class {v}")
        check_class_names({v: name}, PARAM, path)
        out.append(ClassInfo(v, name, fields.color(c.get("Color")) or default_color(v)))
    return out


def _folder_of(parts: list, info: ClassInfo) -> str:
    return next(p.path for p in parts if any(c is info for c in p.classes))


@dataclass
class _Folder:
    path: str
    chips: list[Chip]
    classes: list[ClassInfo]
    tile: tuple[int, int]
    bands: list[str]
    mean: np.ndarray | None
    std: np.ndarray | None
    minimum: np.ndarray | None
    maximum: np.ndarray | None
    weight: np.ndarray  # (bands,) valid pixels behind each band's figures
    nodata: float | None
    dtype: str
    cell: tuple[float, float] | None
    crs: str | None
    class_pixels: dict[int, int]
    source_bands: list[int] | None
    source_band_count: int | None
    source_scaling: list[list[float]] | None = None
    scaling_known: bool = False  # the folder says (exports from 2026-12-05 on)
    # each band's own NoData (the export's description; a GeoTIFF chip records band 1's)
    band_nodata: list[float | None] | None = None
    foreign: bool = False  # no LandLearn description (ArcGIS Pro's export)


def _read_folder(path: str, index: int) -> _Folder:
    if not os.path.isdir(path):
        raise InputError(PARAM, f"'{path}' is not a folder; give folders written by Export "
                         "Training Data (or ArcGIS's Export Training Data For Deep Learning)")
    has = set(os.listdir(path))
    if not ({IMAGES, LABELS} <= has and (has & {EMD, STATS_JSON, MANIFEST, MAP_TXT})):
        raise InputError(PARAM, f"'{path}' is not a training data folder: it needs images/, "
                         f"labels/ and {EMD} or {STATS_JSON}; export one with Export Training Data")
    if "images2" in has:
        # ArcGIS writes change detection as Classified_Tiles with the second date's chips
        # in images2/: trained on images/ alone, the change labels were taught as classes
        raise InputError(PARAM, f"'{path}' holds change-detection training data (an images2/ "
                         "folder of second-date chips); LandLearn trains pixel "
                         "classification of one image: export Classified_Tiles of one "
                         "raster (or of a stack of both dates' bands)")
    emd = load_json(os.path.join(path, EMD)) if EMD in has else {}
    stats = load_json(os.path.join(path, STATS_JSON)) if STATS_JSON in has else {}
    mode = stats.get("MetaDataMode") or emd.get("MetaDataMode")
    if mode and mode != "Classified_Tiles":
        raise InputError(PARAM, f"'{path}' holds '{mode}' training data; pixel classification "
                         "needs 'Classified_Tiles' (export with that metadata format)")
    pairs = chip_pairs(path)
    if not pairs:
        raise InputError(PARAM, f"'{path}' holds no image/label chip pairs")
    missing = [p for pair in pairs[:50] for p in pair[:2] if not os.path.exists(p)]
    if missing:
        raise InputError(PARAM, f"'{path}' lists chips that do not exist, e.g. '{missing[0]}'")
    with open_chip(pairs[0][0]) as ds:
        tile = (ds.width, ds.height)
        count, nodata, dtype = ds.count, ds.nodata, ds.dtypes[0]
        if max(tile) > MAX_CHIP or count > MAX_BANDS or np.dtype(dtype).kind == "c":
            raise InputError(PARAM, f"'{path}' holds chips of {tile[0]} x {tile[1]} px, "
                             f"{count} bands of {dtype}; LandLearn trains on chips of at most "
                             f"{MAX_CHIP} px, {MAX_BANDS} bands of real numbers")
        t = ds.transform  # a turned grid's cells too (a = 0 at 90 degrees)
        cell = (math.hypot(t.a, t.d), math.hypot(t.b, t.e)) if ds.crs else None
        crs = ds.crs.to_wkt() if ds.crs else None
    try:
        return _described(path, index, emd, stats, pairs, tile, count, nodata, dtype, cell,
                          crs)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError,
            OverflowError) as exc:
        raise InputError(PARAM, f"'{path}': its description ({EMD}, {STATS_JSON} or the "
                         f"manifest) is damaged or not as Export Training Data writes it "
                         f"({type(exc).__name__}: {str(exc)[:100]}); export it again") from None


def _described(path, index, emd, stats, pairs, tile, count, nodata, dtype, cell, crs
               ) -> _Folder:
    """The folder's chips, classes and statistics from its metadata files (which come from
    whoever made the folder: any field may be missing or of another type)."""
    if all(e for _, _, e in pairs):
        placed = [Placed(int(e["block"]), fields.bounds(e["bounds"]),
                         fields.bounds(e.get("footprint")), fields.turn(e.get("rotation", 0.0)))
                  for _, _, e in pairs]
    else:
        placed = placements(pairs, tile)
    chips = [Chip(i, lab, index, p.block, p.bounds, footprint=p.footprint, turn=p.turn)
             for (i, lab, _), p in zip(pairs, placed)]
    band_stats = emd.get("AllTilesStats") or []
    state = stats.get("BandStatsState") or []
    names = (emd.get("InputRastersProps") or {}).get("BandNames") or [
        b.get("BandName") or f"Band_{i + 1}" for i, b in enumerate(band_stats)] or [
        f"Band_{i + 1}" for i in range(count)]
    if len(names) != count:
        names = [f"Band_{i + 1}" for i in range(count)]
    if not all(isinstance(n, str) and 0 < len(n) <= 256 for n in names):
        # the package refuses such names when it is read: refused here, not after training
        raise ValueError("band names must be texts of 1 to 256 characters")
    mean = std = mn = mx = None
    if len(band_stats) == count:
        arr = {k: np.array([float(b[k]) for b in band_stats]) for k in ("Mean", "StdDev", "Min", "Max")}
        if all(np.isfinite(a).all() for a in arr.values()):  # else computed from the chips
            mean, std, mn, mx = arr["Mean"], arr["StdDev"], arr["Min"], arr["Max"]
    # the valid pixels behind the statistics (a folder without that count: its chips'
    # pixels), so that pooled folders weigh by pixels whatever wrote them
    # per band: each band's figures leave out its own NoData (band_stats), so a band that
    # is NoData in one folder weighs nothing there
    weight = (np.array([float(s["Num"]) for s in state]) if len(state) == count
              else np.full(count, float(len(chips) * tile[0] * tile[1])))
    classes = _classes(emd, stats, path)
    px = (stats.get("ClassPixelStats") or {}).get("NumPixelsPerClass") or []
    stat_classes = [int(c["ClassValue"]) for c in stats.get("Classes", [])]
    class_pixels = dict(zip(stat_classes, (int(n) for n in px))) if len(px) == len(stat_classes) else {}
    ours = emd.get("LandLearn") or {}
    source, source_count = ours.get("SourceBands"), ours.get("SourceBandCount")
    if source is not None and not (
            isinstance(source_count, int) and isinstance(source, list) and len(source) == count
            and all(isinstance(b, int) and 1 <= b <= source_count for b in source)):
        raise ValueError(f"SourceBands {str(source)[:40]} are not {count} bands of 1.."
                         f"{str(source_count)[:12]}")
    return _Folder(path, chips, classes, tile, list(names), mean, std, mn, mx, weight, nodata,
                   dtype, cell, crs, class_pixels, source, source_count,
                   fields.scaling(ours.get("SourceScaling"), count), "SourceScaling" in ours,
                   fields.band_nodata(ours.get("NoData"), count, nodata), not ours)










def _sample_stats(chips: list[Chip], bands: int, tile: tuple[int, int],
                  limit: int = 1000, nodata: Sequence[float | None] | None = None):
    """Band statistics from up to ``limit`` chips spread over the folder (all when fewer),
    accumulated chip by chip (1000 chips of 256 px and 10 bands held whole were 5 GB);
    also the valid pixels they stand for in the whole folder (the folder's weight when
    several folders' statistics are pooled)."""
    picks = np.unique(np.linspace(0, len(chips) - 1, min(limit, len(chips))).astype(int))
    acc = BandStats([f"Band_{i + 1}" for i in range(bands)])
    for chip in (chips[i] for i in picks):
        data, missing = read_image_chip(chip.image, bands, tile, all_nan=True)
        acc.add(data, ~missing, nodata)  # a band's own NoData (and NaN) left out
    if acc.count == 0:
        raise InputError(PARAM, "the chips hold no valid pixel (all NoData)")
    summary = acc.summaries()
    mean, std, mn, mx = (np.array([getattr(b, k) for b in summary])
                         for k in ("mean", "std", "minimum", "maximum"))
    return mean, std, mn, mx, acc.kept * len(chips) / len(picks)


def read_training_data(folders: Sequence[str], progress=None) -> TrainingData:
    if not folders:
        raise InputError(PARAM, "no training data folder was given")
    parts = [_read_folder(os.fspath(f), i) for i, f in enumerate(folders)]
    first = parts[0]
    for p in parts[1:]:
        if len(p.bands) != len(first.bands):
            raise InputError(PARAM, f"'{p.path}' has {len(p.bands)} bands but '{first.path}' has "
                             f"{len(first.bands)}; all folders must be exported with the same bands")
        same_bands(first, p, progress)
        same_pixels(first, p, progress)
        if p.scaling_known and first.scaling_known and p.source_scaling != first.source_scaling \
                and progress is not None:
            progress.warning(f"'{p.path}' was exported from a raster declaring scale and "
                             f"offset {p.source_scaling or 'none'}, '{first.path}' "
                             f"{first.source_scaling or 'none'}: the chips hold stored values, "
                             "so one band's numbers mean other things in the two folders")
        if p.tile != first.tile:
            raise InputError(PARAM, f"'{p.path}' has {p.tile[0]} x {p.tile[1]} chips but "
                             f"'{first.path}' has {first.tile[0]} x {first.tile[1]}; export all "
                             "folders with the same tile size")
    for p in parts:
        if p.mean is None:
            if progress is not None:
                progress.info(f"'{p.path}' carries no band statistics; computing them from its chips.")
            p.mean, p.std, p.minimum, p.maximum, p.weight = _sample_stats(
                p.chips, len(p.bands), p.tile, nodata=p.band_nodata)
    w = np.stack([np.broadcast_to(np.asarray(p.weight, np.float64), (len(first.bands),))
                  for p in parts])  # (folders, bands)
    kept = kept_bands(w.sum(0), first.bands, progress)
    mean, std, minimum, maximum = pooled_stats(w, parts, kept)
    classes: dict[int, ClassInfo] = {}
    pixels: dict[int, int] = {}
    named: dict[str, tuple[int, str]] = {}  # a given name -> (its value, its folder)
    for p in parts:
        for c in p.classes:
            had = classes.setdefault(c.value, c)
            defaults = (f"Class {c.value}", str(c.value))  # no name given: not a clash
            if c.name not in defaults:
                value, where = named.setdefault(c.name.casefold(), (c.value, p.path))
                if value != c.value and where != p.path:
                    # A: Forest=1, B: Forest=3: two outputs for one class, and the metrics
                    # counted Forest taken for Forest as an error
                    raise InputError(PARAM, f"class '{c.name}' is value {value} in '{where}' "
                                     f"but {c.value} in '{p.path}'; export the folders with "
                                     "one class field and values (the same value for the "
                                     "same class)")
            if had.name.casefold() != c.name.casefold() and not {had.name, c.name} & set(defaults):
                # text labels of two layers numbered apart (A: Forest=1, B: Urban=1): Urban
                # pixels were trained as Forest
                raise InputError(PARAM, f"class value {c.value} is '{had.name}' in "
                                 f"'{_folder_of(parts, had)}' "
                                 f"but '{c.name}' in '{p.path}'; export the folders with one "
                                 "class field and values (the same value for the same class)")
        for v, n in p.class_pixels.items():
            pixels[v] = pixels.get(v, 0) + n
    shared = share_blocks([p.chips for p in parts], [p.crs for p in parts])
    if progress is not None and len(parts) > 1:
        for i, j in overlapping_apart([p.chips for p in parts], [p.crs for p in parts]):
            progress.warning(f"'{parts[i].path}' and '{parts[j].path}' cover some of the same "
                             "ground in different coordinate systems: their validation "
                             "blocks cannot be shared, so a place held out in one may be "
                             "trained on through the other and the validation score reads "
                             "high. Export both from rasters in one CRS (reproject one) to "
                             "hold each place out in both.")
    every = len(first.bands)
    # the raster's bands from a folder that says (an ArcGIS folder pooled first does not)
    told = next((p for p in parts if p.source_bands), first)
    source = told.source_bands or list(range(1, every + 1))
    return TrainingData(
        folders=[p.path for p in parts], chips=[c for chips in shared for c in chips],
        classes=[classes[v] for v in sorted(classes)],
        band_names=[first.bands[b] for b in kept], mean=mean, std=std, minimum=minimum,
        maximum=maximum, tile_size=first.tile, nodata=first.nodata, dtype=first.dtype,
        cell_size=first.cell, crs_wkt=first.crs, class_pixels=pixels,
        # bands left out: the model reads the others of the raster the chips came from
        source_bands=first.source_bands if len(kept) == every else [source[b] for b in kept],
        source_band_count=first.source_band_count if len(kept) == every
        else told.source_band_count or every,
        source_scaling=first.source_scaling if first.source_scaling is None
        else [first.source_scaling[b] for b in kept],
        scaling_known=all(p.scaling_known for p in parts),
        band_nodata=[p.band_nodata for p in parts],
        foreign=[p.path for p in parts if p.foreign],
        chip_bands=None if len(kept) == every else kept, chip_band_count=every)
