"""Cancelling an algorithm mid-run from processing.run, and what a cancel must leave: the
promise "Cancel leaves nothing half-written" (no output, no temporary file beside where
the outputs were to go, inputs as they were)."""

import hashlib
import os


def cancelling_feedback(at_percent: float):
    """A QgsProcessingFeedback that clicks Cancel itself once the progress reaches
    ``at_percent``, so the cancel lands where the algorithm is mid-way. It listens to
    progressChanged, so progress QGIS's own C++ reports (a vector layer's copy) counts as
    well as the engine's. ``reported`` keeps every progress value, ``cancelled_at`` the one
    that cancelled (None: the run never got that far)."""
    from qgis.core import QgsProcessingFeedback

    class CancelMidRun(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.reported: list[float] = []
            self.cancelled_at: float | None = None
            self.progressChanged.connect(self._progress)

        def _progress(self, value: float) -> None:
            self.reported.append(value)
            if value >= at_percent and self.cancelled_at is None:
                self.cancelled_at = value
                self.cancel()

    return CancelMidRun()


def tree(folder) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``, hidden ones included (temporaries are
    hidden), with (size, mtime_ns) of each file and (-1, 0) for a folder."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder)] = (-1, 0)
        for name in files:
            st = os.stat(os.path.join(root, name))
            found[os.path.relpath(os.path.join(root, name), folder)] = (st.st_size, st.st_mtime_ns)
    return found


def fingerprints(*paths) -> dict[str, tuple[int, int, str]]:
    """(size, mtime_ns, sha256) of each input file: what 'unchanged' is checked on."""
    out = {}
    for path in paths:
        path = os.fspath(path)
        st = os.stat(path)
        with open(path, "rb") as fh:
            out[path] = (st.st_size, st.st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return out
