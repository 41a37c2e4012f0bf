"""processing_provider.feedback: the engine's progress calls keep QGIS's events flowing on
the main thread, so a Cancel click is heard while LandLearn works there."""

import threading


def test_a_cancel_posted_as_an_event_is_heard_by_the_next_check(qgis_app):
    from qgis.core import QgsProcessingFeedback
    from qgis.PyQt.QtCore import QTimer

    from landlearn.processing_provider.feedback import FeedbackProgress

    feedback = QgsProcessingFeedback()
    progress = FeedbackProgress(feedback)
    QTimer.singleShot(0, feedback.cancel)  # what a click on Cancel becomes: an event
    assert not feedback.isCanceled()
    assert progress.is_canceled()  # events handled within the check


def test_events_are_pumped_at_most_ten_times_a_second_and_never_off_the_main_thread(
        qgis_app, monkeypatch):
    from qgis.PyQt.QtCore import QCoreApplication

    from landlearn.processing_provider import feedback as module

    calls = []
    monkeypatch.setattr(QCoreApplication, "processEvents", lambda *a: calls.append(1))
    progress = module.FeedbackProgress(None)
    for _ in range(100):
        progress.is_canceled()
        progress.set_fraction(0.5)
    assert len(calls) == 1  # within 0.1 s of each other: one pump
    progress._pumped = 0.0
    worker = threading.Thread(target=progress.is_canceled)
    worker.start()
    worker.join()
    assert len(calls) == 1  # a worker thread must not run the GUI's events


def test_a_run_started_from_the_events_of_a_running_one_is_refused(provider):
    """Another dialog's Run, clicked while LandLearn lets QGIS's events through, would run
    to its end inside the first run's check, freezing it; it is refused by name."""
    import processing
    from qgis.core import QgsProcessingException
    from qgis.PyQt.QtCore import QTimer

    from landlearn.processing_provider.feedback import FeedbackProgress

    outcome = []

    def second_run():
        try:
            processing.run("landlearn:diagnostics", {"DEVICE": "cpu"})
            outcome.append("ran")
        except QgsProcessingException as exc:
            outcome.append(str(exc))

    QTimer.singleShot(0, second_run)
    FeedbackProgress(None).is_canceled()  # the first run's check lets the click through
    assert len(outcome) == 1 and "another LandLearn algorithm is running" in outcome[0]
    assert processing.run("landlearn:diagnostics", {"DEVICE": "cpu"})  # outside a pump: runs
