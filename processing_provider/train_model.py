"""Train Model (deprecated): the one algorithm that trained both kinds, kept for one release.

It took the parameters of Train Deep Learning Model and Train Classifier side by side; it
now forwards to the one that MODEL_TYPE names, with a deprecation line in the log, and is
hidden from the toolbox. Scripts, models and qgis_process calls that use
``landlearn:trainmodel`` keep working until then.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from ..core.classical.train_classifier import MODEL_TYPES
from ..core.deep.architectures import ARCHITECTURES, BACKBONES
from ..core.deep.losses import LOSSES
from .base import LandLearnAlgorithm
from .label_params import add_label_parameters


class TrainModelAlgorithm(LandLearnAlgorithm):
    ID = "trainmodel"
    DISPLAY_NAME = "Train Model (deprecated)"
    GROUP = "Deep learning"
    ICON = "train"
    HELP = (
        "Deprecated: use Train Deep Learning Model (chip folders) or Train Classifier (random "
        "forest, SVM, maximum likelihood, gradient boosting from a raster and labels). This "
        "algorithm forwards to them and will be removed in the next release.\n\n"
        "Trains a pixel classifier (U-Net and other segmentation-models-pytorch architectures) "
        "on chip folders from Export Training Data, or Classified Tiles folders exported by "
        "ArcGIS Pro. Any band count: bands are normalised with the export's statistics. "
        "Validation holds out whole spatial blocks (never overlapping neighbours of training "
        "chips); the best epoch by validation mean IoU is kept. The log shows one line per "
        "epoch. The result is a .dlpk model package (an Esri-style .emd, safetensors weights, "
        "a report with curves, confusion matrix, per-class precision / recall / F1 / IoU and "
        "validation chips), which Classify Pixels uses. A copy of the report is written beside "
        "the package as <name>_report/report.html.\n\n"
        "Classical classifiers (MODEL_TYPE random_forest, svm, maximum_likelihood, "
        "hist_gradient_boosting) train straight from INPUT_RASTER and LABELS (polygons, points "
        "or a classified raster), no chips needed: up to MAX_SAMPLES_PER_CLASS pixels per "
        "class, validated by cross-validation grouped by polygon (a polygon's pixels are never "
        "on both sides), saved in the same .dlpk for Classify Pixels.\n\n"
        "Example (qgis_process): qgis_process run landlearn:trainmodel -- TRAINING_DATA=chips "
        "ARCHITECTURE=unet BACKBONE=resnet34 EPOCHS=20 OUTPUT_MODEL=landcover.dlpk\n"
        "qgis_process run landlearn:trainmodel -- MODEL_TYPE=random_forest "
        "INPUT_RASTER=landsat.tif LABELS=polygons.shp CLASS_FIELD=id OUTPUT_MODEL=rf.dlpk"
    )

    def initAlgorithm(self, config=None):
        self.add_choice("MODEL_TYPE", "Model type",
                        [("deep", "Deep learning (segmentation on chip folders)"), *MODEL_TYPES],
                        "deep", "Deep segmentation trains on chip folders (TRAINING_DATA); the "
                        "classical classifiers train on INPUT_RASTER + LABELS.")
        self.add(QgsProcessingParameterFile(
            "TRAINING_DATA", self.tr("Training data folder(s) (deep learning)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True),
            "A chip folder from Export Training Data (or ArcGIS's Classified Tiles export). "
            "Several folders with the same bands and tile size: separate them with ';' "
            "(or pass a list from Python). Required for deep learning.")
        self.add(QgsProcessingParameterRasterLayer(
            "INPUT_RASTER", self.tr("Image raster (classical classifiers)"), optional=True),
            "The raster whose bands are the features. Required for classical classifiers.")
        self.add(QgsProcessingParameterBand(
            "BANDS", self.tr("Bands (empty = all but alpha)"), parentLayerParameterName="INPUT_RASTER",
            optional=True, allowMultiple=True), "Bands used as features, in this order.")
        add_label_parameters(self, optional=True,
                             help_suffix=" Required for classical classifiers.")
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent (classical)"),
                                              optional=True),
                 "Optional area to take samples from, in any CRS.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "MAX_SAMPLES_PER_CLASS", self.tr("Maximum samples per class (<= 0: all)"),
            QgsProcessingParameterNumber.Integer, defaultValue=500),
            "Pixels drawn at random from each class's labelled pixels (stratified).")
        self.add(QgsProcessingParameterNumber(
            "TREES", self.tr("Trees (random forest)"), QgsProcessingParameterNumber.Integer,
            defaultValue=100), "Number of trees in the random forest.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "MAX_DEPTH", self.tr("Maximum depth (forest / boosting, empty = none)"),
            QgsProcessingParameterNumber.Integer, optional=True),
            "Limits tree depth.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "SVM_C", self.tr("C (SVM)"), QgsProcessingParameterNumber.Double, defaultValue=1.0),
            "SVM regularisation: larger fits the samples more tightly.", advanced=True)
        self.add(QgsProcessingParameterString(
            "SVM_GAMMA", self.tr("Gamma (SVM): scale, auto or a number"), defaultValue="scale"),
            "RBF kernel width (features are standardised first).", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "CV_FOLDS", self.tr("Cross-validation folds (0 = none)"),
            QgsProcessingParameterNumber.Integer, defaultValue=5),
            "Folds of the cross-validation grouped by polygon that measures accuracy. A random "
            "forest spreads its trees over the folds and an SVM calibrates its probabilities "
            "on the fold scores, so neither fits extra models for it.",
            advanced=True)
        self.add_choice("ARCHITECTURE", "Architecture", [(n, lab) for n, _, lab in ARCHITECTURES],
                        "unet", "Segmentation architecture.")
        self.add_choice("BACKBONE", "Backbone (encoder)", [(b, b) for b in BACKBONES],
                        "resnet34", "Encoder network; all build offline for any band count.")
        self.add(QgsProcessingParameterFile(
            "PRETRAINED_WEIGHTS", self.tr("Pretrained weights (optional)"), optional=True,
            fileFilter="Weights (*.safetensors *.dlpk *.pt *.pth)"),
            "A local weights file to start from: a previous LandLearn package (.dlpk), encoder "
            "or full-model weights (.safetensors, or .pt/.pth read without running code). RGB "
            "weights are adapted to more bands. Nothing is downloaded.", advanced=True)
        self.add(QgsProcessingParameterString(
            "IGNORE_CLASSES", self.tr("Ignore classes"), defaultValue="0", optional=True),
            "Class values left out of the loss and the metrics, comma-separated. 0 is NoData.")
        self.add(QgsProcessingParameterNumber(
            "EPOCHS", self.tr("Epochs"), QgsProcessingParameterNumber.Integer, defaultValue=20),
            "Passes over the training chips (early stopping may end sooner).")
        self.add(QgsProcessingParameterNumber(
            "BATCH_SIZE", self.tr("Batch size (empty = fit the device)"),
            QgsProcessingParameterNumber.Integer, optional=True),
            "Chips per step. Empty: the largest that fits the GPU, or a size suited to the CPU.")
        self.add(QgsProcessingParameterNumber(
            "LEARNING_RATE", self.tr("Learning rate (empty = find it)"),
            QgsProcessingParameterNumber.Double, optional=True),
            "Peak learning rate of the one-cycle schedule. Empty: a learning-rate finder runs "
            "first and the log says what it chose.")
        self.add(QgsProcessingParameterNumber(
            "VALIDATION_PERCENT", self.tr("Validation percent"),
            QgsProcessingParameterNumber.Double, defaultValue=10.0),
            "Share of chips held out, as whole spatial blocks. 0: no validation (the metrics "
            "are then on training chips and say so).")
        self.add(QgsProcessingParameterNumber(
            "EARLY_STOPPING", self.tr("Early stopping patience (epochs, 0 = off)"),
            QgsProcessingParameterNumber.Integer, defaultValue=5),
            "Stop after this many epochs without a better validation mean IoU.")
        self.add_choice("LOSS", "Loss", LOSSES, "crossentropy",
                        "Training loss; all skip NoData and ignored classes.", advanced=True)
        self.add_choice("CLASS_WEIGHTING", "Class weighting",
                        [("none", "None"), ("inverse_frequency", "Inverse frequency")], "none",
                        "Weight classes by the inverse of their pixel share, for rare classes.")
        self.add(QgsProcessingParameterBoolean(
            "AUGMENTATION", self.tr("Augmentation (flips, 90° rotations)"), defaultValue=True),
            "Random flips and right-angle rotations of each chip.", advanced=True)
        self.add_choice("DEVICE", "Device", [("auto", "Auto (GPU when available)"),
                                             ("cuda", "CUDA GPU"), ("cpu", "CPU")], "auto",
                        "Where to train. cuda fails clearly when no GPU is usable.")
        self.add(QgsProcessingParameterBoolean(
            "MIXED_PRECISION", self.tr("Mixed precision on GPU"), defaultValue=True),
            "bfloat16/float16 autocast on CUDA; ignored on CPU.", advanced=True)
        self.add(QgsProcessingParameterBoolean(
            "SAVE_ON_CANCEL", self.tr("On cancel, save the best model so far"),
            defaultValue=False),
            "Off: a cancel writes nothing. On: the best epoch so far is saved as the package.",
            advanced=True)
        self.add(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed"), QgsProcessingParameterNumber.Integer, defaultValue=0),
            "Seed of the split, shuffling, augmentation and initial weights.", advanced=True)
        self.add(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Model package"), fileFilter="Model package (*.dlpk)"),
            "The .dlpk to write.")
        # An HTML output: QGIS lists it in Processing's Results Viewer, one click to open
        self.addOutput(QgsProcessingOutputHtml("REPORT", self.tr("Training report (HTML)")))
        self.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", self.tr("Overall accuracy")))
        self.addOutput(QgsProcessingOutputNumber("MEAN_IOU", self.tr("Mean IoU")))

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagDeprecated

    def checkParameterValues(self, parameters, context):
        value = parameters.get("TRAINING_DATA")
        if isinstance(value, (list, tuple)):
            parameters = dict(parameters, TRAINING_DATA=";".join(map(str, value)))
        return super().checkParameterValues(parameters, context)

    def perform(self, parameters, context, progress, feedback):
        import processing

        kind = self.choice(parameters, "MODEL_TYPE")
        target = "traindeeplearningmodel" if kind == "deep" else "trainclassifier"
        feedback.pushWarning(f"landlearn:trainmodel is deprecated and will be removed in the "
                             f"next release; this run goes to landlearn:{target}.")
        given = {k: v for k, v in parameters.items() if v not in (None, "")}
        if kind == "deep":
            if "TRAINING_DATA" not in given:
                raise QgsProcessingException("TRAINING_DATA: deep learning trains on chip "
                                             "folders from Export Training Data; choose one "
                                             "(or set MODEL_TYPE to a classical classifier)")
            keys = DEEP_KEYS
        else:
            if "INPUT_RASTER" not in given:
                raise QgsProcessingException("INPUT_RASTER: classical classifiers train on a "
                                             "raster and labels; choose the image raster")
            if "LABELS" not in given:
                raise QgsProcessingException("LABELS: classical classifiers need labels "
                                             "(polygons, points or a classified raster)")
            keys = CLASSICAL_KEYS
            given["MODEL_TYPE"] = kind
            labels = self.parameterAsLayer(parameters, "LABELS", context)
            if isinstance(labels, QgsRasterLayer):
                given["LABEL_RASTER"] = given.pop("LABELS")
        child = {k: v for k, v in given.items() if k in keys}
        for key in ("ARCHITECTURE", "BACKBONE", "LOSS", "CLASS_WEIGHTING", "DEVICE"):
            if key in child:
                child[key] = self.choice(parameters, key)
        return processing.run(f"landlearn:{target}", child, context=context, feedback=feedback,
                              is_child_algorithm=True)


DEEP_KEYS = {"TRAINING_DATA", "ARCHITECTURE", "BACKBONE", "PRETRAINED_WEIGHTS", "IGNORE_CLASSES",
             "EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "VALIDATION_PERCENT", "EARLY_STOPPING",
             "LOSS", "CLASS_WEIGHTING", "AUGMENTATION", "DEVICE", "MIXED_PRECISION",
             "SAVE_ON_CANCEL", "SEED", "OUTPUT_MODEL"}
CLASSICAL_KEYS = {"MODEL_TYPE", "INPUT_RASTER", "BANDS", "LABELS", "LABEL_RASTER", "CLASS_FIELD",
                  "CLASS_NAME_FIELD", "SELECTED_FEATURES_ONLY", "ALL_TOUCHED", "EXTENT",
                  "MAX_SAMPLES_PER_CLASS", "TREES", "MAX_DEPTH", "SVM_C", "SVM_GAMMA", "CV_FOLDS",
                  "SEED", "OUTPUT_MODEL"}
