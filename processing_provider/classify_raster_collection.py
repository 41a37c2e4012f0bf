"""Classify Raster Collection: several rasters through one model, as one mosaic or each alone."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsProperty,
)

from .base import LandLearnAlgorithm
from .classify_params import add_run_parameters, resume_without_dask, run_fields
from .classify_pixels import style_on_load
from .layers import raster_path


class ClassifyRasterCollectionAlgorithm(LandLearnAlgorithm):
    ID = "classifyrastercollection"
    DISPLAY_NAME = "Classify Raster Collection"
    GROUP = "Deep learning"
    ICON = "classify"
    HELP = (
        "Classifies a collection of raster items (tiles of a survey, scenes of a sensor) with "
        "one model package, as ArcGIS's Classify Pixels Using Deep Learning does with its "
        "processing modes. The items come from raster layers (RASTERS), a FOLDER and a file "
        "PATTERN, or a LIST_FILE (a text file with one path per line, or a VRT whose sources "
        "are the items); they must share their band count and coordinate system.\n\n"
        "PROCESSING_MODE=mosaicked classifies the items as one raster on the first item's "
        "grid (its cell size unless CELL_SIZE is given, its pixel alignment), over their "
        "union, into OUTPUT; where items overlap, the item listed later lies on top (a "
        "folder is listed by file name). each_item classifies every item into its own styled "
        "map NAME_classified.tif in OUTPUT_FOLDER, with mosaic.vrt over those maps and the "
        "class areas per item in class_areas.csv and class_areas.json (pixels, square map "
        "units, hectares where the CRS is in metres).\n\n"
        "Classify Pixels' run settings apply: cell size, tile, padding, batch, "
        "blend, confidence threshold, test-time augmentation, device, runtime, int8 graph, "
        "mixed precision and Dask. Not offered here: BANDS, EXTENT, SEGMENTED_RASTER (no "
        "object-based models), OUTPUT_CONFIDENCE and OUTPUT_PROBABILITIES; run Classify "
        "Pixels on an item (or on the mosaic's VRT) for those.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:classifyrastercollection -- "
        "FOLDER=/data/tiles PATTERN=*.tif MODEL=landcover.dlpk PROCESSING_MODE=each_item "
        "OUTPUT_FOLDER=/data/landcover"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterMultipleLayers(
            "RASTERS", self.tr("Raster items"), QgsProcessing.SourceType.TypeRaster,
            optional=True),
            "The items as raster layers (or files). Give these, or FOLDER, or LIST_FILE.")
        self.add(QgsProcessingParameterFile(
            "FOLDER", self.tr("Folder of raster items"),
            QgsProcessingParameterFile.Behavior.Folder, optional=True),
            "Every file in this folder whose name matches PATTERN, in name order.")
        self.add(QgsProcessingParameterString(
            "PATTERN", self.tr("File pattern (with FOLDER)"), defaultValue="*.tif"),
            "Shell-style pattern of the item file names in FOLDER, e.g. *.tif or scene_*.jp2.")
        self.add(QgsProcessingParameterFile(
            "LIST_FILE", self.tr("List of items (.txt or .vrt)"), optional=True,
            fileFilter="Lists (*.txt *.vrt)"),
            "A text file with one raster path per line (relative paths are read from the "
            "list's folder; # starts a comment), or a VRT whose source files are the items.")
        self.add(QgsProcessingParameterFile(
            "MODEL", self.tr("Model package (.dlpk or .emd)"),
            fileFilter="LandLearn model (*.dlpk *.emd)"),
            "A .dlpk from Train Deep Learning Model or Train Classifier, or the .emd inside an "
            "unpacked package folder.")
        self.add_choice("PROCESSING_MODE", "Processing mode",
                        [("mosaicked", "Process as mosaicked image"),
                         ("each_item", "Process all raster items separately")], "mosaicked",
                        "mosaicked: one map over all items (OUTPUT); each_item: one map per "
                        "item, a VRT mosaic of them and a class-area table (OUTPUT_FOLDER).")
        add_run_parameters(self)
        self.add(QgsProcessingParameterBoolean(
            "OVERWRITE", self.tr("Replace an existing output folder (each_item)"),
            defaultValue=False),
            "Allow OUTPUT_FOLDER to be a folder an earlier run of this algorithm wrote; it is "
            "replaced only once the new maps are complete. Other non-empty folders are never "
            "touched.", advanced=True)
        self.add(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Classified mosaic (mosaicked)"), optional=True,
            createByDefault=False),
            "mosaicked: the uint8 class map over all items, styled.")
        self.add(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder (each_item)"), optional=True,
            createByDefault=False),
            "each_item: a new or empty folder for the maps, mosaic.vrt and class_areas.*.")
        self.addOutput(QgsProcessingOutputFile("MOSAIC", self.tr("VRT of the item maps")))
        self.addOutput(QgsProcessingOutputFile("CLASS_AREAS", self.tr("Class areas (CSV)")))
        self.addOutput(QgsProcessingOutputFolder("FOLDER_OUT", self.tr("Maps folder")))

    def checkParameterValues(self, parameters, context):
        """The output the chosen mode writes must be given: said in the dialog, before the
        run (the defaults, mosaicked without OUTPUT, stopped only once it started)."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        try:
            mode = self.choice(parameters, "PROCESSING_MODE")
        except QgsProcessingException as exc:
            return False, str(exc)
        key, other = (("OUTPUT", "OUTPUT_FOLDER") if mode == "mosaicked"
                      else ("OUTPUT_FOLDER", "OUTPUT"))
        value = _static(parameters.get(key))
        if value is _EXPRESSION:
            return True, ""  # an expression (the modeler): known only when it runs
        if value in (None, ""):
            what = "one map over all items" if mode == "mosaicked" else "one map per item"
            return False, f"{key}: PROCESSING_MODE={mode} writes {what}: give {key}"
        if _static(parameters.get(other)) not in (None, "", _EXPRESSION):
            # the other mode's output was never written, yet returned and loaded
            return False, (f"{other}: PROCESSING_MODE={mode} writes {key} only; leave "
                           f"{other} empty")
        return True, ""

    def perform(self, parameters, context, progress, feedback):
        from ..core.classify.classify_pixels import ClassifyConfig
        from ..core.classify.collection import CollectionConfig, classify_collection

        def text(key):
            return (self.parameterAsString(parameters, key, context) or "").strip() or None

        layers = self.parameterAsLayerList(parameters, "RASTERS", context) or []
        mode = self.choice(parameters, "PROCESSING_MODE")
        # only the chosen mode's output is resolved (and loaded): the other is never written
        output = (self.parameterAsOutputLayer(parameters, "OUTPUT", context) or None
                  if mode == "mosaicked" and parameters.get("OUTPUT") not in (None, "")
                  else None)
        folder = (self.parameterAsFileOutput(parameters, "OUTPUT_FOLDER", context) or None
                  if mode == "each_item" and parameters.get("OUTPUT_FOLDER") not in (None, "")
                  else None)
        config = CollectionConfig(
            model=self.parameterAsFile(parameters, "MODEL", context),
            processing_mode=mode,
            rasters=tuple(raster_path(layer, "RASTERS", feedback) for layer in layers),
            # an emptied PATTERN is the default, not "*" (sidecars would become items)
            folder=text("FOLDER"), pattern=text("PATTERN") or "*.tif", list_file=text("LIST_FILE"),
            output=output, output_folder=folder,
            overwrite=self.parameterAsBoolean(parameters, "OVERWRITE", context),
            classify=ClassifyConfig("", "", "", **run_fields(self, parameters, context)))
        if mode == "mosaicked":  # each_item takes up finished items without Dask too
            resume_without_dask(config.classify, feedback)
        result = classify_collection(config, progress)
        feedback.pushInfo(result.summary())
        if output:
            style_on_load(context, output)
        return {"OUTPUT": output, "OUTPUT_FOLDER": folder, "FOLDER_OUT": folder,
                "MOSAIC": result.mosaic, "CLASS_AREAS": result.tables[0] if result.tables
                else None}


_EXPRESSION = object()


def _static(value):
    """An output parameter's value: its destination when it is an output definition, or
    _EXPRESSION when that is an expression (the modeler: known only when it runs). The
    static kind is taken from a static property: its enum's name and scope changed
    between QGIS 3.22 and 3.36."""
    sink = getattr(value, "sink", None)
    if sink is None:
        return value
    if sink.propertyType() != QgsProperty.fromValue("").propertyType():
        return _EXPRESSION
    return sink.staticValue()
