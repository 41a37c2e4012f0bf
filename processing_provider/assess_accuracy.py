"""Assess Accuracy: any classified raster against reference polygons, points or a raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from .band_numbers import band_numbers
from .base import LandLearnAlgorithm
from .label_params import add_label_parameters, label_config
from .layers import extent_of, raster_path


class AssessAccuracyAlgorithm(LandLearnAlgorithm):
    ID = "assessaccuracy"
    DISPLAY_NAME = "Assess Accuracy"
    GROUP = "Accuracy"
    ICON = "classify"
    HELP = (
        "Compares a classified raster (from LandLearn or any other tool) with reference data: "
        "polygons or points with a class field, or a reference raster, in any CRS. Reports the "
        "confusion matrix, overall accuracy, kappa, user's and producer's accuracy and F1 per "
        "class, and the area-weighted accuracy with class-area estimates and 95% confidence "
        "intervals in the manner of Olofsson et al. (2014), as the Semi-Automatic "
        "Classification Plugin does. Class values of the map and the reference must mean the "
        "same classes; a text class field is matched to the map's class names (LandLearn's "
        "maps carry them; a reference class the map lacks counts as an error), or, on a map "
        "without names, to its values (\"3\" is class 3). Map classes no reference pixel falls "
        "on are named in the log and report: the area-weighted estimates cannot cover them. "
        "Reference points count one sample each, also where several fall in one pixel (the "
        "log says how many do)."
        "\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:assessaccuracy -- "
        "INPUT=landcover.tif LABELS=reference.shp CLASS_FIELD=id OUTPUT_REPORT=accuracy.html"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT", self.tr("Classified raster")),
                 "The map to assess (class values 1..255, 0 = unclassified/NoData).")
        self.add(QgsProcessingParameterBand(
            "BAND", self.tr("Band of class values (empty = band 1)"),
            parentLayerParameterName="INPUT", optional=True),
            "The band holding the class values, for a raster of several bands. Empty: band 1; "
            "an RGB image (a rendering of a map, not its class values) is then refused, and "
            "another raster of several bands is assessed on band 1 with a warning.")
        add_label_parameters(self, help_suffix=" These are the reference (ground truth).")
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to assess, in any CRS.")
        self.add(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", self.tr("Report"), fileFilter="HTML (*.html);;JSON (*.json)",
            optional=True),
            "HTML or JSON report with every number (an HTML report is listed in Processing's "
            "Results Viewer).")
        for key, label in (("OVERALL_ACCURACY", "Overall accuracy"), ("KAPPA", "Kappa"),
                           ("MACRO_F1", "Macro F1"),
                           ("AREA_WEIGHTED_ACCURACY", "Area-weighted overall accuracy")):
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def perform(self, parameters, context, progress, feedback):
        from ..core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
        from ..core.accuracy.metrics import number

        report = None
        if parameters.get("OUTPUT_REPORT") not in (None, ""):
            report = self.parameterAsFileOutput(parameters, "OUTPUT_REPORT", context) or None
        result = assess_accuracy(AssessConfig(
            classified=raster_path(self.parameterAsRasterLayer(parameters, "INPUT", context),
                                   "INPUT", feedback),
            reference=label_config(self, parameters, context, feedback), output_report=report,
            extent=extent_of(self, parameters, "EXTENT", context),
            band=(band_numbers(self, parameters, "BAND", context) or [None])[0]), progress)
        feedback.pushInfo(result.summary())
        a = result.accuracy
        return {"OUTPUT_REPORT": result.report, "OVERALL_ACCURACY": a.overall, "KAPPA": number(a.kappa),
                "MACRO_F1": a.macro_f1, "AREA_WEIGHTED_ACCURACY": result.areas.overall}
