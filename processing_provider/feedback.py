"""QgsProcessingFeedback adapted onto the engine's small Progress protocol."""

from __future__ import annotations

from qgis.core import QgsProcessingFeedback


class FeedbackProgress:
    def __init__(self, feedback: QgsProcessingFeedback | None):
        self.feedback = feedback or QgsProcessingFeedback()

    def set_fraction(self, fraction: float) -> None:
        self.feedback.setProgress(100.0 * min(max(fraction, 0.0), 1.0))

    def is_canceled(self) -> bool:
        return self.feedback.isCanceled()

    def info(self, text: str) -> None:
        self.feedback.pushInfo(text)

    def warning(self, text: str) -> None:
        self.feedback.pushWarning(text)
