"""Train Deep Learning Model: chip folders -> a deep segmentation model package (.dlpk).

arcgis.learn's prepare_data / UnetClassifier / lr_find / fit / save in one algorithm, as
ArcGIS Pro's *Train Deep Learning Model* tool: only the parameters of deep training.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.deep.architectures import ARCHITECTURES, BACKBONES
from ..core.deep.ensemble import MAX_MEMBERS
from ..core.deep.losses import LOSSES, WEIGHTINGS
from .base import LandLearnAlgorithm
from .training import add_model_output, dlpk_path, finish_training


def folders_of(value) -> tuple[str, ...]:
    """TRAINING_DATA as folders: a list, or one string with ';' between folders."""
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value or "").split(";")
    return tuple(i.strip() for i in items if i.strip())


def ints_of(text: str, key: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in str(text or "").replace(";", ",").split(",") if t.strip())
    except ValueError as exc:
        raise QgsProcessingException(f"{key}: '{text}' is not a list of class values like "
                                     "'0' or '0,7'") from exc


def names_of(text: str) -> tuple[str, ...] | None:
    """'B02, B03,B04' -> ('B02', 'B03', 'B04'); empty -> None."""
    return tuple(n.strip() for n in text.split(",")) if text and text.strip() else None


class TrainDeepLearningModelAlgorithm(LandLearnAlgorithm):
    ID = "traindeeplearningmodel"
    DISPLAY_NAME = "Train Deep Learning Model"
    GROUP = "Deep learning"
    ICON = "train"
    HELP = (
        "Trains a pixel classifier (U-Net and other segmentation-models-pytorch architectures) "
        "on chip folders from Export Training Data, or Classified Tiles folders exported by "
        "ArcGIS Pro. Any band count: bands are normalised with the export's statistics. "
        "Validation holds out whole spatial blocks (never overlapping neighbours of training "
        "chips); the best epoch by validation mean IoU is kept. The log shows one line per "
        "epoch. The result is a .dlpk model package (an Esri-style .emd, safetensors weights, "
        "a report with curves, confusion matrix, per-class precision / recall / F1 / IoU and "
        "validation chips), which Classify Pixels uses. A copy of the report is written beside "
        "the package as NAME_report/report.html (NAME: the package's name).\n\n"
        "Random forests, SVMs and other classical classifiers train straight from a raster "
        "and labels with Train Classifier.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:traindeeplearningmodel -- "
        "TRAINING_DATA=chips ARCHITECTURE=unet BACKBONE=resnet34 EPOCHS=20 "
        "OUTPUT_MODEL=landcover.dlpk"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(
            "TRAINING_DATA", self.tr("Training data folder(s)"),
            behavior=QgsProcessingParameterFile.Behavior.Folder),
            "A chip folder from Export Training Data (or ArcGIS's Classified Tiles export). "
            "Several folders with the same bands and tile size: separate them with ';' "
            "(or pass a list from Python).")
        add_deep_parameters(self)
        self.add_seed("Seed of the split, shuffling, augmentation and initial weights. The same "
                      "seed repeats a CPU run on the same machine, torch version and "
                      "thread count (the training log names the threads); on a GPU, "
                      "cuDNN's and the upsampling's backward passes are not deterministic, "
                      "so runs differ a little.")
        add_model_output(self, "Training report (HTML)")

    def checkParameterValues(self, parameters, context):
        value = parameters.get("TRAINING_DATA")
        if isinstance(value, (list, tuple)):
            parameters = dict(parameters, TRAINING_DATA=";".join(map(str, value)))
        return super().checkParameterValues(parameters, context)

    def perform(self, parameters, context, progress, feedback):
        from ..core.deep.train_deep_learning_model import TrainConfig, train_model
        from ..core.errors import Cancelled

        def optional(key, kind):
            if parameters.get(key) in (None, ""):
                return None
            return kind(parameters, key, context)

        folders = folders_of(parameters.get("TRAINING_DATA"))
        if not folders:
            raise QgsProcessingException("TRAINING_DATA: choose a chip folder from Export "
                                         "Training Data")
        config = TrainConfig(
            training_data=folders,
            output_model=dlpk_path(self.parameterAsFileOutput(parameters, "OUTPUT_MODEL",
                                                              context)),
            architecture=self.choice(parameters, "ARCHITECTURE"),
            backbone=self.choice(parameters, "BACKBONE"),
            pretrained_weights=self.parameterAsFile(parameters, "PRETRAINED_WEIGHTS", context) or None,
            pretrained_bands=self.parameterAsString(parameters, "PRETRAINED_BANDS",
                                                    context).strip() or None,
            band_names=names_of(self.parameterAsString(parameters, "BAND_NAMES", context)),
            freeze=self.parameterAsBoolean(parameters, "FREEZE", context),
            ignore_classes=ints_of(self.parameterAsString(parameters, "IGNORE_CLASSES", context),
                                   "IGNORE_CLASSES"),
            background_value=self.parameterAsInt(parameters, "BACKGROUND_VALUE", context),
            epochs=self.parameterAsInt(parameters, "EPOCHS", context),
            batch_size=optional("BATCH_SIZE", self.parameterAsInt),
            encoder_depth=optional("ENCODER_DEPTH", self.parameterAsInt) or None,
            detail_head=self.parameterAsBoolean(parameters, "DETAIL_HEAD", context),
            learning_rate=optional("LEARNING_RATE", self.parameterAsDouble),
            validation_percent=self.parameterAsDouble(parameters, "VALIDATION_PERCENT", context),
            early_stopping=self.parameterAsInt(parameters, "EARLY_STOPPING", context),
            monitor=self.choice(parameters, "MONITOR"),
            loss=self.choice(parameters, "LOSS"),
            class_weighting=self.choice(parameters, "CLASS_WEIGHTING"),
            chip_sampling=self.choice(parameters, "CHIP_SAMPLING"),
            augmentation=self.parameterAsBoolean(parameters, "AUGMENTATION", context),
            radiometric_jitter=self.parameterAsDouble(parameters, "RADIOMETRIC_JITTER", context),
            device=self.choice(parameters, "DEVICE"),
            mixed_precision=self.parameterAsBoolean(parameters, "MIXED_PRECISION", context),
            save_on_cancel=self.parameterAsBoolean(parameters, "SAVE_ON_CANCEL", context),
            quantize=self.parameterAsBoolean(parameters, "QUANTIZE", context),
            ensemble_size=self.parameterAsInt(parameters, "ENSEMBLE_SIZE", context),
            seed=self.parameterAsInt(parameters, "SEED", context))
        try:
            result = train_model(config, progress)
        except Cancelled as exc:
            if not exc.saved:
                raise
            # SAVE_ON_CANCEL: the saved package is this run's output (the dialog lists it,
            # the report beside it is its own), and the log says it is the cancelled one
            feedback.pushWarning(str(exc))
            return finish_training(exc.saved, None, feedback)
        return finish_training(result.output_model, result.accuracy, feedback)


def add_deep_parameters(alg) -> None:
    """Every parameter of deep training but the chip folders and the output (shared with
    the deprecated Train Model, which offers them too)."""
    alg.add_choice("ARCHITECTURE", "Architecture", [(n, lab) for n, _, lab in ARCHITECTURES],
                    "unet", "Segmentation architecture.")
    alg.add_choice("BACKBONE", "Backbone (encoder)", [(b, b) for b in BACKBONES],
                    "resnet34", "Encoder network; all build offline for any band count.")
    alg.add(QgsProcessingParameterNumber(
        "ENCODER_DEPTH", alg.tr("Encoder depth (empty = fitted to the chip size)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "How many times the encoder halves a chip: 3, 4 or 5 (U-Net and U-Net++; the other "
        "architectures are 5 only). Empty or 0: the deepest of 3..5 that leaves the last map "
        "at least 4 px wide (256 px chips: 5; 64 px: 4; 32 px: 3).", advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "DETAIL_HEAD", alg.tr("Detail head: classify with the input pixels at full resolution"),
        defaultValue=True),
        "U-Net and U-Net++: the input bands are joined to the decoder's full-resolution output "
        "before the class scores (two small convolutions), so one-pixel detail reaches the "
        "map (BENCHMARKS.md, Map quality round 8: nc_landsat7's boundary F-score 0.56 -> 0.64 "
        "at a small cost in OA; macro F1 on sparse polygon labels up by 0.00-0.16). Off: smp's plain head, whose finest "
        "input is at half resolution (packages then stay readable by older LandLearns). "
        "Other architectures are built without it (the log says so).", advanced=True)
    alg.add(QgsProcessingParameterFile(
        "PRETRAINED_WEIGHTS", alg.tr("Pretrained weights (optional)"), optional=True,
        fileFilter="Weights (*.safetensors *.dlpk *.pt *.pth)"),
        "A local weights file to start from: a previous LandLearn package (.dlpk), encoder "
        "or full-model weights (.safetensors, or .pt/.pth as torch.save writes them, read "
        "without running code), "
        "including timm / torchgeo / SSL4EO checkpoints of the same backbone (their wrapping "
        "prefixes such as 'module.encoder_q.' or 'backbone.' are found). The first layer's "
        "filters are matched to the training bands by name or wavelength (PRETRAINED_BANDS), "
        "else cycled over them. Nothing is downloaded.", advanced=True)
    alg.add(QgsProcessingParameterString(
        "PRETRAINED_BANDS", alg.tr("Bands of the pretrained weights (optional)"),
        optional=True),
        "The input bands of PRETRAINED_WEIGHTS, in order: a preset (sentinel2 = B01..B12 with "
        "B8A, 13 bands as SSL4EO-S12 and torchgeo's Sentinel-2 weights; sentinel2_l2a without "
        "B10; landsat8; rgb; rgbn) or names such as 'red,green,blue' or '490nm,560nm'. Each "
        "training band takes the filters of the band with the same name, else of the nearest "
        "wavelength within 30 nm, else the mean filter; the log lists every match. Empty: the "
        "bands a package or a safetensors 'bands' metadata entry names.", advanced=True)
    alg.add(QgsProcessingParameterString(
        "BAND_NAMES", alg.tr("Names of the training bands (optional)"), optional=True),
        "Names of the training chips' bands for that matching, comma-separated in band order "
        "(e.g. 'B02,B03,B04,B08'), when the raster's band descriptions do not name them. "
        "Empty: the descriptions, or Band_1, Band_2, ...", advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "FREEZE", alg.tr("Freeze the pretrained encoder"), defaultValue=False),
        "With PRETRAINED_WEIGHTS: the encoder keeps its pretrained weights and only the "
        "decoder, the head and the first convolution (which reads this raster's bands) "
        "learn (arcgis.learn's freeze). Helps when labelled chips are few; the encoder's "
        "BatchNorm statistics still adapt to the chips. Off: everything is fine-tuned.",
        advanced=True)
    alg.add(QgsProcessingParameterString(
        "IGNORE_CLASSES", alg.tr("Ignore classes"), defaultValue="0", optional=True),
        "Class values left out of the loss and the metrics, comma-separated. 0 is no label "
        "(NoData) whatever is given here; to train it as ArcGIS's 'background', set "
        "BACKGROUND_VALUE.")
    alg.add(QgsProcessingParameterNumber(
        "BACKGROUND_VALUE", alg.tr("Train unlabelled pixels as 'background' of value (0 = no)"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0, maxValue=255),
        "0: the label chips' 0 is no label, left out of training (LandLearn's default: sparse "
        "polygons say nothing about the ground between them). 1..255: their 0 on image data "
        "is trained as a class of this value named 'background', as arcgis.learn trains "
        "ArcGIS Pro's Classified Tiles, so a model of buildings or roads learns the ground "
        "between them; the map shows it with this value. It must be a value no class uses. "
        "It applies to every folder of TRAINING_DATA, LandLearn's exports too (their 0 is "
        "the ground outside the polygons, and a label raster's NoData).",
        advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "EPOCHS", alg.tr("Epochs"), QgsProcessingParameterNumber.Type.Integer, defaultValue=20),
        "Passes over the training chips (early stopping may end sooner).")
    alg.add(QgsProcessingParameterNumber(
        "BATCH_SIZE", alg.tr("Batch size (empty = automatic)"),
        QgsProcessingParameterNumber.Type.Integer, optional=True),
        "Chips per step. Empty: about 8 chips of 256 x 256 px (16 of 64 px), never more than "
        "the training chips, on a GPU too (halved where it does not fit): small training "
        "sets need steps per epoch more than throughput.")
    alg.add(QgsProcessingParameterNumber(
        "LEARNING_RATE", alg.tr("Learning rate (empty = find it)"),
        QgsProcessingParameterNumber.Type.Double, optional=True),
        "Peak learning rate of the one-cycle schedule. Empty: a learning-rate finder runs "
        "first and the log says what it chose.")
    alg.add(QgsProcessingParameterNumber(
        "VALIDATION_PERCENT", alg.tr("Validation percent"),
        QgsProcessingParameterNumber.Type.Double, defaultValue=10.0),
        "Share of the labelled pixels held out, as whole spatial blocks (each pixel counted "
        "once however many overlapping chips hold it; the log says the share reached). "
        "Of several block draws from SEED, the one whose held-out pixels hold each class "
        "nearest this share of its labels (and its training pixels nearest the rest) is "
        "kept, and the log names classes no held-out block holds. Training chips that overlap them are dropped. 0: no validation (the "
        "metrics are then on training chips and say so).")
    alg.add(QgsProcessingParameterNumber(
        "EARLY_STOPPING", alg.tr("Early stopping patience (epochs, 0 = off)"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=5),
        "Stop after this many epochs without a better MONITOR figure (validation mean IoU "
        "by default), counted from the epoch the one-cycle learning rate peaks (30% of "
        "EPOCHS) at the earliest.")
    alg.add_choice("MONITOR", "Monitor (picks the best epoch)",
                   [("mean_iou", "Validation mean IoU"), ("valid_loss", "Validation loss"),
                    ("accuracy", "Validation accuracy"), ("macro_f1", "Validation macro F1")],
                   "mean_iou",
                   "The validation figure that picks the epoch the package keeps and that "
                   "early stopping waits to improve (arcgis.learn's monitor; ArcGIS's "
                   "default is the loss). Mean IoU and macro F1 weigh every class alike, "
                   "accuracy follows the common classes, the loss the confidence too. With "
                   "VALIDATION_PERCENT 0 the training loss decides whatever is chosen.",
                   advanced=True)
    alg.add_choice("LOSS", "Loss", LOSSES, "crossentropy",
                    "Training loss; all skip NoData and ignored classes.", advanced=True)
    alg.add_choice("CLASS_WEIGHTING", "Class weighting",
                    WEIGHTINGS, "none",
                    "Weight classes in the loss by the inverse of their pixel share in the "
                    "training chips, or by its square root (a class on 1% of the pixels "
                    "weighs 10x, not 100x, a class on all of them).")
    alg.add_choice("CHIP_SAMPLING", "Chip sampling",
                    [("uniform", "Uniform (each chip once per epoch)"),
                     ("balanced", "Class-balanced (repeat rare classes' chips)")], "uniform",
                    "Balanced: chips holding a class found in fewer than its even share of the "
                    "training chips are repeated in each epoch (up to sqrt(share / found) "
                    "times; the log names the classes), instead of weighting the loss.",
                    advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "ENSEMBLE_SIZE", alg.tr("Networks in the ensemble"),
        QgsProcessingParameterNumber.Type.Integer, defaultValue=2, minValue=1,
        maxValue=MAX_MEMBERS),
            "How many networks are trained, from seeds SEED, SEED + 1, ... on the same chips, "
            "and packaged as one model averaging their class probabilities. The default 2 "
            "mapped better and steadier than one network on every benchmark set (overall "
            "accuracy up 0.005-0.05, its spread between seeds down up to 3x), at twice the "
            "training and classify time; 1 trains one network (half the time), 3 or more "
            "steady the map further.", advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "AUGMENTATION", alg.tr("Augmentation (flips, 90° rotations)"), defaultValue=True),
        "Random flips and right-angle rotations of each chip.", advanced=True)
    alg.add(QgsProcessingParameterNumber(
        "RADIOMETRIC_JITTER", alg.tr("Brightness/contrast jitter (0..1, 0 = off)"),
        QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0, maxValue=1.0),
        "Each training chip's bands scaled by 1 +- this and shifted by +- this many standard "
        "deviations, drawn per chip and band (arcgis.learn's brightness and contrast "
        "augmentation), for maps of areas whose light, season or calibration differ from "
        "the training area's. 0.1 is a mild setting; off by default (BENCHMARKS.md has what "
        "it did on nc).", advanced=True)
    alg.add_choice("DEVICE", "Device", [("auto", "Auto (GPU when available)"),
                                         ("cuda", "CUDA GPU"), ("cpu", "CPU")], "auto",
                    "Where to train. cuda fails clearly when no GPU is usable.")
    alg.add(QgsProcessingParameterBoolean(
        "MIXED_PRECISION", alg.tr("Mixed precision on GPU"), defaultValue=True),
        "bfloat16/float16 autocast on CUDA; ignored on CPU.", advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "SAVE_ON_CANCEL", alg.tr("On cancel, save the best model so far"),
        defaultValue=False),
        "Off: a cancel writes nothing. On: the best epoch so far is saved as the package.",
        advanced=True)
    alg.add(QgsProcessingParameterBoolean(
        "QUANTIZE", alg.tr("Also write an int8 graph (fast CPU classify)"), defaultValue=False),
        "Adds an int8 (quantised) ONNX graph to the package, calibrated on up to 32 training "
        "chips; Classify Pixels runs it with QUANTIZE, about 1.4x as fast as the float graph on "
        "the CPU (1.9x torch). How "
        "often its "
        "classes agree with the float graph on validation chips goes into the package and "
        "the training log.", advanced=True)
