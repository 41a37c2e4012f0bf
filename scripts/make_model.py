"""Build models/land_cover_from_polygons.model3, the graphical-modeler workflow shipped with
the plugin: Export Training Data -> Train Deep Learning Model -> Classify Pixels.

Built in code rather than drawn, so that it is reviewable and rebuilt the same way; open it
in the Graphical Modeler to see (and edit) it. Run with the QGIS environment:
    source scripts/qgis_env.sh && .venv/bin/python scripts/make_model.py
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "models", "land_cover_from_polygons.model3")


def build():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterField,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterVectorLayer,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Src,
    )
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Land cover from polygons", "Workflows")
    model.setHelpContent({"ALG_DESC": (
        "Exports training chips from an image and labelled polygons, trains a U-Net on them "
        "and classifies the whole image: the deep-learning land-cover workflow in one run. "
        "Open it in the Graphical Modeler to change any step.")})
    inputs = [
        (QgsProcessingParameterRasterLayer("IMAGE", "Image"), 60),
        (QgsProcessingParameterVectorLayer("POLYGONS", "Training polygons",
                                           [QgsProcessing.SourceType.TypeVectorPolygon]), 130),
        (QgsProcessingParameterField("CLASS_FIELD", "Class field",
                                     parentLayerParameterName="POLYGONS"), 200),
        (QgsProcessingParameterNumber("TILE_SIZE", "Chip size (pixels)",
                                      QgsProcessingParameterNumber.Type.Integer, 64, minValue=32), 270),
        (QgsProcessingParameterNumber("EPOCHS", "Epochs", QgsProcessingParameterNumber.Type.Integer,
                                      10, minValue=1), 340),
    ]
    for param, y in inputs:
        component = QgsProcessingModelParameter(param.name())
        component.setPosition(QPointF(120, y))
        model.addModelParameter(param, component)

    def child(alg_id, cid, description, x, y, params):
        c = QgsProcessingModelChildAlgorithm(alg_id)
        c.setChildId(cid)
        c.setDescription(description)
        c.setPosition(QPointF(x, y))
        for key, source in params.items():
            c.addParameterSources(key, [source])
        return c

    tile = Src.fromModelParameter("TILE_SIZE")
    export = child("landlearn:exporttrainingdata", "export", "Export Training Data", 420, 120, {
        "INPUT_RASTER": Src.fromModelParameter("IMAGE"),
        "LABELS": Src.fromModelParameter("POLYGONS"),
        "CLASS_FIELD": Src.fromModelParameter("CLASS_FIELD"),
        "TILE_SIZE_X": tile, "TILE_SIZE_Y": tile,
        "STRIDE_X": Src.fromExpression("@TILE_SIZE / 2"),
        "STRIDE_Y": Src.fromExpression("@TILE_SIZE / 2"),
        "OUTPUT_FOLDER": Src.fromStaticValue("TEMPORARY_OUTPUT"),
    })
    train = child("landlearn:traindeeplearningmodel", "train",
                  "Train Deep Learning Model (U-Net)", 420, 260, {
        "TRAINING_DATA": Src.fromChildOutput("export", "OUTPUT_FOLDER"),
        "EPOCHS": Src.fromModelParameter("EPOCHS"),
        "BACKBONE": Src.fromStaticValue(0),  # resnet18: light enough for a CPU
        "VALIDATION_PERCENT": Src.fromStaticValue(15),
        "OUTPUT_MODEL": Src.fromStaticValue("TEMPORARY_OUTPUT"),
    })
    classify = child("landlearn:classifypixels", "classify", "Classify Pixels", 420, 400, {
        "INPUT_RASTER": Src.fromModelParameter("IMAGE"),
        "MODEL": Src.fromChildOutput("train", "OUTPUT_MODEL"),
    })
    output = QgsProcessingModelOutput("Land cover", "Land cover")
    output.setChildId("classify")
    output.setChildOutputName("OUTPUT")
    output.setPosition(QPointF(650, 440))
    classify.setModelOutputs({"Land cover": output})
    report = QgsProcessingModelOutput("Model package", "Model package")
    report.setChildId("train")
    report.setChildOutputName("OUTPUT_MODEL")
    report.setPosition(QPointF(650, 300))
    train.setModelOutputs({"Model package": report})
    for c in (export, train, classify):
        model.addChildAlgorithm(c)
    model.updateDestinationParameters()
    return model


def main() -> int:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from paths import ensure_importable

    ensure_importable()
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from landlearn.processing_provider.provider import LandLearnProvider

    provider = LandLearnProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    model = build()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    ok = model.toFile(OUT)
    print(("wrote " if ok else "FAILED to write ") + OUT)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
