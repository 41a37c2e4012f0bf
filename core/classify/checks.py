"""Does this raster fit this model? Errors for what cannot work, warnings for what may not.

ArcGIS users get blank or nonsense maps from a band-order or scale mismatch and no word
about it. A wrong band count is an error; a different band order, data type, value range
or cell size is a warning that names the difference and the fix.
"""

from __future__ import annotations

import re

import numpy as np
import rasterio

from ..errors import InputError
from ..geo.grid import crs_units
from ..geo.raster import RasterSource, band_nodata
from ..model_package.info import ModelInfo

_GENERIC = re.compile(r"^(band[_ ]?\d+)?$", re.IGNORECASE)


def check_bands(source: RasterSource, info: ModelInfo, progress) -> None:
    if source.count != info.in_channels:
        raise InputError("bands", f"the model was trained on {info.in_channels} bands "
                         f"({', '.join(info.band_names)}) but {source.count} are selected from "
                         f"'{source.path}' (bands {source.bands}); choose {info.in_channels} "
                         "bands in BANDS, in the training order")
    mine = source.band_names
    theirs = info.band_names
    named = [(a, b) for a, b in zip(mine, theirs) if not _GENERIC.match(a) and not _GENERIC.match(b)]
    if named and any(a != b for a, b in named):
        progress.warning(f"Band names differ from the model's: raster {mine} vs model {theirs}. "
                         "If the order is different, set BANDS to match the training order.")
    elif (not named and info.source_bands and info.source_band_count == source.source_count
          and list(source.bands) != list(info.source_bands)):
        # generic names (Band_1 ...) tell nothing; a raster laid out as the training one
        # (as many bands) read in another order mapped 7,532 of 13,671 pixels otherwise,
        # unsaid (a qgis_process sweep, stop 67)
        progress.warning(f"BANDS {list(source.bands)} differ from the bands the model was "
                         f"trained on ({list(info.source_bands)} of a "
                         f"{info.source_band_count}-band raster, as this one is). If this "
                         "raster's bands are laid out as the training raster's, set BANDS to "
                         f"{list(info.source_bands)}.")


def bands_named_alike(path: str, info) -> str:
    """', e.g. BANDS 1;2;3;4' where the raster names each band the model was trained on,
    once (a 4-band copy of bands B04, B03, B02, B08 of a Sentinel-2 stack was refused as
    'band(s) [7] do not exist', the fix unsaid; a sweep, stop 69); '' otherwise."""
    try:
        with rasterio.open(path) as ds:
            names = [d or "" for d in ds.descriptions]
    except Exception:  # noqa: BLE001 - only a hint: the refusal stands either way
        return ""
    wanted = [n for n in info.band_names if not _GENERIC.match(n)]
    if len(wanted) != info.in_channels or any(names.count(n) != 1 for n in wanted):
        return ""
    found = [names.index(n) + 1 for n in wanted]
    return (f": this raster's bands named {', '.join(wanted)} are bands "
            f"{';'.join(map(str, found))}, so BANDS {';'.join(map(str, found))}")


def check_scaling(source: RasterSource, info: ModelInfo, progress) -> None:
    """Both sides read stored values: a raster declaring another GDAL scale or offset than
    the training raster (Sentinel-2 L2A's -1000 offset from processing baseline 04.00 on,
    say) holds numbers that mean other reflectances, a shift the value check (3 sd) can
    miss. Packages from before this was recorded say nothing: only a raster declaring
    scaling is then named."""
    here = source.scaling
    if here == info.source_scaling:
        return
    if not info.scaling_known:
        return  # an older package: what its raster declared is unknown
    progress.warning(f"The raster declares scale and offset {here or 'none (1, 0)'} for its "
                     f"bands, the model's training raster {info.source_scaling or 'none (1, 0)'}"
                     ": LandLearn reads stored values as training did, so these mean other "
                     "physical values; convert one raster to the other's scaling (e.g. "
                     "gdal_translate -unscale) before classifying")


