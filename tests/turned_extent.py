"""nc_landsat7 (NC State Plane) with an EXTENT given in UTM 17N, turned about 1.2 degrees
against it: the reprojected box's bounding box takes in slivers past the extent, where a
test area often lies. Shared by the pixel and object sample tests."""

import numpy as np


def nc_turned_extent(sample):
    """(image, strata, grid, extent, counted, inside): ``counted`` the labelled valid pixels
    of the extent's window on the image grid, ``inside`` those whose centres lie inside
    the extent itself."""
    import rasterio
    from rasterio.warp import transform, transform_bounds

    from landlearn.core.geo.extent import Extent, extent_to_window
    from landlearn.core.geo.grid import Grid

    nc = sample / "nc_landsat7"
    image, strata = str(nc / "landsat_multiband.tif"), str(nc / "strata.tif")
    with rasterio.open(image) as ds:
        b, grid = ds.bounds, Grid(ds.crs, ds.transform, ds.width, ds.height)
        valid = ds.read_masks(1) > 0
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    box = transform_bounds("EPSG:32119", "EPSG:32617", cx - 3000, cy - 3000, cx + 3000,
                           cy + 3000)
    ext = Extent(*box, crs="EPSG:32617")
    area = extent_to_window(ext, grid, centres=True)
    with rasterio.open(strata) as ds:
        lab = ds.read(1, window=area)
    rows, cols = np.mgrid[area.row_off:area.row_off + area.height,
                          area.col_off:area.col_off + area.width]
    xs, ys = rasterio.transform.xy(grid.transform, rows.ravel(), cols.ravel())
    ex, ey = (np.asarray(v).reshape(rows.shape) for v in transform("EPSG:32119", "EPSG:32617",
                                                                    xs, ys))
    inside = (ex >= box[0]) & (ex <= box[2]) & (ey >= box[1]) & (ey <= box[3])
    counted = (lab > 0) & valid[area.toslices()]
    return image, strata, grid, ext, counted, inside
