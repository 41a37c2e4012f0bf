"""The 'landlearn' Processing provider: an explicit list of algorithms, nothing heavy."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider

from .assess_accuracy import AssessAccuracyAlgorithm
from .base import icon
from .classify_pixels import ClassifyPixelsAlgorithm
from .classify_raster_collection import ClassifyRasterCollectionAlgorithm
from .diagnostics import DiagnosticsAlgorithm
from .export_model import ExportModelAlgorithm
from .export_training_data import ExportTrainingDataAlgorithm
from .rasterize_labels import RasterizeLabelsAlgorithm
from .refine_classification import RefineClassificationAlgorithm
from .segment import SegmentAlgorithm
from .train_classifier import TrainClassifierAlgorithm
from .train_deep_learning_model import TrainDeepLearningModelAlgorithm
from .train_model import TrainModelAlgorithm

# Each capability adds its algorithm here, in the order users meet them.
ALGORITHMS = (
    RasterizeLabelsAlgorithm,
    ExportTrainingDataAlgorithm,
    TrainDeepLearningModelAlgorithm,
    TrainClassifierAlgorithm,
    ClassifyPixelsAlgorithm,
    ClassifyRasterCollectionAlgorithm,
    ExportModelAlgorithm,
    AssessAccuracyAlgorithm,
    SegmentAlgorithm,
    RefineClassificationAlgorithm,
    DiagnosticsAlgorithm,
)


# Still registered (scripts and models keep working) but hidden from the toolbox and menus.
DEPRECATED = (TrainModelAlgorithm,)


class LandLearnProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "landlearn"

    def name(self) -> str:
        return "LandLearn"

    def longName(self) -> str:
        return "LandLearn — land-cover classification with deep learning and classical classifiers"

    def icon(self):
        return icon("landlearn")

    # LandLearn writes GeoTIFF rasters and GeoPackage vectors: the save dialogs offer those,
    # and temporary outputs take them whatever the user's default extension is
    def supportsNonFileBasedOutput(self) -> bool:
        """Outputs are files LandLearn writes itself (atomically): the dialog must not offer
        'Save to GeoPackage...', database tables or memory layers, which the engine then
        refused."""
        return False

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        return ["tif", "tiff"]

    def defaultRasterFileExtension(self) -> str:
        return "tif"

    def supportedOutputVectorLayerExtensions(self) -> list[str]:
        return ["gpkg"]

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:  # noqa: N803
        return "gpkg"

    def loadAlgorithms(self) -> None:
        for cls in ALGORITHMS + DEPRECATED:
            self.addAlgorithm(cls())
