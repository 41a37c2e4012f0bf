"""What every benchmark needs: the plugin importable as `landlearn`, the data sets, and
writing its section of BENCHMARKS.md between markers (re-runs replace it)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from paths import SAMPLE, SHARED, ensure_importable  # noqa: E402

ensure_importable()

__all__ = ["ROOT", "SAMPLE", "SHARED", "split_osm_polygons", "write_section"]


def write_section(path: Path, text: str, key: str) -> None:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    body = path.read_text() if path.exists() else "# LandLearn benchmarks\n\n"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[:body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    path.write_text(body)


def split_osm_polygons(tmp: Path) -> tuple[Path, Path]:
    """s2_osm_sparse's OSM polygons split 80/20 by polygon (seeded): (train, test) GeoPackages
    with the text class field 'fclass'; the held-out split every s2 benchmark scores on."""
    import numpy as np
    from osgeo import ogr

    src = ogr.Open(str(SHARED / "s2_osm_sparse" /
                       "gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"))
    layer = src.GetLayer(0)
    rng = np.random.default_rng(0)
    drv = ogr.GetDriverByName("GPKG")
    outs = {}
    for part in ("train", "test"):
        ds = drv.CreateDataSource(str(tmp / f"osm_{part}.gpkg"))
        outs[part] = (ds, ds.CreateLayer("osm", layer.GetSpatialRef(), ogr.wkbMultiPolygon))
        outs[part][1].CreateField(ogr.FieldDefn("fclass", ogr.OFTString))
    for feat in layer:
        part = "test" if rng.random() < 0.2 else "train"
        f = ogr.Feature(outs[part][1].GetLayerDefn())
        f.SetField("fclass", feat.GetField("fclass"))
        f.SetGeometry(ogr.ForceToMultiPolygon(feat.GetGeometryRef().Clone()))
        outs[part][1].CreateFeature(f)
    outs = None  # noqa: F841 - closes both files
    return tmp / "osm_train.gpkg", tmp / "osm_test.gpkg"
