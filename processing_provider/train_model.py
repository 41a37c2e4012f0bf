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
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)

from ..core.classical.model_types import MODEL_TYPES
from .base import LandLearnAlgorithm
from .label_params import add_label_parameters
from .train_classifier import add_classifier_parameters
from .train_deep_learning_model import add_deep_parameters
from .training import add_model_output


class TrainModelAlgorithm(LandLearnAlgorithm):
    ID = "trainmodel"
    DISPLAY_NAME = "Train Model (deprecated)"
    GROUP = "Deep learning"
    ICON = "train"
    HELP = (
        "Deprecated: use Train Deep Learning Model (chip folders) or Train Classifier (random "
        "forest, SVM, maximum likelihood, gradient boosting from a raster and labels). This "
        "algorithm forwards to the one MODEL_TYPE names, takes the parameters of both, and "
        "will be removed in the next release.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:trainmodel -- TRAINING_DATA=chips "
        "ARCHITECTURE=unet BACKBONE=resnet34 EPOCHS=20 OUTPUT_MODEL=landcover.dlpk"
    )

    def initAlgorithm(self, config=None):
        """The parameters of both new algorithms, and the old mixed LABELS (vector or
        raster) with its class field given as text."""
        self.add_choice("MODEL_TYPE", "Model type",
                        [("deep", "Deep learning (segmentation on chip folders)"), *MODEL_TYPES],
                        "deep", "Deep segmentation trains on chip folders (TRAINING_DATA); the "
                        "classical classifiers train on INPUT_RASTER + LABELS.")
        add_label_parameters(self, optional=True,
                             help_suffix=" Required for classical classifiers.")
        self.add(QgsProcessingParameterFile(
            "TRAINING_DATA", self.tr("Training data folder(s) (deep learning)"),
            behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True),
            "Chip folders, for deep learning ('a;b' for several).")
        self.add(QgsProcessingParameterRasterLayer(
            "INPUT_RASTER", self.tr("Image raster (classical classifiers)"), optional=True),
            "The raster whose bands are the features, for classical classifiers.")
        add_classifier_parameters(self, labels=False)
        add_deep_parameters(self)
        self.add_seed("Seed of the split, sampling, folds, augmentation and weights.")
        add_model_output(self, "Training report (HTML)")

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.Flag.FlagDeprecated

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
        ignored = sorted(k for k, v in given.items() if k not in keys and k != "MODEL_TYPE"
                         and self.parameterDefinition(k) is not None
                         and str(v) != str(self.parameterDefinition(k).defaultValue()))
        if ignored:  # set by the user, but the other kind of model's: said, not dropped quietly
            feedback.pushWarning(f"{', '.join(ignored)} apply to "
                                 f"{'classical classifiers' if kind == 'deep' else 'deep learning'}"
                                 f" and are ignored by landlearn:{target}.")
        for key in ("ARCHITECTURE", "BACKBONE", "LOSS", "CLASS_WEIGHTING", "CHIP_SAMPLING",
                    "DEVICE", "MONITOR"):
            if key in child:
                child[key] = self.choice(parameters, key)
        return processing.run(f"landlearn:{target}", child, context=context, feedback=feedback,
                              is_child_algorithm=True)


DEEP_KEYS = {"TRAINING_DATA", "ARCHITECTURE", "BACKBONE", "ENCODER_DEPTH", "DETAIL_HEAD",
             "PRETRAINED_WEIGHTS",
             "PRETRAINED_BANDS", "BAND_NAMES", "FREEZE", "IGNORE_CLASSES", "BACKGROUND_VALUE",
             "EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "VALIDATION_PERCENT", "EARLY_STOPPING",
             "MONITOR", "LOSS", "CLASS_WEIGHTING", "CHIP_SAMPLING", "AUGMENTATION",
             "RADIOMETRIC_JITTER", "DEVICE", "MIXED_PRECISION", "SAVE_ON_CANCEL", "QUANTIZE",
             "ENSEMBLE_SIZE", "SEED",
             "OUTPUT_MODEL"}
CLASSICAL_KEYS = {"MODEL_TYPE", "INPUT_RASTER", "BANDS", "LABELS", "LABEL_RASTER", "CLASS_FIELD",
                  "CLASS_NAME_FIELD", "SELECTED_FEATURES_ONLY", "ALL_TOUCHED", "EXTENT",
                  "MAX_SAMPLES_PER_CLASS", "NEIGHBOURHOOD_SIZES", "NEIGHBOURHOOD_STATISTICS",
                  "TREES", "MAX_DEPTH", "SVM_C", "SVM_GAMMA", "CV_FOLDS",
                  "SEED", "OUTPUT_MODEL"}
