"""QgsProcessingFeedback adapted onto the engine's small Progress protocol.

LandLearn's algorithms run on QGIS's main thread (FlagNoThreading, see base.py). There QGIS
pumps the event loop only when progress moves a visible step or a line is logged, and not
at all for a model run as a background task: the window froze ("Not responding") and Cancel
could not be clicked through a learning-rate finder, a validation pass or a long tile. The
engine asks is_canceled() per tile, batch and step; that call now also lets QGIS handle its
events, at most ten times a second, as QGIS's own dialog does for main-thread algorithms.
"""

from __future__ import annotations

import time

from qgis.core import QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication, QThread

PUMP_EVERY_S = 0.1
_PUMPING = [0]  # depth of the event pumps under way: a run started inside one is nested


def pumping() -> bool:
    """Whether this call runs inside the events a LandLearn algorithm let through: a second
    run started from the GUI then (another dialog's Run) would freeze the first until done."""
    return _PUMPING[0] > 0


class FeedbackProgress:
    def __init__(self, feedback: QgsProcessingFeedback | None):
        self.feedback = feedback or QgsProcessingFeedback()
        self._pumped = 0.0

    def _pump(self) -> None:
        now = time.monotonic()
        if now - self._pumped < PUMP_EVERY_S:
            return
        self._pumped = now
        app = QCoreApplication.instance()
        if app is not None and QThread.currentThread() == app.thread():
            _PUMPING[0] += 1
            try:
                QCoreApplication.processEvents()
            finally:
                _PUMPING[0] -= 1

    def set_fraction(self, fraction: float) -> None:
        self.feedback.setProgress(100.0 * min(max(fraction, 0.0), 1.0))
        self._pump()

    def is_canceled(self) -> bool:
        self._pump()  # a Cancel click is an event: heard only if events are handled
        return self.feedback.isCanceled()

    def info(self, text: str) -> None:
        self.feedback.pushInfo(text)

    def warning(self, text: str) -> None:
        self.feedback.pushWarning(text)
