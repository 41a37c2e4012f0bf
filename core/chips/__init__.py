"""Training chips in Esri's Classified Tiles layout: Export Training Data writes them,
training_data reads them back (LandLearn's own folders and ArcGIS Pro's)."""

from __future__ import annotations

from .export_training_data import ExportConfig, ExportResult, export_training_data
from .training_data import Chip, TrainingData, read_training_data

__all__ = ["Chip", "ExportConfig", "ExportResult", "TrainingData", "export_training_data",
           "read_training_data"]
