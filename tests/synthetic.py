"""Small synthetic rasters for edge cases (never for accuracy claims)."""

import os

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


def box_wkt(x0, y0, x1, y1) -> str:
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def polygons(path, boxes, epsg, real=False, text=False):
    """A GeoPackage of rectangles (value, (x0, y0, x1, y1)) with their value in field 'cls'
    (integer, or real for values such as 2.5, or text for class names); ``epsg`` None:
    written without a CRS, as GDAL does it ('Undefined geographic SRS')."""
    from osgeo import ogr, osr

    srs = None
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("polys", srs, ogr.wkbPolygon)
    kind = ogr.OFTString if text else ogr.OFTReal if real else ogr.OFTInteger
    layer.CreateField(ogr.FieldDefn("cls", kind))
    for value, box in boxes:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("cls", value)
        if box is not None:  # None: a row without a geometry
            x0, y0, x1, y1 = box
            f.SetGeometry(ogr.CreateGeometryFromWkt(box_wkt(x0, y0, x1, y1)))
        layer.CreateFeature(f)
    ds = None
    return str(path)


def tampered_npz(data: bytes, **change) -> bytes:
    """The .npz ``data`` with each named array replaced by ``change[name](array)``: damaged
    model files, for the checks that refuse them."""
    import io

    arrays = dict(np.load(io.BytesIO(data), allow_pickle=False))
    for key, fn in change.items():
        arrays[key] = fn(arrays[key])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def points(path, xys, epsg, field_type="integer"):
    """A GeoPackage of points (value, (x, y)) with their value in field 'cls'."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("points", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("cls", ogr.OFTString if field_type == "text" else ogr.OFTInteger))
    for value, (x, y) in xys:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("cls", value)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT({x} {y})"))
        layer.CreateFeature(f)
    ds = None
    return str(path)


def class_map_fixture():
    """(classes, grid) of the small styled class map write_class_map writes: two classes
    (values 1 and 3, one name with an ampersand), 600 x 300 px of 10 m in UTM 33N."""
    from rasterio.crs import CRS

    from landlearn.core.geo.classes import ClassInfo
    from landlearn.core.geo.grid import Grid

    classes = [ClassInfo(1, "water", (0, 0, 255)), ClassInfo(3, "forest & wood", (0, 128, 0))]
    return classes, Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 600, 300)


def write_class_map(path, **kw):
    """A class map through GeoTiffWriter in 256 px strips: 1 on the left third, 3 on the
    right, 0 (NoData) between; its array."""
    from rasterio.windows import Window

    from landlearn.core.geo.writer import GeoTiffWriter

    classes, grid = class_map_fixture()
    data = np.zeros((300, 600), np.uint8)
    data[:, :200] = 1
    data[:, 400:] = 3
    with GeoTiffWriter(path, grid, 1, np.uint8, nodata=0, classes=classes, **kw) as out:
        for c0 in range(0, 600, 256):
            win = Window(c0, 0, min(256, 600 - c0), 300)
            out.write(data[:, c0:c0 + 256], win)
    return data


def two_class_chips(folder, image, name="chips", tile=32):
    """``image`` (bands, h, w) labelled 1 on its left half and 2 on its right, exported as
    ``tile`` px chips into ``folder``/``name``; returns that folder."""
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.labels.base import LabelConfig

    labels = np.ones(image.shape[1:], np.uint8)
    labels[:, image.shape[2] // 2:] = 2
    img = write(folder / "img.tif", image)
    lab = write(folder / "lab.tif", labels, nodata=0)
    out = folder / name
    export_training_data(ExportConfig(img, LabelConfig(lab), str(out), tile_size_x=tile,
                                      tile_size_y=tile, stride_x=tile, stride_y=tile))
    return out


def kind_layer(path, rows, epsg=32633, field_type="string"):
    """A GeoPackage of rectangles with a text (or date) field 'kind' and a name 'label'."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("land", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("kind", ogr.OFTString if field_type == "string" else ogr.OFTDate))
    for value, (x0, y0, x1, y1) in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        if value is not None:
            f.SetField("kind", value)
        f.SetGeometry(ogr.CreateGeometryFromWkt(box_wkt(x0, y0, x1, y1)))
        layer.CreateFeature(f)
    ds = None
    return str(path)


def map_and_reference(tmp_path):
    """A 20 x 20 map (column 0 unclassified) and a reference with named classes."""
    mapped = np.ones((20, 20), np.uint8)
    mapped[10:] = 2
    mapped[:, 0] = 0
    reference = np.ones((20, 20), np.uint8)
    reference[12:] = 2  # rows 10-11 are class 1, mapped as 2
    (tmp_path / "ref_classes.txt").write_text("1 = water\n2 = forest\n")
    return (write(tmp_path / "map.tif", mapped, nodata=0),
            write(tmp_path / "ref.tif", reference, nodata=0))


def latin1_shapefile(folder, rows, epsg=32633):
    """A shapefile of rectangles (text, (x0, y0, x1, y1)) in field 'kind', its text in
    Latin-1 with no .cpg file nor code page byte saying so (what older software writes):
    GDAL hands the bytes over as they are."""
    from osgeo import gdal

    gpkg = kind_layer(os.path.join(folder, "utf8.gpkg"), rows, epsg)
    path = os.path.join(folder, "latin1.shp")
    gdal.VectorTranslate(path, gpkg, format="ESRI Shapefile",
                         layerCreationOptions=["ENCODING=UTF-8"])
    os.remove(os.path.join(folder, "latin1.cpg"))
    dbf = os.path.join(folder, "latin1.dbf")
    with open(dbf, "rb") as f:
        data = bytearray(f.read())
    data[29] = 0  # no code page
    for text, _ in rows:
        if text:  # same width: the record keeps its length (fields are space-padded)
            utf8 = text.encode("utf-8")
            latin = text.encode("latin-1")
            data = data.replace(utf8, latin + b" " * (len(utf8) - len(latin)))
    with open(dbf, "wb") as f:
        f.write(bytes(data))
    return path
