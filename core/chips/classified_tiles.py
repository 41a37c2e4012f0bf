"""The Esri "Classified Tiles" training-data layout, as ArcGIS Pro writes and arcgis.learn reads it.

images/NNNNNNNNN.tif + labels/NNNNNNNNN.tif (or .png / .jpg: chip_formats.py), map.txt (Windows separators, as ArcGIS writes
them), esri_accumulated_stats.json (class pixel statistics and the band statistics state),
esri_model_definition.emd (classes, band names and per-band statistics in AllTilesStats).
Our own landlearn_manifest.json adds what the Esri files lack: where each chip lies and a
spatial block id, so training can hold out whole areas instead of overlapping neighbours.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import numpy as np

from ..geo.classes import ClassInfo
from .band_stats import BandSummary

IMAGES = "images"
LABELS = "labels"
MAP_TXT = "map.txt"
STATS_JSON = "esri_accumulated_stats.json"
EMD = "esri_model_definition.emd"
MANIFEST = "landlearn_manifest.json"
STATS_TXT = "stats.txt"
MANIFEST_VERSION = 1


def chip_name(index: int, suffix: str = ".tif") -> str:
    return f"{index:09d}{suffix}"


@dataclass
class ChipRecord:
    """One exported image/label pair and where it came from on the export grid."""

    index: int
    col_off: int
    row_off: int
    bounds: tuple[float, float, float, float] | None  # None: a rotated copy (rotation.py)
    block: int
    block_row: int
    block_col: int
    valid_pixels: int
    class_pixels: dict[int, int]
    rotation: float = 0.0  # degrees a ROTATION_ANGLE copy is turned by
    footprint: tuple[float, float, float, float] | None = None  # a copy's ground, as a box
    suffixes: tuple[str, str] = (".tif", ".tif")  # image's and label's (IMAGE_CHIP_FORMAT)

    @property
    def image_name(self) -> str:
        return chip_name(self.index, self.suffixes[0])

    @property
    def label_name(self) -> str:
        return chip_name(self.index, self.suffixes[1])

    def to_json(self) -> dict:
        return {"image": f"{IMAGES}/{self.image_name}", "label": f"{LABELS}/{self.label_name}",
                "col_off": self.col_off, "row_off": self.row_off,
                "bounds": None if self.bounds is None else [round(v, 9) for v in self.bounds],
                "block": self.block, "block_row": self.block_row, "block_col": self.block_col,
                "valid_pixels": self.valid_pixels,
                "class_pixels": {str(k): v for k, v in sorted(self.class_pixels.items())},
                **({"rotation": self.rotation,
                    "footprint": [round(v, 9) for v in self.footprint]}
                   if self.rotation else {})}


@dataclass
class ExportDescription:
    """Everything the metadata files say about one export."""

    source: str
    source_bands: list[int]
    source_band_count: int
    band_names: list[str]
    dtype: str
    nodata: list[float | None]
    crs_wkt: str | None
    cell_size: tuple[float, float]
    grid_transform: tuple[float, ...]
    tile_size: tuple[int, int]
    stride: tuple[int, int]
    block_size: tuple[int, int]
    classes: list[ClassInfo]
    bands: list[BandSummary]
    chips: list[ChipRecord] = field(default_factory=list)
    source_scaling: list[list[float]] | None = None  # GDAL's [scale, offset] per band
    rotation_angle: float = 0.0  # ROTATION_ANGLE: degrees between a chip's turned copies
    buffer_radius: float = 0.0  # BUFFER_RADIUS: point labels burnt as discs this wide
    image_format: str = "TIFF"  # IMAGE_CHIP_FORMAT
    source_nodata: list[float | None] | None = None  # the raster's, where chips keep none

    def class_pixels(self) -> dict[int, int]:
        totals = {c.value: 0 for c in self.classes}
        for chip in self.chips:
            for v, n in chip.class_pixels.items():
                totals[v] = totals.get(v, 0) + n
        return totals


def _min_max_mean(values: list[int]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"Min": 0, "Max": 0, "Mean": 0.0, "Sum": 0, "Count": 0}
    return {"Min": int(arr.min()), "Max": int(arr.max()), "Mean": float(arr.mean()),
            "Sum": int(arr.sum()), "Count": int(arr.size)}


def accumulated_stats(d: ExportDescription) -> dict:
    values = [c.value for c in d.classes]
    per_chip = [[chip.class_pixels.get(v, 0) for v in values] for chip in d.chips]
    totals = d.class_pixels()
    return {
        "Version": 1,
        "NumBands": len(d.band_names),
        "TileSizeX": d.tile_size[0],
        "TileSizeY": d.tile_size[1],
        "NumClasses": len(d.classes),
        "NumTiles": len(d.chips),
        "OutputFeatures": False,
        "MetaDataMode": "Classified_Tiles",
        "Classes": [{"ClassValue": c.value, "ClassName": c.name, "Color": list(c.color)}
                    for c in d.classes],
        "ClassPixelStats": {
            "NumClasses": len(d.classes),
            "NumImagesTotal": len(d.chips),
            "NumImagesPerClass": [sum(1 for row in per_chip if row[i] > 0)
                                  for i in range(len(values))],
            "NumPixelsPerClass": [totals[v] for v in values],
            "NumClassesPerImage": _min_max_mean([sum(1 for n in row if n) for row in per_chip]),
            "PixelsPerClass": [_min_max_mean([row[i] for row in per_chip])
                               for i in range(len(values))],
        },
        "BandStatsState": [b.to_state() for b in d.bands],
    }


WELL_KNOWN_KEY = "WellKnownBandNames (FYI, these band names can be used in ExtractBands)"
WELL_KNOWN_BAND_NAMES = ["Red", "Green", "Blue", "NearInfrared", "Panchromatic"]


def model_definition(d: ExportDescription) -> dict:
    return {
        "Framework": "",
        "ModelConfiguration": "",
        "ModelType": "ImageClassification",
        "ModelFile": "",
        "ImageHeight": d.tile_size[1],
        "ImageWidth": d.tile_size[0],
        "ExtractBands": list(range(len(d.band_names))),
        "MetaDataMode": "Classified_Tiles",
        "ImageSpaceUsed": "MAP_SPACE",
        "Classes": [c.to_esri() for c in d.classes],
        "InputRastersProps": {"RasterCount": 1, "SensorName": "", "BandNames": d.band_names},
        # an informative list in ArcGIS's own exports, but older arcgis.learn (1.8, Pro
        # 2.8) indexes it directly for 3-band chips: without it, prepare_data's KeyError
        WELL_KNOWN_KEY: WELL_KNOWN_BAND_NAMES,
        "AllTilesStats": [b.to_esri() for b in d.bands],
        "LandLearn": {"CellSize": list(d.cell_size), "DataType": d.dtype,
                      "NoData": _json_values(d.nodata), "SourceBands": d.source_bands,
                      "SourceBandCount": d.source_band_count,
                      # null: none declared (a folder without the key: not known)
                      "SourceScaling": d.source_scaling,
                      "SpatialReference": d.crs_wkt},
    }


def shareable_source(source: str) -> str:
    """The raster's name as the folder records it: a folder is made to be shared, and a
    URL may carry a token (`/vsicurl/https://...?token=`, a presigned S3 link) or a user
    and password; those are left out. GDAL's other spelling, `/vsicurl?url=<encoded URL>&
    <options>`, keeps the URL (decoded, without its own query) and drops the options,
    which may hold headers or keys."""
    query = re.match(r"(/vsi[a-z0-9_]+)\?(.*)$", source, re.DOTALL)
    if query:
        url = parse_qs(query.group(2)).get("url")
        return query.group(1) + ("/" + shareable_source(url[0]) if url else "")
    if "://" not in source:
        return source
    cut = re.sub(r"(://)[^/@?#\s]*@", r"\1", source)
    return cut.split("?", 1)[0].split("#", 1)[0]


def _json_values(values: list[float | None]) -> list[float | str | None]:
    """NoData values as strict JSON holds them: a float raster's NaN (or +-inf) as the text
    GDAL writes for it ("nan"); json.dump wrote the bare token NaN, which strict JSON
    readers refuse."""
    return [v if v is None or math.isfinite(v) else str(float(v)).lower() for v in values]


def manifest(d: ExportDescription) -> dict:
    return {
        "format": "landlearn-chips", "version": MANIFEST_VERSION,
        "source": shareable_source(d.source), "source_bands": d.source_bands, "band_names": d.band_names,
        "dtype": d.dtype, "nodata": _json_values(d.nodata), "crs": d.crs_wkt,
        "cell_size": list(d.cell_size), "grid_transform": list(d.grid_transform),
        "tile_size": list(d.tile_size), "stride": list(d.stride),
        "block_size": list(d.block_size),
        "block_rule": "block = (row_off // block_height) * blocks_per_row + col_off // "
                      "block_width, offsets from the export area's top-left pixel; a "
                      "rotated copy has its chip's block and offsets, and no bounds",
        **({"rotation_angle": d.rotation_angle} if d.rotation_angle else {}),
        **({"buffer_radius": d.buffer_radius} if d.buffer_radius else {}),
        **({"image_format": d.image_format} if d.image_format != "TIFF" else {}),
        **({"source_nodata": _json_values(d.source_nodata)}
           if d.source_nodata is not None else {}),
        "classes": [c.to_esri() for c in d.classes],
        "class_pixels": {str(k): v for k, v in d.class_pixels().items()},
        "chips": [c.to_json() for c in d.chips],
    }


def map_lines(d: ExportDescription) -> str:
    return "".join(f"{IMAGES}\\{c.image_name} {LABELS}\\{c.label_name}\n" for c in d.chips)


def stats_text(d: ExportDescription, summary: str) -> str:
    """A human-readable stats.txt, as ArcGIS writes one beside its exports."""
    lines = [summary, "", "Band statistics over valid chip pixels:"]
    for b in d.bands:
        lines.append(f"  {b.name}: min {b.minimum:g}, max {b.maximum:g}, mean {b.mean:.6g}, "
                     f"std {b.std:.6g} ({b.count} px)")
    return "\n".join(lines) + "\n"


def write_metadata(folder: str, d: ExportDescription, summary: str) -> None:
    """Write the four metadata files into ``folder`` (a staging folder: no atomicity needed)."""
    def dump(name: str, obj: dict) -> None:
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2)
            fh.write("\n")

    dump(STATS_JSON, accumulated_stats(d))
    dump(EMD, model_definition(d))
    dump(MANIFEST, manifest(d))
    with open(os.path.join(folder, MAP_TXT), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(map_lines(d))
    with open(os.path.join(folder, STATS_TXT), "w", encoding="utf-8") as fh:
        fh.write(stats_text(d, summary))


def legacy_export_files(folder: str) -> set[str] | None:
    """What an export of a LandLearn version before files.MARKER wrote, read from its own
    manifest: the metadata files and the listed chips, nothing else (so OVERWRITE on such
    a folder still touches only LandLearn's files)."""
    path = os.path.join(folder, MANIFEST)
    try:
        if os.path.getsize(path) > 256 << 20:
            return None
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        if manifest.get("format") != "landlearn-chips":
            return None
        files = {MAP_TXT, STATS_JSON, EMD, MANIFEST, STATS_TXT}
        for chip in manifest["chips"]:
            for key, sub in (("image", IMAGES), ("label", LABELS)):
                name = chip[key]
                if not isinstance(name, str) or not name.startswith(sub + "/") or \
                        "/" in name[len(sub) + 1:] or name.endswith("/.."):
                    return None
                files.add(name)
        return files
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
