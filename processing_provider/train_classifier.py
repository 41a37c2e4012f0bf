"""Train Classifier: a raster and labels -> a classical pixel classifier package (.dlpk).

ArcGIS's train_classifier / *Train Random Trees Classifier* and QGIS's dzetsaka or SCP in
one algorithm with only their parameters: random forest, SVM, maximum likelihood or
gradient boosting, straight from polygons, points or a classified raster, validated by
cross-validation grouped by polygon.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.classical.model_types import MODEL_TYPES
from .band_numbers import band_numbers
from .base import LandLearnAlgorithm
from .label_params import (
    add_classifier_label_parameters,
    check_classifier_labels,
    classifier_label_config,
    labels_named,
)
from .layers import extent_of, optional_raster, raster_path
from .training import add_model_output, dlpk_path, finish_training


class TrainClassifierAlgorithm(LandLearnAlgorithm):
    ID = "trainclassifier"
    DISPLAY_NAME = "Train Classifier"
    GROUP = "Classical classification"
    ICON = "train"
    HELP = (
        "Trains a classical pixel classifier (random forest, SVM with an RBF kernel, Gaussian "
        "maximum likelihood or histogram gradient boosting) straight from an image and its "
        "labels: polygons or points with a class field (LABELS, CLASS_FIELD), or a classified "
        "raster (LABEL_RASTER). No chips are needed. Up to MAX_SAMPLES_PER_CLASS pixels per "
        "class are drawn; accuracy is measured by cross-validation grouped by polygon (a "
        "polygon's pixels are never on both sides), each sample weighing the labelled pixels "
        "its class has per sample scored, so that classes count as in the labels. The .dlpk "
        "package runs in Classify Pixels; its report (confusion matrix, per-class scores) is also unpacked beside it as "
        "NAME_report/report.html (NAME: the package's name).\n\n"
        "Object-based (ArcGIS's segmented_raster): with SEGMENTED_RASTER (segment ids on "
        "the image's grid, e.g. Segment's), the classifier learns segments instead of pixels. "
        "Each segment is described by SEGMENT_ATTRIBUTES (COLOR: the first three bands' shares "
        "of their sum, by size (bands below 0 too); MEAN and STD per band; COUNT; COMPACTNESS; RECTANGULARITY) and labelled "
        "by the majority class of its labelled pixels when that class holds at least half of "
        "them; others are left out. Classify Pixels then needs the segments of the raster it "
        "classifies, and gives every pixel its segment's class: no salt and pepper.\n\n"
        "Neighbourhood features (pixel classifiers): with NEIGHBOURHOOD_SIZES (odd window "
        "sizes in pixels, e.g. 3,7,15) each pixel is described by its bands and by each band's "
        "mean (and standard deviation, NEIGHBOURHOOD_STATISTICS) over those windows around "
        "it, NoData pixels (every band NoData) left out: what surrounds a pixel, which a per-pixel classifier otherwise "
        "never sees. Classify Pixels computes the same features (its tiles padded by half the "
        "widest window).\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:trainclassifier -- "
        "MODEL_TYPE=random_forest INPUT_RASTER=landsat.tif LABELS=polygons.shp CLASS_FIELD=id "
        "OUTPUT_MODEL=rf.dlpk"
    )

    def initAlgorithm(self, config=None):
        self.add_choice("MODEL_TYPE", "Classifier", list(MODEL_TYPES), "random_forest",
                        "The classifier to train.")
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The raster whose bands are the features.")
        add_classifier_parameters(self)
        self.add(QgsProcessingParameterRasterLayer(
            "SEGMENTED_RASTER", self.tr("Segmented raster (object-based)"), optional=True),
            "Segment ids on the image's grid (Segment's OUTPUT_SEGMENT_IDS, or any integer "
            "raster): one sample per segment instead of per pixel.")
        self.add(QgsProcessingParameterString(
            "SEGMENT_ATTRIBUTES", self.tr("Segment attributes (with a segmented raster)"),
            defaultValue="COLOR;MEAN", optional=True),
            "What describes a segment, separated by ';': COLOR, MEAN, STD, COUNT, COMPACTNESS, "
            "RECTANGULARITY (ArcGIS's names and default; empty: the default).", advanced=True)
        self.add_seed("Seed of the sampling, the folds and the classifier.")
        add_model_output(self, "Model report (HTML)")

    def checkParameterValues(self, parameters, context):
        ok, message = check_classifier_labels(parameters)
        if not ok:
            return ok, message
        return super().checkParameterValues(parameters, context)

    def perform(self, parameters, context, progress, feedback):
        from ..core.classical.segment_attributes import parse_attributes
        from ..core.classical.train_classifier import ClassicalConfig, train_classical

        # the graphical modeler runs its steps without checkParameterValues: checked again
        ok, message = check_classifier_labels(parameters)
        if not ok:
            raise QgsProcessingException(message)

        max_depth = parameters.get("MAX_DEPTH")
        config = ClassicalConfig(
            input_raster=raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER",
                                                                 context), "INPUT_RASTER", feedback),
            labels=classifier_label_config(self, parameters, context, feedback),
            output_model=dlpk_path(self.parameterAsFileOutput(parameters, "OUTPUT_MODEL",
                                                              context)),
            model_type=self.choice(parameters, "MODEL_TYPE"),
            bands=tuple(band_numbers(self, parameters, "BANDS", context)) or None,
            extent=extent_of(self, parameters, "EXTENT", context),
            max_samples_per_class=self.parameterAsInt(parameters, "MAX_SAMPLES_PER_CLASS", context),
            trees=self.parameterAsInt(parameters, "TREES", context),
            max_depth=None if max_depth in (None, "") else self.parameterAsInt(
                parameters, "MAX_DEPTH", context),
            svm_c=self.parameterAsDouble(parameters, "SVM_C", context),
            svm_gamma=(self.parameterAsString(parameters, "SVM_GAMMA", context) or "scale").strip(),
            cv_folds=self.parameterAsInt(parameters, "CV_FOLDS", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            segmented_raster=optional_raster(self, parameters, "SEGMENTED_RASTER", context, feedback),
            segment_attributes=parse_attributes(self.parameterAsString(
                parameters, "SEGMENT_ATTRIBUTES", context) or "COLOR;MEAN"),
            neighbourhood=neighbourhood_of(self, parameters, context))
        with labels_named(parameters):
            result = train_classical(config, progress)
        return finish_training(result.output_model, result.accuracy, feedback, logged=True)


def neighbourhood_of(alg, parameters, context):
    """NEIGHBOURHOOD_SIZES and NEIGHBOURHOOD_STATISTICS as the core's Neighbourhood."""
    from ..core.classical.neighbourhood import Neighbourhood, parse_sizes

    sizes = parse_sizes(alg.parameterAsString(parameters, "NEIGHBOURHOOD_SIZES", context),
                        "neighbourhood_sizes")
    return Neighbourhood(sizes, alg.choice(parameters, "NEIGHBOURHOOD_STATISTICS"))


