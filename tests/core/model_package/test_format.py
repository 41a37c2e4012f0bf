"""The .dlpk package: written atomically, read back as a .dlpk, its folder or its .emd,
weights read only once they fit the description, and the report unpacked beside it."""

import json
import os
import zipfile

import pytest

from builder import deep_emd
from landlearn.core.errors import InputError
from landlearn.core.files import MARKER
from landlearn.core.model_package.format import (
    check_model_output,
    read_package,
    read_weights,
    report_folder,
    unpack_report,
    write_package,
)


def _classical_emd():
    emd = deep_emd("rf")
    emd["ModelFile"] = "model.skops"
    emd["LandLearn"].update(kind="classical", model_type="random_forest", padding=0)
    return emd


def _hidden(folder):
    return [p for p in os.listdir(folder) if p.startswith(".")]


def test_a_package_round_trips_as_dlpk_folder_and_emd(tmp_path):
    out = tmp_path / "rf.dlpk"
    extra = {"model.skops": b"skops bytes", "report/report.html": b"<html>LandLearn</html>"}
    assert write_package(str(out), _classical_emd(), None, extra) == str(out)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["model.skops", "report/report.html", "rf.emd"]
        # skops (itself a zip) is stored, the rest deflated
        assert zf.getinfo("model.skops").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("rf.emd").compress_type == zipfile.ZIP_DEFLATED
        zf.extractall(tmp_path / "unpacked")
    assert _hidden(tmp_path) == []
    for path in (out, tmp_path / "unpacked", tmp_path / "unpacked" / "rf.emd"):
        pkg = read_package(str(path))
        assert pkg.kind == "classical" and pkg.landlearn["model_type"] == "random_forest"
        assert pkg.read("model.skops", 100, "classifier") == b"skops bytes"
    assert read_package(str(tmp_path / "unpacked")).path == str(tmp_path / "unpacked" / "rf.emd")
    assert read_package(str(out)).path == str(out)


def test_write_package_refuses_bad_names_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="^OUTPUT_MODEL: .*model.zip' is not a .dlpk path"):
        write_package(str(tmp_path / "model.zip"), _classical_emd(), None, {})
    foreign = tmp_path / "theirs.dlpk"
    foreign.write_bytes(b"someone's package")
    with pytest.raises(InputError, match="^OUTPUT_MODEL: .* exists and was not written by LandLearn"):
        write_package(str(foreign), _classical_emd(), None, {"model.skops": b"x"})
    assert foreign.read_bytes() == b"someone's package" and _hidden(tmp_path) == []
    # a package LandLearn wrote is replaced, whole
    ours = tmp_path / "ours.dlpk"
    write_package(str(ours), _classical_emd(), None, {"model.skops": b"first"})
    write_package(str(ours), _classical_emd(), None, {"model.skops": b"second"})
    assert read_package(str(ours)).read("model.skops", 100, "classifier") == b"second"


def test_read_package_refuses_what_is_not_one_package(tmp_path):
    with pytest.raises(InputError, match="^MODEL: '.*none.dlpk' does not exist"):
        read_package(str(tmp_path / "none.dlpk"))
    two = tmp_path / "two.dlpk"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.emd", json.dumps(_classical_emd()))
        zf.writestr("b.emd", json.dumps(_classical_emd()))
    with pytest.raises(InputError, match="holds 2 .emd files; a model package holds exactly one"):
        read_package(str(two))
    # zipped with its folder: said, not 'holds 0 .emd files' (a sweep, stop 69)
    nested = tmp_path / "nested.dlpk"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("m/m.emd", json.dumps(_classical_emd()))
    with pytest.raises(InputError, match=r"holds its .emd in a folder \('m/m.emd'\); a model "
                       "package holds it at the top: zip the files of that folder"):
        read_package(str(nested))
    bad = tmp_path / "bad.dlpk"
    emd = _classical_emd()
    emd["LandLearn"]["in_channels"] = 0
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("bad.emd", json.dumps(emd))
    with pytest.raises(InputError, match="^MODEL: '.*bad.dlpk' is not a valid model package: "
                                         "LandLearn.in_channels is 0"):
        read_package(str(bad))


