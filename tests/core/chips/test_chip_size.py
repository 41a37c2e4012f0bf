"""The automatic chip size rule on label footprints (synthetic: the rule's edge cases; the
real-data case is in test_export_training_data)."""

from rasterio.windows import Window

from landlearn.core.chips.chip_size import (
    DENSE_BELOW,
    MIN_LABELLED_BLOCKS,
    auto_tile,
    labelled_blocks,
    resolve_chip_size,
)


class Footprint:
    """Labels inside one pixel rectangle (col0, row0, col1, row1); counts the questions."""

    def __init__(self, box):
        self.box, self.asked = box, 0

    def holds_labels(self, win: Window) -> bool:
        self.asked += 1
        c0, r0, c1, r1 = self.box
        return (win.col_off < c1 and c0 < win.col_off + win.width
                and win.row_off < r1 and r0 < win.row_off + win.height)


def test_large_labelled_area_keeps_256_and_stops_counting_early():
    labels = Footprint((0, 0, 100_000, 100_000))
    assert auto_tile(labels, Window(0, 0, 100_000, 100_000)) == (256, MIN_LABELLED_BLOCKS)
    assert labels.asked == MIN_LABELLED_BLOCKS  # not the 152,000 blocks of the raster


def test_small_areas_get_smaller_chips():
    # nc's west half: 245 x 443 px, labelled everywhere: 2 blocks of 256, 8 of 128, 28 of 64
    assert auto_tile(Footprint((0, 0, 245, 443)), Window(0, 0, 245, 443))[0] == 64
    # labels in a corner of a large raster count, not the raster
    corner = Footprint((0, 0, 300, 300))
    assert auto_tile(corner, Window(0, 0, 10_000, 10_000))[0] == 64  # 5 x 5 blocks of 64
    assert labelled_blocks(corner, Window(0, 0, 10_000, 10_000), (128, 128), 100) == 9


def test_nothing_large_enough_falls_to_32_and_says_so():
    size = resolve_chip_size((0, 0), (0, 0), Footprint((0, 0, 50, 50)), Window(0, 0, 100, 101))
    assert size.tile == (32, 32) and size.stride == (8, 8)  # a small area: a quarter chip
    assert "only 4 do at 32 px" in size.why
    assert "stride 8 x 8 px (a quarter of a chip: the labels lie in 4 chip-sized blocks" in size.why


