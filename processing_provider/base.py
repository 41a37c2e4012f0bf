"""What every LandLearn algorithm shares: naming, help, choices, errors and feedback.

Subclasses declare their parameters in ``initAlgorithm`` and do the work in ``perform`` (not ``run``: that is QgsProcessingAlgorithm.run, which
processing.run calls);
``processAlgorithm`` wraps ``perform`` so that engine errors become QgsProcessingException
(which QGIS shows without a traceback) and a cancel leaves nothing behind.
"""

from __future__ import annotations

import math
import os
import re

from qgis.core import (
    QgsFileUtils,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core.errors import LandLearnError
from ..core.geo.gdal_open import vrt_sources_nested
from ..core.geo.limits import DEFAULT_MAX_GPX
from ..core.runtime.diagnostics import bug_report
from ..core.seeds import MAX_SEED
from .choices import Choice
from .feedback import FeedbackProgress, pumping
from .selection import selection_unwrapped

ICONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icons")


def icon(name: str) -> QIcon:
    return QIcon(os.path.join(ICONS, f"{name}.svg"))


# numbers that are often smaller than 1e-4: cell sizes in degrees, learning rates
FINE_NUMBERS = ("CELL_SIZE", "LEARNING_RATE")


class LandLearnAlgorithm(QgsProcessingAlgorithm):
    #: set by subclasses
    ID = ""
    DISPLAY_NAME = ""
    GROUP = "Land cover"
    ICON = "landlearn"
    HELP = ""

    def __init__(self):
        super().__init__()
        self._choices: dict[str, Choice] = {}

    # -- identity ---------------------------------------------------------------
    def tr(self, text: str) -> str:
        return QCoreApplication.translate("LandLearn", text)

    def name(self) -> str:
        return self.ID

    def displayName(self) -> str:
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:
        return self.GROUP.lower().replace(" ", "")

    def shortHelpString(self) -> str:
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return icon(self.ICON)

    def createInstance(self):
        return type(self)()

    def flags(self):
        # The engine runs its own threads (reading, device, writing) and torch; started from
        # QGIS's background task thread it crashed QGIS 3.22 desktop (found by the Xvfb GUI
        # test), so the dialog runs LandLearn in the main thread and the engine parallelises.
        return super().flags() | QgsProcessingAlgorithm.Flag.FlagNoThreading

    # -- parameters ---------------------------------------------------------------
    def add(self, param: QgsProcessingParameterDefinition, help_text: str,
            advanced: bool = False) -> QgsProcessingParameterDefinition:
        """Add a parameter with its help text (the dialog's tooltip)."""
        if param.name() in FINE_NUMBERS:
            # the dialog's spin box keeps 6 decimals unless told: 0.0000027 degrees (0.3 m)
            # became 0.000003, 11% coarser cells; a learning rate of 5e-7 became 0 (review 95)
            param.setMetadata({**(param.metadata() or {}), "widget_wrapper": {"decimals": 12}})
        param.setHelp(self.tr(help_text))
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(param)
        return param

    def add_choice(self, key: str, description: str, options: list[tuple[str, str]],
                   default: str, help_text: str, advanced: bool = False) -> None:
        """An enum that also accepts option names (see choices.py)."""
        choice = Choice(key, tuple(n for n, _ in options), tuple(lab for _, lab in options))
        self._choices[key] = choice
        param = QgsProcessingParameterEnum(key, self.tr(description), options=list(choice.labels),
                                           defaultValue=choice.names.index(default))
        self.add(param, f"{help_text} Scripts may pass a name: {choice.describe()}.", advanced)

    def choice(self, parameters: dict, key: str) -> str:
        """The chosen option's name, whether the caller gave a name or an index."""
        choice = self._choices[key]
        value = parameters.get(key)
        if value in (None, ""):
            value = self.parameterDefinition(key).defaultValue()
        index = choice.index_of(value)
        if index is None:
            raise QgsProcessingException(f"{key}: '{value}' is not a valid choice; use one of "
                                         f"{choice.describe()}")
        return choice.names[index]

    def checkParameterValues(self, parameters, context):
        try:  # LABELS as a source definition: its layer (QGIS's own check refused it)
            normalized = dict(selection_unwrapped(parameters))
        except QgsProcessingException as exc:
            return False, str(exc)
        for key, choice in self._choices.items():
            value = normalized.get(key)
            if value in (None, ""):
                continue
            index = choice.index_of(value)
            if index is None:
                return False, (f"{key}: '{value}' is not a valid choice; use one of "
                               f"{choice.describe()}")
            normalized[key] = index
        said = numbers_out_of_range(self, normalized) or files_of_another_kind(self, normalized)
        if said:
            return False, said
        return super().checkParameterValues(normalized, context)

    # -- running -------------------------------------------------------------------
    def add_size_limit(self, what: str = "output") -> None:
        """MAX_OUTPUT_GPX: the guard against a CELL_SIZE or EXTENT that asks for too much."""
        self.add(QgsProcessingParameterNumber(
            "MAX_OUTPUT_GPX", self.tr(f"Largest {what} (gigapixels)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=DEFAULT_MAX_GPX, minValue=0.001),
            f"The run stops before reading any pixel when the {what} would hold more pixels "
            "than this (the log shows the size either way). Raise it for really large maps.",
            advanced=True)

    def add_seed(self, help_text: str) -> None:
        self.add(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed"), QgsProcessingParameterNumber.Type.Integer, defaultValue=0,
            minValue=0, maxValue=MAX_SEED),
            help_text, advanced=True)

    def size_limit(self, parameters, context) -> float:
        return self.parameterAsDouble(parameters, "MAX_OUTPUT_GPX", context)

    def processAlgorithm(self, parameters, context, feedback):
        if pumping():
            raise QgsProcessingException(
                f"{self.displayName()}: another LandLearn algorithm is running in this QGIS "
                "window; wait for it to finish (or cancel it), then run this one")
        try:
            parameters = booleans_read(self, parameters)
            return self.perform(parameters, context, FeedbackProgress(feedback), feedback)
        except LandLearnError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except QgsProcessingException:
            raise
        except ModuleNotFoundError as exc:
            # a package QGIS's Python lacks (not LandLearn's own, nor one LandLearn keeps out)
            ours = (__package__ or "landlearn").split(".")[0]  # the plugin's folder name
            if not (exc.name or "").startswith(("landlearn", "triton", ours)):
                raise QgsProcessingException(missing_package(exc.name or str(exc))) from exc
            feedback.reportError(bug_report(exc), fatalError=False)
            raise QgsProcessingException(f"{self.displayName()} failed unexpectedly: {exc}. "
                                         "This is a bug in LandLearn: please report it.") from exc
        except Exception as exc:  # noqa: BLE001 - a bug must still reach the user as a message
            files = input_files(self, parameters, context)
            unreadable = unreadable_input(exc, files)
            if unreadable and unreadable.startswith(tuple(k for k, _ in files)):
                raise QgsProcessingException(unreadable) from exc  # a named input's fault
            feedback.reportError(bug_report(exc), fatalError=False)
            if unreadable:
                raise QgsProcessingException(unreadable) from exc
            raise QgsProcessingException(
                f"{self.displayName()} failed unexpectedly ({type(exc).__name__}: "
                f"{str(exc)[:200]}). This is a bug in LandLearn: please report it with the log "
                "above (it holds the traceback and the versions).") from exc

    def perform(self, parameters, context, progress: FeedbackProgress, feedback) -> dict:
        raise NotImplementedError


WRITE_WORDS = ("write error", "disk space", "no space", "iwriteblock", "written",
               "tiffwrite", "writeencoded", "flushcache")


def input_files(alg, parameters: dict, context) -> list[tuple[str, str]]:
    """(parameter, file) of every input the run was given: paths as typed, and the files
    behind layers (the toolbox passes layer ids, which no GDAL message names). Outputs are
    left out: their errors are the output's, not a damaged input's."""
    out = []
    for definition in alg.parameterDefinitions():
        if definition.isDestination():
            continue
        name = definition.name()
        value = parameters.get(name)
        if isinstance(value, str) and value.strip():
            out.append((name, value.strip()))
        if definition.type() in ("raster", "vector", "source", "layer"):
            try:
                layer = alg.parameterAsLayer(parameters, name, context)
            except Exception:  # noqa: BLE001 - best effort: a message, not a second error
                layer = None
            if layer is not None:
                out.append((name, layer.source().split("|")[0]))
    # a VRT's sources (a mosaic of tiles, through VRTs of VRTs): GDAL's message names the
    # tile that failed
    for name, path in list(out):
        if path.lower().endswith(".vrt"):
            out.extend((name, source) for source in vrt_sources_nested(path))
    return out


def _is_path(value: str) -> bool:
    """A parameter value that names a file: with a folder in either separator (QGIS gives
    Windows paths as C:/..., which os.sep, a backslash there, missed), or a file that exists
    under a bare name typed to qgis_process. Not a choice word such as TIFF."""
    return "/" in value or "\\" in value or os.path.isfile(value)


def unreadable_input(exc: BaseException, files: list[tuple[str, str]]) -> str | None:
    """What to say when GDAL failed to read a file mid-run (a truncated download, a tile
    of a damaged GeoTIFF, a VRT whose source is gone): the input's fault, which the
    generic handler called a bug in LandLearn. Names the input whose file the message
    names (the longest path that it holds, so 'a.tif' does not claim 'data/a.tif's error,
    nor a choice such as TIFF a file's), where one does. None for other errors, writes
    among them (a full disk is not a damaged input)."""
    kinds = {k.__name__ for k in type(exc).__mro__}
    if not (kinds & {"RasterioIOError", "RasterioError"}
            or any(k.startswith("CPLE_") for k in kinds)):
        return None
    # rasterio 1.4 says "Read failed. See previous exception for details.": GDAL's words,
    # with the file, are in the exception it chains
    texts, seen = [], exc
    while seen is not None and len(texts) < 5:
        if str(seen) and str(seen) not in texts:
            texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    text = " / ".join(texts)
    low = text.lower()
    # GDAL says "Read or write failed" of either: a write's own words decide
    if "read" not in low or any(w in low for w in WRITE_WORDS):
        return None
    named = sorted(((len(path), key, path) for key, path in files
                    if _is_path(path) and path in text), reverse=True)
    if not named:  # GDAL 3.10 names the file alone ('cut.tif, band 1: IReadBlock failed')
        by_name = {}
        for key, path in files:
            base = re.split(r"[/\\]", path)[-1]
            if _is_path(path) and len(base) > 3 and re.search(
                    r"(?<![\w./\\-])" + re.escape(base) + r"(?![\w.-])", text):
                by_name.setdefault(base, set()).add((key, path))
        named = [(0, *next(iter(hits))) for hits in by_name.values() if len(hits) == 1]
    why = text[:240]
    if named:
        _, key, path = named[0]
        what = f"a file in '{path}'" if os.path.isdir(path) else f"'{path}'"
        if not path.startswith("/vsi") and not os.path.exists(path):
            # a VRT's source that was moved or deleted (GDAL's list leaves it out)
            return (f"{key}: {what} cannot be read ({why}): it does not exist (moved or "
                    "deleted?); put it back, or build the VRT again from the files there are")
        return (f"{key}: {what} cannot be read ({why}): the file is damaged or "
                "incomplete; check it with gdalinfo -checksum, or download or write it again")
    return (f"Reading a raster failed ({why}). A file is damaged, incomplete or missing (a "
            "VRT's source file?); check the inputs with gdalinfo -checksum. If they read "
            "whole, this is a bug in LandLearn: please report it with the log above.")


def _number(value: float) -> str:
    """A bound as people type it: whole numbers in full (SEED's 4294966, which :g showed as
    4.29497e+06), others to 15 digits."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 \
        else f"{value:.15g}"


# what QGIS's parameterAsInt holds (a C++ int): TILE_SIZE_X=3000000000 was read as 0, and
# the automatic chip size chosen without a word (a qgis_process sweep, stop 67)
INT_LOW, INT_HIGH = -(2**31), 2**31 - 1


# what a file given where a package is asked for was, and where the package is
_NOT_A_PACKAGE = {
    ".onnx": "an ONNX graph (what Export Model writes) is not a package: give the .dlpk it "
             "came from (Classify Pixels runs a package's graph with RUNTIME=onnxruntime)",
    ".zip": "unpack it, or give the .dlpk inside",
}


def files_of_another_kind(alg, parameters: dict) -> str | None:
    """The first file parameter given a file its filter does not take (a .onnx as MODEL),
    in words naming the kinds it takes: QGIS's own check says only 'Incorrect parameter
    value for MODEL' (a qgis_process sweep, stop 68). None when all are of their kind."""
    for definition in alg.parameterDefinitions():
        value = parameters.get(definition.name())
        if definition.type() != "file" or not isinstance(value, str) or not value.strip():
            continue
        kinds = re.findall(r"\*\.(\w+)", definition.fileFilter() or "")
        # as QGIS's own check decides (the name trimmed, the extension's case counting)
        if not kinds or QgsFileUtils.fileMatchesFilter(value.strip(), definition.fileFilter()):
            continue
        if os.path.isdir(value):
            continue  # QGIS's own check says what a folder given for a file is
        extension = os.path.splitext(value.strip())[1]
        hint = _NOT_A_PACKAGE.get(extension.lower()) if "dlpk" in kinds else None
        if extension.lower() in ("." + k.lower() for k in kinds):
            hint = f"the extension's case counts: name it '{extension.lower()}'"
        return (f"{definition.name()}: '{value}' is not a {' or '.join('.' + k for k in kinds)} "
                "file" + (f"; {hint}" if hint else ""))
    return None


def numbers_out_of_range(alg, parameters: dict) -> str | None:
    """The first number parameter given out of its range, or as text that is no number, in
    words naming the range: QGIS's own check says only 'Incorrect parameter value for X',
    which on the command line (RADIOMETRIC_JITTER=1.5, SPECTRAL_DETAIL=21) left the user to
    guess the range. None when all are in range (QGIS's check then runs as before)."""
    for definition in alg.parameterDefinitions():
        value = parameters.get(definition.name())
        if definition.type() != "number" or isinstance(value, bool) or \
                not isinstance(value, (str, int, float)) or (isinstance(value, str)
                                                             and not value.strip()):
            continue
        name = definition.name()
        try:
            number = float(value)
        except ValueError:
            return f"{name}: '{str(value)[:40]}' is not a number"
        low, high = definition.minimum(), definition.maximum()
        whole = definition.dataType() == QgsProcessingParameterNumber.Type.Integer
        bounded_low, bounded_high = low > -1e300, high < 1e300
        if whole and not INT_LOW <= number <= INT_HIGH:
            # QGIS reads a whole number into 32 bits: 3000000000 became 0, unsaid
            low, high = max(low, INT_LOW), min(high, INT_HIGH)
            bounded_low = bounded_high = True
        if not math.isfinite(number):  # int(inf) raised OverflowError here, a traceback
            return f"{name}: {str(value)[:40]} is not a finite number"
        shown = _number(number)
        if whole and number != int(number):
            return f"{name}: {value} is not a whole number"
        if (bounded_low and number < low) or (bounded_high and number > high):
            rng = (f"{_number(low)}..{_number(high)}" if bounded_low and bounded_high else
                   f"at least {_number(low)}" if bounded_low else f"at most {_number(high)}")
            return f"{name}: {shown} is out of range; use {rng}"
    return None


TRUE_WORDS = frozenset({"true", "yes", "on", "1", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "f", "n"})


def booleans_read(alg, parameters: dict) -> dict:
    """Boolean parameters given as text (qgis_process's ``FREEZE=no``) read as people mean
    them: QGIS takes any text but '0' and 'false' for true, so FREEZE=no froze the encoder
    and OVERWRITE=off replaced a folder. Text that is neither is refused, named."""
    out = dict(parameters)
    for definition in alg.parameterDefinitions():
        value = out.get(definition.name())
        if definition.type() != "boolean" or not isinstance(value, str) or not value.strip():
            continue
        word = value.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            out[definition.name()] = word in TRUE_WORDS
        else:
            raise QgsProcessingException(f"{definition.name()}: '{value[:40]}' is not true or "
                                         "false; use true or false (or 1 or 0)")
    return out


def missing_package(name: str) -> str:
    """What to do when a package the engine imports is not in QGIS's Python: rasterio
    (imported by every engine module, not one of the optional ones that name their own
    install command) comes with the system's GDAL packages or from pip."""
    from ..core.runtime.deps import PIP_REQUIREMENTS, install_command

    top = name.split(".")[0]
    if top == "osgeo":
        return ("LandLearn needs GDAL's Python bindings (osgeo), which the Python QGIS runs on "
                "does not have: they come with QGIS and GDAL (on Debian/Ubuntu 'sudo apt "
                "install python3-gdal'); reinstall QGIS if they are missing.")
    if top in PIP_REQUIREMENTS:
        how = install_command(top)
    elif top == "rasterio":
        how = ("on Debian/Ubuntu 'sudo apt install python3-rasterio'; elsewhere "
               + install_command("rasterio"))
    else:
        how = install_command(top)
    return (f"LandLearn needs the Python package '{top}', which the Python QGIS runs on does "
            f"not have. Install it ({how}), then restart QGIS.")