def add_classifier_parameters(alg, labels: bool = True) -> None:
    """Every parameter of Train Classifier but the classifier, the image and the output
    (shared with the deprecated Train Model, which takes its labels the old way)."""
    alg.add(QgsProcessingParameterBand(
        "BANDS", alg.tr("Bands (empty = all but alpha)"), parentLayerParameterName="INPUT_RASTER",
        optional=True, allowMultiple=True), "Bands used as features, in this order.")
    if labels:
        add_classifier_label_parameters(alg)
    alg.add(QgsProcessingParameterExtent("EXTENT", alg.tr("Extent"), optional=True),
            "Optional area to take samples from, in any CRS.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "MAX_SAMPLES_PER_CLASS", alg.tr("Maximum samples per class (<= 0: all)"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=500),
        "Pixels drawn at random from each class's labelled pixels (stratified).")
    alg.add(QgsProcessingParameterString(
        "NEIGHBOURHOOD_SIZES", alg.tr("Neighbourhood windows, px (e.g. 3,7,15; empty = none)"),
        defaultValue="", optional=True),
        "Odd window sizes in pixels (at most 4, up to 63): each band's statistics over each "
        "window around a pixel become features beside its own values. Not with a segmented "
        "raster.")
    alg.add_choice("NEIGHBOURHOOD_STATISTICS", "Neighbourhood statistics",
                   [("mean_std", "Mean and standard deviation"), ("mean", "Mean")], "mean_std",
                   "What each window gives per band: its mean, or its mean and standard "
                   "deviation (texture).", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "TREES", alg.tr("Trees (random forest)"), QgsProcessingParameterNumber.Type.Integer,
        defaultValue=100), "Number of trees in the random forest.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "MAX_DEPTH", alg.tr("Maximum depth (forest / boosting, empty = none)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "Limits tree depth.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "SVM_C", alg.tr("C (SVM)"), QgsProcessingParameterNumber.Type.Double, defaultValue=1.0),
        "SVM regularisation: larger fits the samples more tightly.", advanced=True)
    alg.add(QgsProcessingParameterString(
        "SVM_GAMMA", alg.tr("Gamma (SVM): scale, auto or a number"), defaultValue="scale"),
        "RBF kernel width (features are standardised first).", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "CV_FOLDS", alg.tr("Cross-validation folds (0 = none)"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=5),
        "Folds of the cross-validation grouped by polygon that measures accuracy. A random "
        "forest spreads its trees over the folds and an SVM calibrates its probabilities "
        "on the fold scores, so neither fits extra models for it (a forest does when a "
        "class has fewer polygons than folds and some fold's trees never saw it: its map "
        "forest is grown again on all samples).",
        advanced=True)
