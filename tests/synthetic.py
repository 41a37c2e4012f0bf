"""Small synthetic rasters for edge cases (never for accuracy claims)."""

import numpy as np
import rasterio
from rasterio.transform import from_origin


def write(path, data, crs="EPSG:32633", transform=None, nodata=None, **extra):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or from_origin(500000, 5000000, 10, 10)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata, **extra) as ds:
        ds.write(data)
    return str(path)
