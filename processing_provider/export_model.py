"""Export Model: a deep package's ONNX graph for other tools, and older packages updated."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from .base import LandLearnAlgorithm


class ExportModelAlgorithm(LandLearnAlgorithm):
    ID = "exportmodel"
    DISPLAY_NAME = "Export Model"
    GROUP = "Deep learning"
    ICON = "classify"
    HELP = (
        "Writes the ONNX graph of a deep model package: the network with its input "
        "normalisation and softmax folded in, so it takes raw band values (float32) and gives "
        "class probabilities, with any batch and tile size (before the package's confidence "
        "calibration: Classify Pixels divides the scores by its temperature, in the "
        "metadata's 'landlearn' entry, so its probabilities differ a little; the class is "
        "the same). Its metadata holds the class "
        "names, tile size, overlap, resolution and the standardisation keys QGIS's Deepness "
        "plugin reads; a Deepness-ready copy (NAME_deepness.onnx, tile size fixed) is "
        "written beside it. ONNX Runtime, OpenCV and Orfeo ToolBox run the same file. "
        "QUANTIZE also writes an int8 graph (NAME_int8.onnx), calibrated on chips of "
        "CALIBRATION_DATA, which Classify Pixels runs with its QUANTIZE option. "
        "OUTPUT_MODEL writes a copy of the package with the graphs inside, for packages "
        "trained without onnx installed or without an int8 graph, so Classify Pixels can run "
        "them on ONNX Runtime "
        "(faster on CPU, no torch needed). The graph is checked against torch before anything "
        "is written. Classical models run on scikit-learn and are not exported.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:exportmodel -- MODEL=model.dlpk "
        "OUTPUT_ONNX=model.onnx"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(
            "MODEL", self.tr("Model package (.dlpk or .emd)"),
            fileFilter="LandLearn model (*.dlpk *.emd)"),
            "A deep model package from Train Deep Learning Model.")
        self.add(QgsProcessingParameterFileDestination(
            "OUTPUT_ONNX", self.tr("ONNX graph"), fileFilter="ONNX (*.onnx)"),
            "The .onnx file to write.")
        self.add(QgsProcessingParameterBoolean(
            "DEEPNESS", self.tr("Also write a Deepness-ready copy"), defaultValue=True),
            "Writes NAME_deepness.onnx beside OUTPUT_ONNX, its tile size fixed to the "
            "training tile as the Deepness plugin requires.")
        # not written unless asked for: the dialog would otherwise copy the whole package
        # to a temporary file on every run
        self.add(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Package with the graph inside"),
            fileFilter="Model package (*.dlpk)", optional=True, createByDefault=False),
            "Optional: a copy of the package with the ONNX graph added (for packages "
            "trained without onnx installed).")
        self.add(QgsProcessingParameterBoolean(
            "QUANTIZE", self.tr("Also write an int8 graph (fast CPU classify)"),
            defaultValue=False),
            "Writes NAME_int8.onnx beside OUTPUT_ONNX (and into OUTPUT_MODEL): the graph "
            "quantised to int8, calibrated on chips of CALIBRATION_DATA. Classify Pixels runs "
            "it with QUANTIZE, about 1.4x as fast as the float graph on the CPU (1.9x torch), with a slightly different map "
            "(how often its classes agree with the float graph is logged and stored).")
        self.add(QgsProcessingParameterFile(
            "CALIBRATION_DATA", self.tr("Calibration chips (for QUANTIZE)"),
            behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True),
            "An Export Training Data folder of the bands the model takes (its training data "
            "is best): up to 32 of its chips (fewer when they are larger than 128 px) set the "
            "int8 value ranges, 8 others check the result.")
        self.addOutput(QgsProcessingOutputFile("OUTPUT_DEEPNESS", self.tr("Deepness-ready copy")))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_INT8", self.tr("int8 graph")))

    def perform(self, parameters, context, progress, feedback):
        from ..core.deep.export_model import ExportModelConfig, export_model

        output_model = None
        if parameters.get("OUTPUT_MODEL") not in (None, ""):
            output_model = self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context) or None
        result = export_model(ExportModelConfig(
            model=self.parameterAsFile(parameters, "MODEL", context),
            output_onnx=self.parameterAsFileOutput(parameters, "OUTPUT_ONNX", context),
            deepness=self.parameterAsBoolean(parameters, "DEEPNESS", context),
            output_model=output_model,
            quantize=self.parameterAsBoolean(parameters, "QUANTIZE", context),
            calibration_data=self.parameterAsFile(parameters, "CALIBRATION_DATA", context)
            or None), progress)
        feedback.pushInfo(result.summary())
        return {"OUTPUT_ONNX": result.output_onnx, "OUTPUT_DEEPNESS": result.output_deepness,
                "OUTPUT_MODEL": result.output_model, "OUTPUT_INT8": result.output_int8}
