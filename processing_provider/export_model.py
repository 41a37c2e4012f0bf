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
        "class probabilities, with any batch and tile size. Its metadata holds the class "
        "names, tile size, overlap, resolution and the standardisation keys QGIS's Deepness "
        "plugin reads; a Deepness-ready copy (<name>_deepness.onnx, tile size fixed) is "
        "written beside it. ONNX Runtime, OpenCV and Orfeo ToolBox run the same file. "
        "OUTPUT_MODEL writes a copy of the package with the graph inside, for packages "
        "trained before LandLearn 0.2, so Classify Pixels can run them on ONNX Runtime "
        "(faster on CPU, no torch needed). The graph is checked against torch before anything "
        "is written. Classical models run on scikit-learn and are not exported.\n\n"
        "Example (qgis_process): qgis_process run landlearn:exportmodel -- MODEL=model.dlpk "
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
            "Writes <name>_deepness.onnx beside OUTPUT_ONNX, its tile size fixed to the "
            "training tile as the Deepness plugin requires.")
        self.add(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Package with the graph inside"),
            fileFilter="Model package (*.dlpk)", optional=True),
            "Optional: a copy of the package with the ONNX graph added (for packages from "
            "LandLearn before 0.2).")
        self.addOutput(QgsProcessingOutputFile("OUTPUT_DEEPNESS", self.tr("Deepness-ready copy")))

    def perform(self, parameters, context, progress, feedback):
        from ..core.deep.export_model import ExportModelConfig, export_model

        output_model = None
        if parameters.get("OUTPUT_MODEL") not in (None, ""):
            output_model = self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context) or None
        result = export_model(ExportModelConfig(
            model=self.parameterAsFile(parameters, "MODEL", context),
            output_onnx=self.parameterAsFileOutput(parameters, "OUTPUT_ONNX", context),
            deepness=self.parameterAsBoolean(parameters, "DEEPNESS", context),
            output_model=output_model), progress)
        feedback.pushInfo(result.summary())
        return {"OUTPUT_ONNX": result.output_onnx, "OUTPUT_DEEPNESS": result.output_deepness,
                "OUTPUT_MODEL": result.output_model}
