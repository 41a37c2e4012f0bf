"""What the two training algorithms share: the package path and the results they return."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
)


def add_model_output(alg, report: str) -> None:
    """OUTPUT_MODEL and the outputs every training returns (the report is an HTML output:
    QGIS lists it in Processing's Results Viewer, one click to open)."""
    alg.add(QgsProcessingParameterFileDestination(
        "OUTPUT_MODEL", alg.tr("Model package"), fileFilter="Model package (*.dlpk)"),
        "The .dlpk to write.")
    alg.addOutput(QgsProcessingOutputHtml("REPORT", alg.tr(report)))
    alg.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", alg.tr("Overall accuracy")))
    alg.addOutput(QgsProcessingOutputNumber("MEAN_IOU", alg.tr("Mean IoU")))


def dlpk_path(output: str) -> str:
    """OUTPUT_MODEL with the .dlpk extension a package needs, added (replacing what looked
    like an extension made 'rf_0.5m' 'rf_0.dlpk': another model's name, replaced)."""
    return output if output.lower().endswith(".dlpk") else output + ".dlpk"


def finish_training(package: str, accuracy, feedback, logged: bool = False) -> dict:
    """Unpack the report beside the package, log the accuracy table (unless the engine
    ``logged`` it already: Train Classifier's cross-validation table came twice), return
    the outputs."""
    from ..core.model_package.format import unpack_report

    report = unpack_report(package)
    if accuracy is not None and not logged:
        feedback.pushInfo(accuracy.table())
    feedback.pushInfo(f"Model package: {package}")
    feedback.pushInfo(f"Report: {report}")
    return {"OUTPUT_MODEL": package, "REPORT": report,
            "OVERALL_ACCURACY": accuracy.overall if accuracy else None,
            "MEAN_IOU": accuracy.mean_iou if accuracy else None}
