"""What a model package says about itself, as the classify engine needs it.

Built from an .emd that passed the schema (package_schema), so every field is there and
in range: class values and names, bands and their statistics, tile, padding, cell size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geo.classes import ClassInfo
from .format import PackagedModel

__all__ = ["ModelInfo", "model_info"]


@dataclass
class ModelInfo:
    kind: str
    class_values: list[int]
    class_names: list[str]
    class_colors: list[tuple[int, int, int]]
    band_names: list[str]
    source_bands: list[int] | None
    source_band_count: int | None
    in_channels: int
    mean: np.ndarray
    std: np.ndarray
    dtype: str | None
    cell_size: tuple[float, float] | None
    crs_units: str | None
    tile: int
    padding: int
    # the training pixels' own statistics, for the value check: deep models normalise
    # with them, classical ones standardise inside the model (mean 0, std 1 above)
    value_mean: np.ndarray
    value_std: np.ndarray
    # probabilities become p^(1/T), renormalised (accuracy.calibration); 1 = raw scores
    temperature: float = 1.0
    # the temperature of the TTA map (four flipped passes averaged); packages from before
    # it was fitted use ``temperature`` for both
    tta_temperature: float = 1.0
    # GDAL's [scale, offset] of the training raster's bands (None: none declared), and
    # whether the package says (packages from before 2026-12-05 do not)
    source_scaling: list[list[float]] | None = None
    scaling_known: bool = False
    # an object-based model describing segments by their pixel COUNT: a count that does
    # not scale with the cell size (2x the cells: a quarter of the pixels)
    counts_pixels: bool = False
    # the network's architecture (unet, fpn ...; None: classical, or not said): how much
    # memory a pass takes per pixel (classify.memory)
    architecture: str | None = None
    # its encoder (resnet34 ...) and whether it has the detail head: ONNX Runtime's memory
    # per pixel differs by encoder (classify.memory)
    encoder: str | None = None
    detail_head: bool = False
    # networks averaged in one pass (ENSEMBLE_SIZE): each past the first holds its scores
    members: int = 1
    # the training raster's NoData (None: none, or not said: classical packages before
    # stop 69)
    nodata: float | None = None

    @property
    def classes(self):
        return [ClassInfo(v, n, c) for v, n, c in
                zip(self.class_values, self.class_names, self.class_colors)]


def _temperatures(cal: dict) -> dict:
    t = float(cal.get("temperature", 1.0))
    return {"temperature": t, "tta_temperature": float((cal.get("tta") or {}).get(
        "temperature", t))}


def _number(value) -> float | None:
    """A finite number from the package's description, or None (absent, a list, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if np.isfinite(value) else None


def model_info(pkg: PackagedModel) -> ModelInfo:
    info = pkg.landlearn
    try:
        values = [int(v) for v in info["class_values"]]
        by_value = {int(c["Value"]): c for c in pkg.emd["Classes"]}
        norm = info["normalization"]
        return ModelInfo(
            kind=info.get("kind", "deep"), class_values=values,
            class_names=[str(by_value[v]["Name"]) for v in values],
            class_colors=[tuple(int(x) for x in by_value[v]["Color"][:3]) for v in values],
            band_names=list(info["band_names"]), source_bands=info.get("source_bands"),
            source_band_count=info.get("source_band_count"),
            in_channels=int(info["in_channels"]), mean=np.asarray(norm["mean"], np.float32),
            std=np.asarray(norm["std"], np.float32), dtype=info.get("dtype"),
            cell_size=tuple(info["cell_size"]) if info.get("cell_size") else None,
            crs_units=info.get("crs_units"), tile=int(pkg.emd.get("ImageWidth", 256)),
            padding=int(info.get("padding", pkg.emd.get("ModelPadding", 32))),
            value_mean=np.asarray(norm.get("sample_mean", norm["mean"]), np.float64),
            value_std=np.asarray(norm.get("sample_std", norm["std"]), np.float64),
            source_scaling=info.get("source_scaling"),
            scaling_known="source_scaling" in info,
            architecture=(str(info["architecture"]) if isinstance(info.get("architecture"), str)
                          else None),
            encoder=str(info["encoder"]) if isinstance(info.get("encoder"), str) else None,
            detail_head=info.get("detail_head") is True,
            members=int(info.get("ensemble_members") or 1),
            counts_pixels="COUNT" in ((info.get("segments") or {}).get("attributes") or ()),
            nodata=_number(info.get("nodata")),
            **_temperatures(info.get("calibration") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError("model", f"'{pkg.path}' has an incomplete model description "
                         f"(.emd): {exc}") from exc
