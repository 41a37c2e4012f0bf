"""Classical packages say which scikit-learn wrote them; another series is refused with the
install command that reads them."""

import json
import re
import zipfile

import pytest

from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
from landlearn.core.classical.versions import check_written_with, written_with
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.runtime.fast_paths import installed, series

pytest.importorskip("sklearn")


def test_written_with_names_the_libraries_and_the_check_follows_the_series():
    versions = written_with()
    assert versions["scikit-learn"] == installed("scikit-learn") and versions["numpy"]
    check_written_with(versions, "m.dlpk")  # this very Python wrote it
    check_written_with(None, "m.dlpk")  # packages from before the record: read as 1.9
    here = series(installed("scikit-learn"))
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk' was written by scikit-learn 0\.24"):
        check_written_with({"scikit-learn": "0.24.2"}, "m.dlpk")
    assert here
    # text from a package never reaches the install command the message tells to run
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk' records a scikit-learn version "
                       "that is not a version number") as got:
        check_written_with({"scikit-learn": "1.9; curl x|sh #"}, "m.dlpk")
    assert "curl" not in str(got.value)


def test_a_package_from_another_scikit_learn_says_what_to_install(sample, tmp_path):
    from landlearn.core.classify.predictor import load_predictor

    nc = sample / "nc_landsat7"
    package = tmp_path / "rf.dlpk"
    train_classical(ClassicalConfig(str(nc / "landsat_multiband.tif"),
                                    LabelConfig(str(nc / "landsat96_polygons.shp"),
                                                class_field="id"), str(package), trees=10))
    files = {n: zipfile.ZipFile(package).read(n) for n in zipfile.ZipFile(package).namelist()}
    emd = json.loads(files["rf.emd"])
    emd["LandLearn"]["versions"]["scikit-learn"] = "1.4.2"
    files["rf.emd"] = json.dumps(emd).encode()
    old = tmp_path / "old.dlpk"
    with zipfile.ZipFile(old, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    with pytest.raises(InputError, match=r"^MODEL: .* written by scikit-learn 1\.4\.2.*"
                                         r"scikit-learn==1\.4\.\*") as err:
        load_predictor(str(old), "cpu")
    # one requirement for scikit-learn (pip refused two: the pin and the series), and the
    # numpy QGIS runs on kept, so the command can be run as it is
    command = str(err.value).split("Install it with: ")[1].split(" (then")[0]
    numpy = __import__("numpy").__version__
    assert re.search(r"-m pip install( --user)?( --break-system-packages)? "
                     r"'scikit-learn==1\.4\.\*' numpy==" + re.escape(numpy) + "$", command)
    assert command.count("scikit-learn") == 1
