"""Open an algorithm's Processing dialog with what the user is looking at filled in.

Analysts work on "this raster, this part of the map": the active raster layer goes into
INPUT_RASTER and the current canvas extent (with its CRS) into EXTENT when the algorithm
has those parameters, except where the extent decides what a model learns (exporting
training data, training a classifier, segments that objects are made of) or what an
accuracy is measured on (Assess Accuracy): a zoomed-in view would silently train on a few fields, or score the map on
the few reference pixels on screen, and ArcGIS's default there is the inputs' whole
extent.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsRasterLayer, QgsReferencedRectangle

# segment too: its ids must cover the raster's whole grid to serve as SEGMENTED_RASTER
# (Train Classifier, Classify Pixels, Refine Classification refuse a part of it)
WHOLE_EXTENT = frozenset({"exporttrainingdata", "trainclassifier", "trainmodel", "rasterizelabels",
                          "assessaccuracy", "segment"})


def initial_parameters(algorithm, active_layer, canvas) -> dict:
    params: dict = {}
    names = {p.name() for p in algorithm.parameterDefinitions()}
    if "INPUT_RASTER" in names and isinstance(active_layer, QgsRasterLayer):
        params["INPUT_RASTER"] = active_layer.id()
    if "EXTENT" in names and canvas is not None and algorithm.name() not in WHOLE_EXTENT:
        # a referenced rectangle, not "x0,x1,y0,y1 [EPSG:n]" text: a canvas in a CRS with
        # no authority id (a custom projection) would lose its CRS in text
        params["EXTENT"] = QgsReferencedRectangle(canvas.extent(),
                                                  canvas.mapSettings().destinationCrs())
    return params


def open_algorithm_dialog(iface, algorithm_id: str) -> None:
    import processing

    alg = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    if alg is None:
        iface.messageBar().pushWarning("LandLearn", f"Algorithm {algorithm_id} is not registered")
        return
    params = initial_parameters(alg, iface.activeLayer(), iface.mapCanvas())
    processing.execAlgorithmDialog(algorithm_id, params)
