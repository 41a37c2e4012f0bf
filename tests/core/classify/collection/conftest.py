"""A collection of real items: the nc_landsat7 scene cut into four overlapping tiles."""

import pytest


@pytest.fixture(scope="session")
def nc_tiles(sample, tmp_path_factory):
    """(folder of 4 GeoTIFF items, their windows in the scene, the scene's path)."""
    import rasterio
    from rasterio.windows import Window

    scene = sample / "nc_landsat7" / "landsat_multiband.tif"
    folder = tmp_path_factory.mktemp("tiles")
    windows = {"a": Window(0, 0, 260, 240), "b": Window(250, 0, 239, 240),
               "c": Window(0, 230, 260, 213), "d": Window(250, 230, 239, 213)}
    with rasterio.open(scene) as src:
        for name, win in windows.items():
            profile = dict(src.profile, width=int(win.width), height=int(win.height),
                           transform=src.window_transform(win))
            with rasterio.open(folder / f"tile_{name}.tif", "w", **profile) as dst:
                dst.write(src.read(window=win))
    return folder, windows, str(scene)


@pytest.fixture(scope="session")
def scene_map(rf, nc_tiles, tmp_path_factory):
    """The random forest's one-process map of the whole scene: what every mode must give."""
    import rasterio

    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels

    out = tmp_path_factory.mktemp("scene") / "scene.tif"
    classify_pixels(ClassifyConfig(nc_tiles[2], str(rf[0]), str(out)))
    with rasterio.open(out) as ds:
        return ds.read(1)