def check_values(source: RasterSource, info: ModelInfo, progress) -> None:
    """Compare a sample of the raster's pixels with the training statistics."""
    if info.dtype and np.dtype(info.dtype) != source.dtype:
        progress.warning(f"The raster is {source.dtype.name} but the model was trained on "
                         f"{info.dtype} chips; check that the values mean the same thing.")
    # a few dozen small windows spread over the source raster: bounded time at any raster
    # size (a decimated read of a huge or resampled raster is not), cancellable between them
    data = source.sample(progress)
    if data.shape[1] == 0:
        return
    _undeclared_nodata(data, source, info, progress)
    # a band's own NoData where other bands hold data is no value (the network reads the
    # band's mean there): counted, one band's -99999 hole made its mean -2862, "far"
    holes = band_nodata(data, source.nodata)
    mean = data.mean(axis=1) if holes is None else np.array([
        band[~hole].mean() if (~hole).any() else value
        for band, hole, value in zip(data, holes, info.value_mean)])
    z = np.abs(mean - info.value_mean) / np.where(info.value_std > 0, info.value_std, 1.0)
    far = [f"{name}: {m:.4g} vs {t:.4g}" for name, m, t, zz in
           zip(info.band_names, mean, info.value_mean, z) if zz > 3]
    if far:
        progress.warning("The raster's band means are far (> 3 standard deviations) from the "
                         f"training data's: {'; '.join(far[:4])}. Results may be poor: check "
                         "the bands, units and scaling (e.g. reflectance x 10000).")


def _undeclared_nodata(data: np.ndarray, source: RasterSource, info: ModelInfo,
                       progress) -> None:
    """The training chips' NoData (-99999, say) held by the raster's pixels while the raster
    declares none: a copy that lost its NoData tag had its fill (15% of the image)
    classified as land cover, and pixels near it, read by the network with the fill as
    context, lost their class too; the only word was that band means were far (sweep,
    stop 69). Said with the share and the fix; the fill is not guessed away."""
    if info.nodata is None or any(nd is not None for nd in source.nodata):
        return
    held = np.all(data == np.asarray(info.nodata, dtype=np.float64), axis=0)
    if held.mean() >= 0.001:
        progress.warning(f"{held.mean():.1%} of the sampled pixels hold {info.nodata:g} in "
                         "every band, the training data's NoData, but the raster declares no "
                         "NoData: they are classified as land cover, and their neighbours "
                         "with them as context. Set the raster's NoData to "
                         f"{info.nodata:g} (Layer Properties > Transparency, or gdal_edit "
                         f"-a_nodata {info.nodata:g}) and run again.")


def check_cell_size(source: RasterSource, info: ModelInfo, progress) -> None:
    if not info.cell_size or source.grid.crs is None:
        return
    units = crs_units(source.grid.crs)
    if info.crs_units and units != info.crs_units:
        progress.warning(f"The raster's CRS units ({units}) differ from the training data's "
                         f"({info.crs_units}); cell sizes cannot be compared.")
        return
    ratio = source.grid.res[0] / info.cell_size[0]
    if info.counts_pixels and abs(ratio - 1) > 0.05:
        progress.warning(f"The raster's cell size ({source.grid.res[0]:g}) is {ratio:.2f}x the "
                         f"model's ({info.cell_size[0]:g}), and the model describes segments "
                         f"by their pixel COUNT, which then reads {1 / ratio ** 2:.2f}x what "
                         f"training saw for the same object. Set CELL_SIZE="
                         f"{info.cell_size[0]:g} and segment the resampled raster, or train "
                         "without COUNT.")
        return
    if ratio > 1.5 or ratio < 1 / 1.5:
        progress.warning(f"The raster's cell size ({source.grid.res[0]:g}) is {ratio:.2f}x the "
                         f"model's ({info.cell_size[0]:g}); objects will look "
                         f"{'smaller' if ratio > 1 else 'larger'} than in training. Set "
                         f"CELL_SIZE={info.cell_size[0]:g} to resample.")