def test_weights_are_read_only_when_they_fit_the_description(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    out = tmp_path / "unet.dlpk"
    state = {"conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2),
             "conv.bias": torch.ones(2)}
    write_package(str(out), deep_emd("ignored"), state, {})
    pkg = read_package(str(out))
    assert pkg.emd["ModelFile"] == "unet.safetensors"  # named after the package
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("unet.safetensors").compress_type == zipfile.ZIP_STORED
    weights = read_weights(pkg, {"conv.weight": (2, 3, 2, 2), "conv.bias": (2,)})
    assert torch.equal(weights["conv.weight"], state["conv.weight"])
    with pytest.raises(InputError, match=r"the weights do not fit its own description \(1 tensors "
                                         r"missing, e.g. \['head.weight'\]; 1 unexpected"):
        read_weights(pkg, {"conv.weight": (2, 3, 2, 2), "head.weight": (2,)})
    with pytest.raises(InputError, match=r"conv.bias is \[2\], the network needs \[3\]"):
        read_weights(pkg, {"conv.weight": (2, 3, 2, 2), "conv.bias": (3,)})


def test_the_report_unpacks_beside_the_package_and_replaces_only_its_own(tmp_path):
    out = tmp_path / "m.dlpk"
    write_package(str(out), _classical_emd(), None, {
        "model.skops": b"x", "report/report.html": b"<html>LandLearn v1</html>",
        "report/curves.png": b"png"})
    assert report_folder(str(out)) == str(tmp_path / "m_report")
    html = unpack_report(str(out))
    assert html == str(tmp_path / "m_report" / "report.html")
    assert sorted(os.listdir(tmp_path / "m_report")) == ["curves.png", MARKER, "report.html"]
    write_package(str(out), _classical_emd(), None, {
        "model.skops": b"x", "report/report.html": b"<html>LandLearn v2</html>"})
    unpack_report(str(out))
    assert sorted(os.listdir(tmp_path / "m_report")) == [MARKER, "report.html"]
    assert (tmp_path / "m_report" / "report.html").read_bytes() == b"<html>LandLearn v2</html>"
    check_model_output(str(out), {})  # its own report folder may be replaced
    (tmp_path / "m_report" / "mine.txt").write_text("notes")
    with pytest.raises(InputError, match=r"^OUTPUT_MODEL: .*holds 1 file\(s\) that LandLearn did not "
                                         r"write \(mine.txt\); .* so the report folder is not replaced"):
        check_model_output(str(out), {})
    # a folder of someone else's at the report's name: told what to do for an output
    # model, not of OVERWRITE, which Train has none of (a sweep, stop 69)
    (tmp_path / "o_report").mkdir()
    (tmp_path / "o_report" / "notes.txt").write_text("notes")
    with pytest.raises(InputError, match=r"^OUTPUT_MODEL: .*o_report' is not empty "
                       r"\(notes.txt\) and was not written by LandLearn \(landlearn_files.json "
                       r"is missing\), so it is not replaced; move or rename that folder, or "
                       r"choose another OUTPUT_MODEL \(its report is written beside it as "
                       r"<name>_report\)$"):
        check_model_output(str(tmp_path / "o.dlpk"), {})
    with pytest.raises(InputError, match="^OUTPUT_MODEL: 'x.pth' is not a .dlpk path"):
        check_model_output("x.pth", {})
    with pytest.raises(InputError, match="^OUTPUT_MODEL: .* is the input TRAINING_DATA"):
        check_model_output(str(out), {"training_data": str(out)})
    # a file named as the report folder: refused before training, not after it (when the
    # package was already written; a qgis_process sweep, stop 67)
    (tmp_path / "n_report").write_text("x")
    with pytest.raises(InputError, match="^OUTPUT_MODEL: '.*n_report' is a file, where the "
                                         "package's report folder goes .* move that file"):
        check_model_output(str(tmp_path / "n.dlpk"), {})
