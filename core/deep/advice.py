"""What the benchmark says about a training set's chances, written into the log and report.

Why: on the map-quality benchmark (BENCHMARKS.md "Map quality", rounds 9-10, default
settings) the U-Net led a random forest on the same labels where the labels are wall to
wall (nc_landsat7: macro F1 0.37 vs 0.27) and on the largest polygon set (s2_osm_sparse, a
whole Sentinel-2 scene: 0.48 vs 0.43). On the smaller polygon sets (nb_aerial, slovenia_s2,
enmap_potsdam), whose polygons label a minority of each chip's pixels, the forest scored the
higher macro F1 (by 0.04-0.07): the loss sees only polygon interiors, so the network learns
little of the spatial context that is its advantage, from few labelled pixels. A user with
such labels should know, and compare before mapping.
"""

from __future__ import annotations

from collections.abc import Sequence

SPARSE_LABELS = 0.5  # labelled share of the training chips' pixels below which the note appears


def sparse_labels_note(labelled_pixels: int, chip_pixels: int,
                       foreign: Sequence[str] = ()) -> str | None:
    """A note when labels cover less than SPARSE_LABELS of the training chips, else None.
    ``foreign``: folders ArcGIS Pro exported, where the unlabelled pixels (0) are what
    arcgis.learn trains as 'background' (see ARCGIS_BACKGROUND)."""
    if chip_pixels <= 0:
        return None
    share = labelled_pixels / chip_pixels
    if share >= SPARSE_LABELS:
        return None
    return (f"labels cover {share:.0%} of the training chips' pixels: on the benchmark's "
            "sparse-label sets (BENCHMARKS.md, Map quality) a random forest on the same labels "
            "(Train Classifier) reached a higher macro F1 than the default U-Net on the three "
            "smaller ones, the U-Net on the largest (a whole Sentinel-2 scene); train both and "
            "compare them with Assess Accuracy on held-out labels before mapping"
            + (f". {arcgis_background(foreign)}" if foreign else ""))


def arcgis_background(foreign: Sequence[str]) -> str:
    """Why ArcGIS users' background vanishes. arcgis.learn trains a Classified Tiles label
    of 0 as a class of its own ('background') unless told to ignore it; LandLearn reads 0 as
    no label (IGNORE_CLASSES' 0, as everywhere in its maps), so a model of buildings on such
    chips learns no 'other' and maps every pixel to a labelled class."""
    where = ", ".join(f"'{f}'" for f in list(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
    return (f"{where} {'has' if len(foreign) == 1 else 'have'} no LandLearn description "
            "(ArcGIS Pro's export): its unlabelled pixels (0) are a 'background' class to "
            "arcgis.learn but no label to "
            "LandLearn, so this model learns only the classes 1..255 and gives every pixel one "
            "of them; to map features on a background (buildings, roads) as arcgis.learn "
            "does, set BACKGROUND_VALUE (a value 1..255 no class uses) to train the 0s as "
            "'background', or label the background as a class of its own")