def test_the_automatic_stride_is_a_quarter_chip_on_small_labelled_areas_only():
    # nc's west half: 28 labelled blocks of 64 px (115 kPix): a quarter
    nc = resolve_chip_size((0, 0), (0, 0), Footprint((0, 0, 245, 443)), Window(0, 0, 245, 443))
    assert nc.tile == (64, 64) and nc.stride == (16, 16)
    # s2_osm_sparse's scene: 18 blocks of 256 px (1.2 MPix): half
    s2 = resolve_chip_size((0, 0), (0, 0), Footprint((0, 0, 1536, 768)), Window(0, 0, 1536, 768))
    assert s2.tile == (256, 256) and s2.stride == (128, 128) and "(half a chip)" in s2.why
    # counting stops once the area is large enough: not the 152,000 blocks of the raster
    labels = Footprint((0, 0, 100_000, 100_000))
    big = resolve_chip_size((0, 0), (0, 0), labels, Window(0, 0, 100_000, 100_000))
    assert big.stride == (128, 128)
    # and the stride reuses the chip size's count (16 blocks of 256 px are over 0.5 MPix)
    # rather than scanning again
    assert -(-DENSE_BELOW // 256 ** 2) <= MIN_LABELLED_BLOCKS
    assert labels.asked == MIN_LABELLED_BLOCKS
    # labels in one corner of a large area: the chip size's scans went through every block
    # and found 9 at 32 px, an exact count the stride uses without a fifth scan
    corner = Footprint((0, 0, 90, 90))
    sparse = resolve_chip_size((0, 0), (0, 0), corner, Window(0, 0, 1024, 1024))
    assert sparse.tile == (32, 32) and sparse.stride == (8, 8) and "in 9 chip-sized" in sparse.why
    assert corner.asked == sum((1024 // side) ** 2 for side in (256, 128, 64, 32))
    # just under and at the threshold, with given 64 x 32 chips
    need = -(-DENSE_BELOW // (64 * 32))  # labelled blocks that make 0.5 MPix
    under = Footprint((0, 0, 64, 32 * (need - 1)))
    at = Footprint((0, 0, 64, 32 * need))
    window = Window(0, 0, 64, 100_000)
    assert resolve_chip_size((64, 32), (0, 0), under, window).stride == (16, 8)
    assert resolve_chip_size((64, 32), (0, 0), at, window).stride == (32, 16)


def test_given_sizes_are_kept_and_one_axis_follows_the_other():
    labels = Footprint((0, 0, 10, 10))
    assert resolve_chip_size((200, 100), (50, 60), labels, Window(0, 0, 10, 10)).why == ""
    assert labels.asked == 0  # nothing automatic: the labels are not asked
    one = resolve_chip_size((0, 96), (0, 0), labels, Window(0, 0, 10, 10))
    assert one.tile == (96, 96) and one.stride == (24, 24)  # one labelled block: a quarter
    # said as the user's size taken on both sides, not as a size chosen for them
    assert one.why.startswith("Automatic chip size (for TILE_SIZE_X/Y, STRIDE_X/Y left at "
                              "0): square 96 x 96 px chips (TILE_SIZE_Y's size on both sides)")
    # one stride given: the other takes its share of its own chip (STRIDE_X=64 on 64 px
    # chips that touch took a quarter-chip STRIDE_Y, 75% overlap unasked)
    stride = resolve_chip_size((80, 40), (0, 7), labels, Window(0, 0, 10, 10))
    assert stride.tile == (80, 40) and stride.stride == (14, 7)
    touch = resolve_chip_size((64, 64), (64, 0), labels, Window(0, 0, 10, 10))
    assert touch.stride == (64, 64) and "(STRIDE_X's share of its chip on both axes)" in \
        touch.why


def test_the_automatic_stride_widens_before_it_makes_too_many_windows():
    """Sparse labels over 15,000 px: 32 px chips every 8 px made 3.5 million windows, over
    the export's limit, and the refusal asked for the automatic stride it already had."""
    from landlearn.core.chips.chip_size import MAX_WINDOWS
    from landlearn.core.geo.grid import count_tiles

    area = Window(0, 0, 15_000, 15_000)
    size = resolve_chip_size((32, 32), (0, 0), Footprint((0, 0, 90, 90)), area)
    assert count_tiles(area, (32, 32), (8, 8)) > MAX_WINDOWS
    assert size.stride == (16, 16) and count_tiles(area, (32, 32), size.stride) <= MAX_WINDOWS
    assert "widened to 16 x 16 px: a finer one makes more than 2,000,000 chip windows" in size.why
    # a stride given is kept (the export then refuses it by name)
    assert resolve_chip_size((32, 32), (8, 0), Footprint((0, 0, 90, 90)), area).stride[0] == 8


def test_the_scan_for_labelled_blocks_hears_a_cancel():
    """Sparse labels on a large raster: millions of blocks, each a read of the labels, with
    no way to stop the run."""
    import pytest

    from landlearn.core.errors import Cancelled
    from landlearn.core.progress import RecordingProgress

    labels = Footprint((0, 0, 90, 90))
    with pytest.raises(Cancelled):
        resolve_chip_size((0, 0), (0, 0), labels, Window(0, 0, 100_000, 100_000),
                          RecordingProgress(cancel_after_checks=3))
    assert labels.asked < 1_000


def test_blocks_count_only_where_they_fit():
    """MASK_POLYGONS' test: labels everywhere, but only blocks wholly left of column 250
    fit (one column of 8 blocks of 128 px in a 1,000 px square; three of 16 of 64 px)."""
    labels = Footprint((0, 0, 1_000, 1_000))
    area = Window(0, 0, 1_000, 1_000)

    def left(win):
        return win.col_off + win.width <= 250

    assert labelled_blocks(labels, area, (128, 128), 100, fits=left) == 8
    size = resolve_chip_size((0, 0), (0, 0), labels, area, fits=left)
    assert size.tile == (64, 64) and "inside MASK_POLYGONS" in size.why
    assert resolve_chip_size((0, 0), (0, 0), labels, area).tile == (256, 256)
