"""labels.geometry_fixes: geometries repaired without changing kind, points as discs."""

import pytest

from landlearn.core.labels.geometry_fixes import disc, solid


def test_a_repaired_polygon_keeps_no_collapsed_line():
    """MakeValid keeps what collapses: a polygon with a zero-width spike came back with a
    line, burnt as a one-pixel line of labels (review 97); only its polygons are kept."""
    from osgeo import ogr

    spike = ogr.CreateGeometryFromWkt(
        "POLYGON((0 0,10 0,10 10,5 10,5 20,5 10,0 10,0 0))")  # a spike up and back
    assert not spike.IsValid()
    fixed = solid(spike.MakeValid(), spike.GetDimension())
    assert fixed is not None and fixed.GetDimension() == 2
    assert fixed.GetArea() == pytest.approx(100.0)
    assert all(fixed.GetGeometryRef(i).GetDimension() == 2
               for i in range(fixed.GetGeometryCount()))
    line = ogr.CreateGeometryFromWkt("POLYGON((0 0,10 0,0 0))")  # collapsed entirely
    assert solid(line.MakeValid(), 2) is None


def test_a_point_becomes_a_disc_that_keeps_the_point_itself():
    from osgeo import ogr

    point = ogr.CreateGeometryFromWkt("POINT(100 200)")
    both = disc(point, 15.0)
    assert both.GetGeometryCount() == 2
    circle, kept = both.GetGeometryRef(0), both.GetGeometryRef(1)
    assert circle.GetArea() == pytest.approx(3.14159 * 225, rel=0.01)
    assert kept.ExportToWkt() == "POINT (100 200)"


class _OldGeos:
    """A multipolygon as GDAL on a GEOS older than 3.10 shows it: no "structure" method."""

    def __init__(self, geom):
        self.geom = geom

    def __getattr__(self, name):
        return getattr(self.geom, name)

    def MakeValid(self, options=None):  # noqa: N802 - OGR's name
        return None if options else self.geom.MakeValid()


def test_overlapping_parts_are_made_valid_as_their_union_on_any_geos():
    from osgeo import ogr

    from landlearn.core.labels.geometry_fixes import made_valid

    two = ogr.CreateGeometryFromWkt("MULTIPOLYGON(((0 0,5 0,5 5,0 5,0 0)),((3 3,8 3,8 8,3 8,3 3)),"
                                    "((1 1,2 1,2 2,1 2,1 1)))")
    assert not two.IsValid() and two.MakeValid().GetArea() < 46  # GEOS's default: the XOR
    assert made_valid(two).GetArea() == 46
    assert made_valid(_OldGeos(two)).GetArea() == 46
    line = ogr.CreateGeometryFromWkt("LINESTRING(0 0,1 1)")
    assert made_valid(line).GetArea() == 0 and made_valid(line).GetDimension() == 1


@pytest.mark.parametrize("wkt", [
    "MULTIPOLYGON(((0 0,5 0,5 5,0 5,0 0)),((3 3,8 3,8 8,3 8,3 3)))",  # parts that overlap
    "MULTIPOLYGON(((0 0,10 0,10 10,0 10,0 0)),((2 2,4 2,4 4,2 4,2 2)))",  # a part in another
    "POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,5 1,5 5,1 5,1 1),(3 3,7 3,7 7,3 7,3 3))",  # holes
    "POLYGON((0 0,4 0,4 4,0 4,0 0),(2 2,6 2,6 3,2 3,2 2))",  # a hole past its shell
    "POLYGON((0 0,2 2,2 0,0 2,0 0))",  # a ring that crosses itself
    # a ring round a square and back round its hole: plain MakeValid of the ring gave 64
    "POLYGON((0 0,10 0,10 10,0 10,0 0,2 2,8 2,8 8,2 8,2 2,0 0))",
    "MULTIPOLYGON(((0 0,2 2,2 0,0 2,0 0)),((1 0,3 0,3 2,1 2,1 0)))",  # a bow tie on a part
])
def test_the_fallback_gives_the_structure_methods_area(wkt):
    """Where GEOS lacks the "structure" method (before 3.10), rings made valid one by one
    give its area (plain MakeValid differs wherever holes overlap or leave their shell)."""
    from osgeo import ogr

    from landlearn.core.labels.geometry_fixes import _structure

    geom = ogr.CreateGeometryFromWkt(wkt)
    assert not geom.IsValid()
    want = geom.MakeValid(["METHOD=STRUCTURE"]).GetArea()
    assert _structure(geom).GetArea() == pytest.approx(want)
