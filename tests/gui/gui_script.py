"""Driven inside QGIS desktop (`qgis --code`): open every LandLearn dialog from the toolbar
on a loaded raster, run Classify Pixels from its dialog, screenshot, report, quit.

Modal dialogs block, so each step is a timer that fires inside the dialog's event loop.
Results go to $LANDLEARN_GUI_OUT/results.json for the pytest that started QGIS.
"""

import json
import os
import traceback

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QApplication
from qgis.utils import iface, plugins

OUT = os.environ["LANDLEARN_GUI_OUT"]
IMAGE = os.environ["LANDLEARN_GUI_IMAGE"]
MODEL = os.environ["LANDLEARN_GUI_MODEL"]
results = {"dialogs": {}, "errors": []}


def trace(text):
    with open(os.path.join(OUT, "trace.txt"), "a") as fh:
        fh.write(text + "\n")


trace("script started")
queue = []


def finish():
    with open(os.path.join(OUT, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    QgsProject.instance().setDirty(False)
    os._exit(0)


def guarded(fn):
    def run():
        try:
            fn()
        except Exception:  # noqa: BLE001 - reported to the test
            results["errors"].append(traceback.format_exc())
            finish()
    return run


def next_step(delay=500):
    if queue:
        QTimer.singleShot(delay, guarded(queue.pop(0)))
    else:
        QTimer.singleShot(delay, finish)


def load_layer():
    trace("load_layer")
    layer = QgsRasterLayer(IMAGE, "landsat_multiband")
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    iface.mapCanvas().setExtent(layer.extent())
    iface.mapCanvas().refresh()
    results["plugin_loaded"] = "landlearn" in plugins
    results["layer_id"] = layer.id()
    actions = [a for a in iface.mainWindow().findChildren(QAction)
               if a.objectName().startswith("landlearn_")]
    results["actions"] = sorted(a.objectName() for a in actions)
    for action in actions:
        queue.append(lambda a=action: open_dialog(a))
    queue.append(run_classify)
    next_step(1500)


def algorithm_dialog():
    """The open Processing dialog (not necessarily Qt's 'active modal widget' under Xvfb)."""
    from qgis.gui import QgsProcessingAlgorithmDialogBase

    found = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible()]
    return found[-1] if found else None


def open_dialog(action):
    name = action.objectName()[len("landlearn_"):]

    def inspect():
        dlg = algorithm_dialog()
        trace(f"inspect {name}: {dlg!r}")
        info = {"title": dlg.windowTitle() if dlg else None}
        if dlg is not None:
            dlg.grab().save(os.path.join(OUT, f"dialog_{name}.png"))
            wrappers = dlg.mainWidget().wrappers
            for key in ("INPUT_RASTER", "EXTENT"):
                if key in wrappers:
                    info[key] = str(wrappers[key].parameterValue())
            dlg.reject()
        results["dialogs"][name] = info

    QTimer.singleShot(2000, guarded(inspect))
    trace(f"trigger {name}")
    action.trigger()  # modal: returns once inspect() closed it
    trace(f"returned {name}")
    next_step()


def run_classify():
    action = next(a for a in iface.mainWindow().findChildren(QAction)
                  if a.objectName() == "landlearn_classifypixels")
    out = os.path.join(OUT, "classified.tif")

    def fill_and_run():
        dlg = algorithm_dialog()
        trace(f"classify dialog {dlg!r}")
        dlg.mainWidget().setParameters({"MODEL": MODEL, "DEVICE": 2, "OUTPUT": out,
                                        "INPUT_RASTER": results["layer_id"], "EXTENT": None})
        trace(f"params set: {dlg.mainWidget().createProcessingParameters()}")
        dlg.runAlgorithm()
        trace("runAlgorithm returned")
        QTimer.singleShot(500, guarded(lambda: wait_done(dlg)))

    tries = [0]

    def wait_done(dlg):
        tries[0] += 1
        if tries[0] % 10 == 1:
            trace(f"waiting {tries[0]}: {[lyr.source() for lyr in QgsProject.instance().mapLayers().values()]}")
        layers = [lyr for lyr in QgsProject.instance().mapLayers().values()
                  if lyr.source() == out]
        if layers or tries[0] > 240:
            if layers:
                renderer = layers[0].renderer()
                results["classified_layer"] = {
                    "renderer": renderer.type(),
                    "classes": [c.label for c in renderer.classes()]
                    if renderer.type() == "paletted" else []}
            dlg.grab().save(os.path.join(OUT, "dialog_classifypixels_log.png"))
            dlg.close()
            iface.setActiveLayer(layers[0] if layers else None)
            iface.mapCanvas().refreshAllLayers()
            QTimer.singleShot(3000, guarded(screenshot))
            return
        QTimer.singleShot(500, guarded(lambda: wait_done(dlg)))

    QTimer.singleShot(2000, guarded(fill_and_run))
    action.trigger()


def screenshot():
    iface.mainWindow().grab().save(os.path.join(OUT, "main_window.png"))
    finish()


QTimer.singleShot(3000, guarded(load_layer))
