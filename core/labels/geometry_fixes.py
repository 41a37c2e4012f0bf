"""Label and mask geometries made fit to burn: repaired without changing their kind,
densified before reprojection, points widened to discs.
"""

from __future__ import annotations

import math

__all__ = ["DENSIFY_PIXELS", "densify", "disc", "made_valid", "solid"]

# vertices this many pixels apart on edges reprojected: a chord of 16 px strays L^2 / 8R
# from the curve it stands for (0.07 m for 16 x 30 m on a parallel at 46 N in UTM, radius
# ~6,200 km; under 1% of a pixel down to a 100 km radius), where a vertex per pixel made
# 20,000 field polygons over a 0.3 m mosaic some 66 million vertices (review 92)
DENSIFY_PIXELS = 16


def made_valid(geom):
    """An invalid geometry made valid, overlapping polygon parts as their union.

    Why not plain MakeValid: GEOS's default ("linework") keeps the area an odd number of
    rings enclose, so two parts of a multipolygon (QGIS's Add Part) lost their overlap and
    a part inside another became a hole in it: 100 of 700 px of a field unlabelled, or
    burnt with the class under it (a qgis_process sweep, stop 66). The "structure" method
    (GDAL >= 3.4 with GEOS >= 3.10) unions the parts' shells and takes the union of their
    holes out. Where it is missing, ``_structure`` does the same with unions and a
    difference of rings each mended as GEOS's GeometryFixer mends them.
    """
    if geom.GetDimension() != 2:
        return geom.MakeValid()
    if _has_structure():
        fixed = geom.MakeValid(["METHOD=STRUCTURE"])
        if fixed is not None:
            return fixed
    return _structure(geom) or geom.MakeValid()


_STRUCTURE: list[bool] = []  # asked once: on an older GEOS each call logs a GDAL error


def _has_structure() -> bool:
    if not _STRUCTURE:
        from osgeo import ogr

        bow = ogr.CreateGeometryFromWkt("POLYGON((0 0,1 1,1 0,0 1,0 0))")
        try:
            with _quiet():
                _STRUCTURE.append(bow.MakeValid(["METHOD=STRUCTURE"]) is not None)
        except (RuntimeError, TypeError):  # exceptions on, or a binding without options
            _STRUCTURE.append(False)
    return _STRUCTURE[0]


def _quiet():
    from osgeo import gdal

    class Quiet:
        def __enter__(self):
            gdal.PushErrorHandler("CPLQuietErrorHandler")

        def __exit__(self, *exc):
            gdal.PopErrorHandler()

    return Quiet()


def _structure(geom):
    """The "structure" method's area without it: per polygon, its shell mended less the
    union of its holes mended; the polygons unioned. None where nothing is left."""
    from osgeo import ogr

    def ring_area(ring):
        # as GEOS's GeometryFixer mends a ring: a zero buffer of it in both orientations,
        # unioned (one orientation drops the lobes a crossing ring winds the other way;
        # plain MakeValid made a ring that runs round twice a square with a hole: 64 of 100)
        area = None
        for step in (1, -1):
            points = ring.GetPoints() or []
            turned = ogr.Geometry(ogr.wkbLinearRing)
            for point in points[::step]:
                turned.AddPoint_2D(point[0], point[1])
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometry(turned)
            part = poly.Buffer(0)
            area = part if area is None else area.Union(part)
        return area

    kind = ogr.GT_Flatten(geom.GetGeometryType())
    if kind == ogr.wkbPolygon:
        polygons = [geom]
    elif kind in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        polygons = [geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount())
                    if ogr.GT_Flatten(geom.GetGeometryRef(i).GetGeometryType())
                    == ogr.wkbPolygon]
    else:  # curves: linearized by the callers before this
        return None
    union = None
    for poly in polygons:
        if poly.GetGeometryCount() == 0:
            continue
        shell = ring_area(poly.GetGeometryRef(0))
        for i in range(1, poly.GetGeometryCount()):
            hole = ring_area(poly.GetGeometryRef(i))
            if shell is not None and hole is not None:
                shell = shell.Difference(hole)
        if shell is not None and not shell.IsEmpty():
            union = shell if union is None else union.Union(shell)
    return union


def solid(geom, dimension: int):
    """The parts of a repaired geometry of the original's dimension (MakeValid keeps what
    collapsed: a polygon's zero-width spike came back as a line, burnt as a one-pixel line
    of labels; review 97), or None when nothing of it is left."""
    from osgeo import ogr

    if geom is None or geom.IsEmpty():
        return None
    if geom.GetDimension() == dimension and \
            ogr.GT_Flatten(geom.GetGeometryType()) != ogr.wkbGeometryCollection:
        return geom
    parts = [geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount())] \
        if ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbGeometryCollection else [geom]
    kept = ogr.Geometry(ogr.wkbGeometryCollection)
    for part in parts:
        if part is not None and not part.IsEmpty() and part.GetDimension() == dimension:
            kept.AddGeometry(part)
    if not kept.GetGeometryCount():
        return None
    # one multipart geometry of that kind, as GeoJSON readers all take
    force = {2: ogr.ForceToMultiPolygon, 1: ogr.ForceToMultiLineString,
             0: ogr.ForceToMultiPoint}.get(dimension)
    return force(kept) if force else kept


def densify(geom, step: float) -> None:
    """Vertices at most ``step`` apart along the edges, or as many as 20,000 per envelope
    diagonal (a country's polygon over a county's image stays a few thousand vertices)."""
    xmin, xmax, ymin, ymax = geom.GetEnvelope()
    geom.Segmentize(max(step, math.hypot(xmax - xmin, ymax - ymin) / 20_000))


def disc(point, radius: float):
    """A point (or multipoint) as discs of ``radius`` with the point itself kept in the
    collection: a disc under half a pixel wide covers no pixel centre, and the point's own
    pixel must stay labelled."""
    from osgeo import ogr

    both = ogr.Geometry(ogr.wkbGeometryCollection)
    both.AddGeometry(point.Buffer(radius, 16))
    both.AddGeometry(point)
    return both
