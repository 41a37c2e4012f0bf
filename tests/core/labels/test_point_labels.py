"""labels.point_labels: each point's own pixel under BUFFER_RADIUS's discs, radii in the
wrong units refused, discs of different classes that meet counted."""

import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import Grid
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.point_labels import check_radius
from landlearn.core.labels.vector_labels import VectorLabels
from landlearn.core.progress import RecordingProgress
from synthetic import points

GRID = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 60, 60)


def test_a_later_disc_leaves_an_earlier_points_own_pixel_its_class(tmp_path):
    """Point 1 at pixel (15, 15), point 2 two pixels east: 2's 52 m disc covered 1's
    pixel, and rasterized in order, class 2 took it."""
    path = points(tmp_path / "p.gpkg", [(1, (500155, 4999845)), (2, (500175, 4999845))], 32633)
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(path, class_field="cls", buffer_radius=52.0), GRID,
                          progress)
    arr = labels.read(GRID.full_window)
    assert arr[15, 15] == 1 and arr[15, 17] == 2
    assert arr[15, 16] == 2 and arr[15, 13] == 2 and arr[15, 11] == 1  # overlap: the later class
    ids = labels.read_ids(GRID.full_window)
    assert ids[15, 15] == 1 and ids[15, 17] == 2
    assert any(m.startswith("BUFFER_RADIUS: the discs of 2 of 2 points meet a disc of "
                            "another class") for m in progress.warnings)
    # apart (and of one class) nothing is said
    far = points(tmp_path / "far.gpkg", [(1, (500155, 4999845)), (2, (500455, 4999545))], 32633)
    quiet = RecordingProgress()
    VectorLabels(LabelConfig(far, class_field="cls", buffer_radius=52.0), GRID, quiet)
    assert not [m for m in quiet.warnings if "BUFFER_RADIUS" in m]


def test_radii_in_the_wrong_units_or_wider_than_the_raster_are_refused():
    degrees = Grid(CRS.from_epsg(4326), from_origin(10, 50, 0.001, 0.001), 100, 100)
    with pytest.raises(InputError, match=r"^BUFFER_RADIUS: 50 is in the raster CRS's units, "
                                         r"degrees: .* about 0.00045 degrees"):
        check_radius(50, degrees)
    check_radius(0.0005, degrees)
    with pytest.raises(InputError, match=r"^BUFFER_RADIUS: 1e\+06 metre is more than the "
                                         r"raster's diagonal \(848.5 metre\)"):
        check_radius(1e6, GRID)
    check_radius(100, GRID)


def test_nc_field_points_keep_their_own_class_under_wide_discs(shared):
    """nc_landsat7's 752 field points (landsat96_points) at a 300 m radius: 136 points'
    own pixels carried another point's class (measured through qgis_process)."""
    nc = shared / "nc_landsat7"
    image, pts = nc / "landsat_multiband.tif", nc / "landsat96_points.shp"
    if not pts.exists():
        pytest.skip("landsat96_points.shp not in the shared data")
    with RasterSource(str(image)) as src:
        grid = src.grid
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(str(pts), class_field="id", buffer_radius=300.0), grid,
                          progress)
    rows, cols, values = VectorLabels(LabelConfig(str(pts), class_field="id"), grid,
                                      RecordingProgress()).point_cells()
    arr = labels.read(grid.full_window)
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    # two points in one pixel: the later one's class, as without a radius
    last = {}
    for r, c, v in zip(rows[inside], cols[inside], values[inside]):
        last[(r, c)] = v
    wrong = [(r, c) for (r, c), v in last.items() if arr[r, c] != v]
    assert len(last) > 500 and not wrong
    assert any("meet a disc of another class" in m for m in progress.warnings)


def test_each_point_knows_its_feature():
    """MultiPoint features hold several points: Assess Accuracy counts points and features
    apart through these owners."""
    from landlearn.core.labels.point_labels import point_owners

    geoms = [{"type": "MultiPoint", "coordinates": [(0, 0), (1, 1), (2, 2)]},
             {"type": "Point", "coordinates": (5, 5)},
             {"type": "MultiPoint", "coordinates": [(3, 3)]}]
    assert point_owners(geoms).tolist() == [0, 0, 0, 1, 2]
    assert point_owners([]).tolist() == []
