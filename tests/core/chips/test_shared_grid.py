"""chips.shared_grid: folders in one CRS (compared as CRS) share one grid of blocks."""

from rasterio.crs import CRS

from landlearn.core.chips.shared_grid import crs_groups, share_blocks
from landlearn.core.chips.training_data import Chip

UTM33 = CRS.from_epsg(32633)


def _folder(folder, x0=0.0, y0=1000.0, n=4, size=100.0, stride=50.0, bounds=True):
    """n x n chips of ``size`` map units every ``stride`` from (x0, y0), top-left down;
    their own blocks numbered as Export Training Data would (by chip size)."""
    return [Chip(f"i{folder}_{r}_{c}", f"l{folder}_{r}_{c}", folder,
                 int(r * stride // size) * 100 + int(c * stride // size),
                 (x0 + c * stride, y0 - r * stride - size, x0 + c * stride + size, y0 - r * stride)
                 if bounds else None)
            for r in range(n) for c in range(n)]


def test_folders_in_one_crs_written_differently_share_their_places():
    # the same CRS as WKT2 and as GDAL's WKT1: one group; the second folder lies half a
    # block right and down of the first (another export's origin)
    a = _folder(0)
    b = _folder(1, x0=50.0, y0=950.0)
    other = _folder(2)
    out = share_blocks([a, b, other], [UTM33.to_wkt(), UTM33.to_wkt(version="WKT2_2019"),
                                       CRS.from_epsg(32634).to_wkt()])
    assert out[2] == other  # another CRS keeps its own blocks
    shared = out[0] + out[1]
    assert {c.region for c in shared} == {3} and {c.block_key[0] for c in shared} == {3}
    # a block is one place: every chip whose top-left corner lies in it, of either folder
    for c in shared:
        col, row = int(c.bounds[0] // 100), int((1000 - c.bounds[3]) // 100)
        assert c.block_key == (3, row * 3 + col)  # 3 block columns: corners at 0 .. 200
    key_at = {(c.folder, c.bounds[:2]): c.block_key for c in shared}
    assert key_at[(0, (100.0, 800.0))] == key_at[(1, (100.0, 800.0))]  # same place, both
    # chips keep everything else
    assert [(c.image, c.bounds) for c in out[0]] == [(c.image, c.bounds) for c in a]


def test_folders_that_cannot_be_compared_keep_their_own_blocks():
    a, b = _folder(0), _folder(1, bounds=False)
    assert share_blocks([a, b], [UTM33.to_wkt()] * 2) == [a, b]  # b not georeferenced
    assert share_blocks([a, _folder(1)], [UTM33.to_wkt(), None]) == [a, _folder(1)]
    assert share_blocks([a, _folder(1)], ["not a CRS", "not a CRS"]) == [a, _folder(1)]
    assert share_blocks([a], [UTM33.to_wkt()]) == [a]  # one folder: its export's blocks


def test_crs_groups_compare_coordinate_systems_not_text():
    # WKT1 with EPSG codes, and the same system from a PROJ string (no codes, other names)
    w1 = UTM33.to_wkt()
    w2 = CRS.from_proj4("+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs").to_wkt()
    other = CRS.from_epsg(3358).to_wkt()  # NAD83(HARN) / North Carolina
    assert w1 != w2
    assert crs_groups([w1, None, other, w2, "garbage", CRS.from_epsg(32119).to_wkt(), other]) \
        == [[0, 3], [2, 6]]
    assert crs_groups([w1]) == [] and crs_groups([]) == []


def test_folders_over_one_strip_in_two_utm_zones_are_found():
    """Two Sentinel-2 tiles of neighbouring UTM zones share a strip near 18 E: their blocks
    cannot be shared, so the overlap is reported; folders far apart, in one CRS (shared
    anyway) or without a CRS are not."""
    from rasterio.warp import transform

    from landlearn.core.chips.shared_grid import overlapping_apart

    # one place, 18.0 E 45.0 N, in each zone's coordinates
    (x33,), (y33,) = transform("EPSG:4326", UTM33, [18.0], [45.0])
    (x34,), (y34,) = transform("EPSG:4326", CRS.from_epsg(32634), [18.0], [45.0])
    a = _folder(0, x0=x33 - 200, y0=y33 + 200)
    b = _folder(1, x0=x34 - 200, y0=y34 + 200)
    far = _folder(2, x0=x34 + 200_000, y0=y34)
    z33, z34 = UTM33.to_wkt(), CRS.from_epsg(32634).to_wkt()
    assert overlapping_apart([a, b, far], [z33, z34, z34]) == [(0, 1)]
    # folders that only touch across the zones' common meridian (18 E): not overlapping,
    # though their boxes in degrees overlap (each UTM rectangle's box is slanted wider)
    (wx,), (wy,) = transform("EPSG:4326", UTM33, [18.0], [45.0])
    (ex,), (ey,) = transform("EPSG:4326", CRS.from_epsg(32634), [18.0], [45.0])
    west = _folder(0, x0=wx - 40_000, y0=wy + 20_000, size=10_000.0, stride=10_000.0)
    east = _folder(1, x0=ex + 500, y0=ey + 20_000, size=10_000.0, stride=10_000.0)
    assert overlapping_apart([west, east], [z33, z34]) == []
    assert overlapping_apart([a, _folder(1, x0=x33, y0=y33)], [z33, z33]) == []
    assert overlapping_apart([a, b], [z33, None]) == []


def test_equal_coordinate_systems_are_grouped_in_first_seen_order():
    from rasterio.crs import CRS

    from landlearn.core.chips.shared_grid import equal_groups

    a, b = CRS.from_epsg(32633), CRS.from_epsg(32618)
    assert equal_groups([a, None, b, CRS.from_wkt(a.to_wkt()), None]) == [[0, 3], [1, 4], [2]]


def test_a_turned_copy_takes_its_chips_block_beside_folders_of_larger_chips():
    """Folders of 30 m and 10 m chips in one CRS: a 10 m chip's 45-degree copy was placed
    by the 30 m chips' size round its centre, a block up and left of its chip (review,
    stop 66)."""
    from dataclasses import replace

    coarse = _folder(0, size=300.0, stride=300.0, n=3, y0=900.0)
    fine = _folder(1, x0=300.0, y0=600.0, size=100.0, stride=100.0, n=3)
    pad = 100 * (2 ** 0.5 - 1) / 2
    copies = [replace(c, image="t" + c.image, bounds=None, turn=45.0,
                      footprint=(c.bounds[0] - pad, c.bounds[1] - pad, c.bounds[2] + pad,
                                 c.bounds[3] + pad)) for c in fine]
    out = share_blocks([coarse, fine + copies], [UTM33.to_wkt()] * 2)
    keys = {c.image: c.block_key for c in out[1]}
    for c in fine:
        assert keys["t" + c.image] == keys[c.image]
