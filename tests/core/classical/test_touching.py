"""classical.touching: polygons of one class that share an edge are one cross-validation
group; other classes' neighbours, and polygons a pixel apart, are not."""

import numpy as np
import pytest
from rasterio.windows import Window

from landlearn.core.classical.samples import collect_samples
from landlearn.core.classical.touching import merge_touching, touching_pairs
from landlearn.core.geo.grid import Grid
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from landlearn.core.progress import RecordingProgress
from synthetic import polygons, write

pytest.importorskip("scipy")
X0, Y0 = 500000, 5000000  # synthetic.write's origin; 10 m pixels


def box(r0, c0, r1, c1):
    return (X0 + 10 * c0, Y0 - 10 * r1, X0 + 10 * c1, Y0 - 10 * r0)


@pytest.fixture()
def scene(tmp_path):
    """A field of class 1 drawn as two polygons side by side (1, 2), a third class-1
    polygon one pixel away (3), and a class-2 polygon touching the field (4)."""
    rng = np.random.default_rng(0)
    image = write(tmp_path / "img.tif", rng.integers(1, 100, (2, 40, 60)).astype(np.uint16))
    labels = polygons(tmp_path / "l.gpkg", [(1, box(0, 0, 10, 10)), (1, box(0, 10, 10, 20)),
                                            (1, box(0, 21, 10, 30)), (2, box(10, 0, 20, 20))],
                      32633)
    return image, labels


def test_pairs_across_window_edges_and_only_of_one_class(scene):
    import rasterio

    image, labels = scene
    with rasterio.open(image) as ds:
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
    with open_labels(LabelConfig(labels, class_field="cls"), grid, RecordingProgress()) as lab:
        area = grid.full_window
        whole = touching_pairs(lab, area, area)
        # the same edges found by windows that cut between the two halves of the field
        parts = np.unique(np.concatenate([touching_pairs(lab, Window(0, 0, 10, 40), area),
                                          touching_pairs(lab, Window(10, 0, 50, 40), area)]),
                          axis=0)
    assert whole.tolist() == [[1, 2]] and parts.tolist() == [[1, 2]]


def test_touching_polygons_of_one_class_share_a_group(scene):
    image, labels = scene
    progress = RecordingProgress()
    s = collect_samples(image, LabelConfig(labels, class_field="cls"), progress=progress)
    by_class = {v: set(s.groups[s.y == v].tolist()) for v in (1, 2)}
    assert len(by_class[1]) == 2  # the field (polygons 1 and 2) and polygon 3 apart
    assert not by_class[1] & by_class[2]
    assert any("1 polygon(s) joined a touching polygon of the same class" in m
               for m in progress.messages)


def test_merge_names_components_by_their_smallest_id():
    groups = np.array([7, 3, 9, 3, 12])
    merged, joined = merge_touching(groups, np.array([[3, 9], [9, 20], [12, 30]]))
    assert merged.tolist() == [7, 3, 3, 3, 12] and joined == 1
    assert merge_touching(groups, np.zeros((0, 2), np.int64))[0] is groups
