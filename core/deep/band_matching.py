"""Which band of a pretrained encoder each training band takes its first-layer filters from.

A checkpoint pretrained on Sentinel-2 (SSL4EO-S12, torchgeo's SENTINEL2_ALL weights: 13
bands B01..B12 with B8A) or on RGB meets training chips with other bands. The rule,
applied to each training band in turn:

1. **By name**: the same band name once normalised (case, spaces, '_' and '-' ignored,
   "B2" read as "B02"), e.g. "B04" = "b4". Names are trusted only within one sensor.
2. **By wavelength**: when both sides know a centre wavelength, the nearest checkpoint
   band within 30 nm (or 5% of the wavelength, whichever is larger). A wavelength comes
   from a number with a unit in the name ("665nm", "0.665um"), a common name (blue,
   green, red, nir, swir1, red edge 1, ...), or a Sentinel-2 band name in its zero-padded
   form (B01..B12, B8A; "B2" could be Landsat's, and a Landsat B10/B11 is thermal, so
   name those by wavelength or as "thermal").
3. **Unmatched**: the mean of the checkpoint's filters over all its bands.

The checkpoint's bands are given as names (PRETRAINED_BANDS), as a preset (sentinel2,
sentinel2_l2a, landsat8, rgb, rgbn), or in a safetensors file's own metadata ("bands").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["BandMatch", "PRESETS", "match_bands", "parse_bands", "wavelength"]

_S2 = [("B01", 0.443), ("B02", 0.490), ("B03", 0.560), ("B04", 0.665), ("B05", 0.705),
       ("B06", 0.740), ("B07", 0.783), ("B08", 0.842), ("B8A", 0.865), ("B09", 0.945),
       ("B10", 1.375), ("B11", 1.610), ("B12", 2.190)]
_S2_WAVELENGTH = dict(_S2)
# common names (as in the STAC electro-optical extension) and their centre wavelengths, µm
_COMMON = {"COASTAL": 0.443, "BLUE": 0.490, "GREEN": 0.560, "RED": 0.665,
           "REDEDGE1": 0.705, "REDEDGE2": 0.740, "REDEDGE3": 0.783, "REDEDGE": 0.705,
           "NIR": 0.842, "NIR08": 0.865, "NARROWNIR": 0.865, "NIR09": 0.945,
           "WATERVAPOUR": 0.945, "CIRRUS": 1.375, "SWIR1": 1.610, "SWIR16": 1.610,
           "SWIR2": 2.190, "SWIR22": 2.190}
PRESETS: dict[str, list[tuple[str, float]]] = {
    "sentinel2": _S2,
    "sentinel2_l2a": [b for b in _S2 if b[0] != "B10"],
    "landsat8": [("coastal", 0.443), ("blue", 0.482), ("green", 0.562), ("red", 0.655),
                 ("nir", 0.865), ("swir1", 1.609), ("swir2", 2.201)],
    "rgb": [("red", 0.665), ("green", 0.560), ("blue", 0.490)],
    "rgbn": [("red", 0.665), ("green", 0.560), ("blue", 0.490), ("nir", 0.842)],
}
_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(nm|um|µm|micrometers?|nanometers?)", re.IGNORECASE)
MAX_BANDS = 1024


_PADDED = " (padded)"


def _raw(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).upper()


def normalised(name: str) -> str:
    n = _raw(name)
    m = re.fullmatch(r"B(\d)", n)
    return f"B0{m.group(1)}" if m else n


def wavelength(name: str) -> float | None:
    """The centre wavelength (µm) a band name tells, or None."""
    m = _UNIT.search(str(name))
    if m:
        value = float(m.group(1))
        return value / 1000 if m.group(2).lower().startswith("n") else value
    raw = re.sub(r"[\s_\-]", "", str(name)).upper()  # "B2" stays B2: Landsat's or Sentinel-2's?
    return _COMMON.get(raw) or _S2_WAVELENGTH.get(raw)


def parse_bands(text: str | None, parameter: str = "pretrained_bands"
                ) -> list[tuple[str, float | None]] | None:
    """A preset name or comma-separated band names -> [(name, wavelength or None)]."""
    if text is None or not str(text).strip():
        return None
    key = str(text).strip().lower()
    if key in PRESETS:
        return list(PRESETS[key])
    names = [n.strip() for n in str(text).split(",")]
    if any(not n for n in names) or len(names) > MAX_BANDS or any(len(n) > 64 for n in names):
        raise InputError(parameter, f"'{str(text)[:80]}' is neither a preset "
                         f"({', '.join(PRESETS)}) nor a comma-separated list of band names")
    return [(n, wavelength(n)) for n in names]


@dataclass(frozen=True)
class BandMatch:
    """For each training band, the checkpoint band index it takes, or None (mean filter)."""

    source: tuple[int | None, ...]
    how: tuple[str, ...]  # per training band: "B04 by name", "B8A by wavelength", "mean"

    @property
    def matched(self) -> int:
        return sum(1 for s in self.source if s is not None)

    def describe(self, names: list[str]) -> str:
        pairs = ", ".join(f"{n}<-{h}" for n, h in zip(names, self.how))
        padded = [n for n, h in zip(names, self.how) if h.endswith(_PADDED)]
        return (f"first convolution: {self.matched} of {len(self.source)} training bands "
                f"matched to the checkpoint's bands ({pairs})" + (
                    f"; {', '.join(padded[:4])} read as Sentinel-2's zero-padded names: if "
                    "they are another sensor's (Landsat's B4 is near infrared, Sentinel-2's "
                    "red), name the training bands by wavelength" if padded else ""))


def match_bands(ours: list[str], theirs: list[tuple[str, float | None]]) -> BandMatch:
    """The rule in the module docstring, for each of ``ours`` (training band names)."""
    by_name = {normalised(n): j for j, (n, _) in enumerate(theirs)}
    source, how = [], []
    for name in ours:
        j = by_name.get(normalised(name))
        if j is not None:
            source.append(j)
            # "B4" met "B04" only by the padding: Sentinel-2's, or another sensor's band
            a, b = _raw(name), _raw(theirs[j][0])
            padded = a != b and any(re.fullmatch(r"B\d", x) for x in (a, b))
            how.append(f"{theirs[j][0]} by name" + (_PADDED if padded else ""))
            continue
        w = wavelength(name)
        best = None
        if w is not None:
            near = [(abs(tw - w), j) for j, (_, tw) in enumerate(theirs) if tw is not None]
            if near:
                gap, j = min(near)
                if gap <= max(0.030, 0.05 * w):
                    best = j
        source.append(best)
        how.append(f"{theirs[best][0]} by wavelength" if best is not None else "mean")
    return BandMatch(tuple(source), tuple(how))
