"""deep.export_model: ONNX files from a package, and a package trained without onnx updated so
Classify Pixels runs it on ONNX Runtime with the same map."""

import json
import zipfile

import pytest
import rasterio

from landlearn.core.errors import InputError

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("segmentation_models_pytorch")


def _without_graph(src, dst):
    """The package as LandLearn 0.1 wrote it: no graphs, no LandLearn.onnx(_int8)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in ("model.onnx", "model_int8.onnx"):
                continue
            data = zin.read(item)
            if item.filename.endswith(".emd"):
                emd = json.loads(data)
                del emd["LandLearn"]["onnx"], emd["LandLearn"]["onnx_int8"]
                data = json.dumps(emd).encode()
            zout.writestr(item, data)
    return str(dst)


def test_an_old_package_gets_its_graph_and_the_same_map(trained, sample, tmp_path):
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.deep.export_model import ExportModelConfig, export_model

    old = _without_graph(trained[0], tmp_path / "old.dlpk")
    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    with pytest.raises(InputError, match="^RUNTIME: .*holds no ONNX graph.*Export Model"):
        classify_pixels(ClassifyConfig(image, old, str(tmp_path / "x.tif"),
                                       runtime="onnxruntime"))
    result = export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"),
                                            output_model=str(tmp_path / "new.dlpk")))
    assert result.max_difference <= 1e-3 and "m_deepness.onnx" in result.summary()
    assert (tmp_path / "m.onnx").stat().st_size > 1e6 and (tmp_path / "m_deepness.onnx").exists()
    with zipfile.ZipFile(tmp_path / "new.dlpk") as zf:
        assert "model.onnx" in zf.namelist() and "report/report.html" in zf.namelist()
    maps = []
    for package, runtime in ((old, "torch"), (str(tmp_path / "new.dlpk"), "onnxruntime")):
        out = tmp_path / f"{runtime}.tif"
        classify_pixels(ClassifyConfig(image, package, str(out), runtime=runtime, device="cpu"))
        with rasterio.open(out) as ds:
            maps.append(ds.read(1))
    assert (maps[0] == maps[1]).mean() >= 0.9999
    # run again: LandLearn's own files are replaced, anything else is not; without
    # DEEPNESS the earlier export's Deepness copy stays where it is this graph's (it was
    # deleted, still right; a qgis_process sweep, stop 68), goes where it is another
    # graph's, and a user's file of that name stays
    from landlearn.core.deep.export_model import _remove_stale_copies
    from landlearn.core.progress import RecordingProgress

    progress = RecordingProgress()
    export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"), deepness=False), progress)
    assert (tmp_path / "m_deepness.onnx").exists()
    assert any(m.startswith("Kept '") for m in progress.messages), progress.messages
    _remove_stale_copies(ExportModelConfig(old, str(tmp_path / "m.onnx"), deepness=False),
                         False, False, progress, deepness_bytes=b"another graph's copy")
    assert not (tmp_path / "m_deepness.onnx").exists()
    (tmp_path / "m_deepness.onnx").write_bytes(b"a user's file of that name")
    export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"), deepness=False))
    assert (tmp_path / "m_deepness.onnx").read_bytes() == b"a user's file of that name"
    (tmp_path / "theirs.onnx").write_bytes(b"someone else's graph")
    with pytest.raises(InputError, match="^OUTPUT_ONNX: .*not written by LandLearn"):
        export_model(ExportModelConfig(old, str(tmp_path / "theirs.onnx")))
    assert (tmp_path / "theirs.onnx").read_bytes() == b"someone else's graph"


def test_quantize_adds_an_int8_graph_that_classify_pixels_runs(trained, chips, sample,
                                                                tmp_path):
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.deep.export_model import ExportModelConfig, export_model

    old = _without_graph(trained[0], tmp_path / "old.dlpk")
    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    with pytest.raises(InputError, match="^QUANTIZE: .*holds no int8 graph.*Export Model"):
        classify_pixels(ClassifyConfig(image, old, str(tmp_path / "x.tif"), quantize=True))
    with pytest.raises(InputError, match="^CALIBRATION_DATA: QUANTIZE needs chips"):
        export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"), quantize=True))
    assert list(tmp_path.iterdir()) == [tmp_path / "old.dlpk"]
    # Cancel while the int8 graph is calibrated: nothing written
    from landlearn.core.errors import Cancelled
    from landlearn.core.progress import RecordingProgress

    class CancelInCalibration(RecordingProgress):
        def is_canceled(self):
            return any("Quantising" in m for m in self.messages)

    from landlearn.core.deep import onnx_quantize

    checked = []
    real_agreement = onnx_quantize.agreement
    onnx_quantize.agreement = lambda *a, **k: checked.append(1) or real_agreement(*a, **k)
    try:
        with pytest.raises(Cancelled):
            export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"), quantize=True,
                                           output_model=str(tmp_path / "new.dlpk"),
                                           calibration_data=str(chips)), CancelInCalibration())
    finally:
        onnx_quantize.agreement = real_agreement
    assert checked == []  # heard inside the calibration, before the check ran
    assert list(tmp_path.iterdir()) == [tmp_path / "old.dlpk"]
    result = export_model(ExportModelConfig(old, str(tmp_path / "m.onnx"), deepness=False,
                                            output_model=str(tmp_path / "new.dlpk"),
                                            quantize=True, calibration_data=str(chips)))
    assert result.output_int8 == str(tmp_path / "m_int8.onnx") and "int8 graph" in result.summary()
    assert 0.6 <= result.int8_agreement < 1.0  # a two-epoch network: see test_onnx_quantize
    with zipfile.ZipFile(tmp_path / "new.dlpk") as zf:
        emd = json.loads(zf.read("new.emd"))
        assert zf.read("model_int8.onnx") == (tmp_path / "m_int8.onnx").read_bytes()
    assert emd["LandLearn"]["onnx_int8"]["agreement"] == round(result.int8_agreement, 6)
    assert emd["LandLearn"]["onnx_int8"]["agreement_checked_on"] == "held-out"
    assert "chips the calibration did not see" in result.summary()
    maps = {}
    for quantize in (False, True):
        out = tmp_path / f"q{quantize}.tif"
        res = classify_pixels(ClassifyConfig(image, str(tmp_path / "new.dlpk"), str(out),
                                             device="cpu", quantize=quantize))
        assert ("int8 graph" in res.summary()) == quantize
        with rasterio.open(out) as ds:
            maps[quantize] = ds.read(1)
    assert 0.6 <= (maps[False] == maps[True]).mean() < 1.0
    # a package that has its int8 graph keeps it through a plain export
    export_model(ExportModelConfig(str(tmp_path / "new.dlpk"), str(tmp_path / "again.onnx"),
                                   deepness=False, output_model=str(tmp_path / "again.dlpk")))
    with zipfile.ZipFile(tmp_path / "again.dlpk") as zf:
        assert zf.read("model_int8.onnx") == (tmp_path / "m_int8.onnx").read_bytes()
        assert json.loads(zf.read("again.emd"))["LandLearn"]["onnx_int8"] == \
            emd["LandLearn"]["onnx_int8"]
    # ... while the .onnx file's own metadata does not describe an int8 graph it is not
    meta = {m.key: m.value for m in onnx.load(str(tmp_path / "again.onnx")).metadata_props}
    assert "onnx_int8" not in json.loads(meta["landlearn"])["LandLearn"]
    assert json.loads(meta["landlearn"])["LandLearn"]["onnx"]["file"] == "model.onnx"
    # ... but not one Classify Pixels would refuse (a package from elsewhere): checked
    bad = tmp_path / "bad_int8.dlpk"
    with zipfile.ZipFile(tmp_path / "new.dlpk") as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:4] + b"ORTM" + data[8:] if item.filename ==
                         "model_int8.onnx" else data)
    with pytest.raises(InputError, match="^MODEL: .*bad_int8.dlpk': its ONNX graph is marked"):
        export_model(ExportModelConfig(str(bad), str(tmp_path / "bad.onnx"), deepness=False,
                                       output_model=str(tmp_path / "bad_out.dlpk")))
    assert not (tmp_path / "bad_out.dlpk").exists()


def test_calibration_chips_of_other_bands_are_refused(trained, tmp_path, sample):
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.deep.export_model import ExportModelConfig, export_model
    from landlearn.core.labels.base import LabelConfig

    nc = sample / "nc_landsat7"
    five = tmp_path / "five_band_chips"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "landsat96_polygons.shp"),
                                                  class_field="id"), str(five),
                                      tile_size_x=64, tile_size_y=64))
    with pytest.raises(InputError, match="^CALIBRATION_DATA: .* has 5 bands; the model takes 10"):
        export_model(ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx"),
                                       quantize=True, calibration_data=str(five)))
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m_int8.onnx").exists()


def test_an_unpacked_package_keeps_its_report(trained, tmp_path):
    from landlearn.core.deep.export_model import ExportModelConfig, export_model

    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(trained[0]) as zf:
        zf.extractall(folder)
    export_model(ExportModelConfig(str(folder / "s2.emd"), str(tmp_path / "m.onnx"),
                                   deepness=False, output_model=str(tmp_path / "new.dlpk")))
    with zipfile.ZipFile(tmp_path / "new.dlpk") as zf:
        names = zf.namelist()
        assert zf.read("report/report.html") == (folder / "report" / "report.html").read_bytes()
    assert {"metrics.json", "model.onnx", "model_int8.onnx", "report/curves.png"} <= set(names)


def test_what_cannot_be_exported_is_refused_with_the_reason(rf_package, tmp_path):
    from landlearn.core.deep.export_model import ExportModelConfig, export_model

    with pytest.raises(InputError, match="^MODEL: .*only deep networks are exported"):
        export_model(ExportModelConfig(rf_package, str(tmp_path / "m.onnx")))
    with pytest.raises(InputError, match="^OUTPUT_ONNX: .* not an .onnx path"):
        export_model(ExportModelConfig(rf_package, str(tmp_path / "m.tif")))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def rf_package(sample, tmp_path_factory):
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig

    nc = sample / "nc_landsat7"
    out = tmp_path_factory.mktemp("rf") / "rf.dlpk"
    train_classical(ClassicalConfig(str(nc / "landsat_multiband.tif"),
                                    LabelConfig(str(nc / "landsat96_polygons.shp"),
                                                class_field="id"), str(out), trees=10,
                                    cv_folds=0, max_samples_per_class=50))
    return str(out)


def test_a_report_larger_than_its_budget_altogether_is_refused(trained, tmp_path, monkeypatch):
    """Each report member under the per-member ceiling, together over the report's budget
    (a package of many deflated 64 MB members held 6 GB here)."""
    from landlearn.core.deep import export_model as em

    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(trained[0]) as zf:
        zf.extractall(folder)
    sizes = sorted(p.stat().st_size for p in (folder / "report").iterdir())
    monkeypatch.setattr(em, "REPORT_BYTES", sizes[-1] + 1)  # the largest fits, not all
    with pytest.raises(InputError, match=r"^MODEL: .*report file \(all together\)"):
        em.export_model(em.ExportModelConfig(str(folder / "s2.emd"), str(tmp_path / "m.onnx"),
                                             deepness=False,
                                             output_model=str(tmp_path / "new.dlpk")))
    assert not (tmp_path / "new.dlpk").exists()


def test_calibration_chips_named_for_another_parameter_or_order_are_refused(trained, chips,
                                                                            tmp_path):
    """A folder that is not training data said TRAINING_DATA (not a parameter of Export
    Model); the model's bands in another order set the int8 ranges on mixed-up bands; a
    foreign file where the Deepness copy goes named OUTPUT_DEEPNESS, which no one can set."""
    import shutil

    from landlearn.core.deep.export_model import ExportModelConfig, export_model

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="^CALIBRATION_DATA: .* is not a training data folder"):
        export_model(ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx"), quantize=True,
                                       calibration_data=str(tmp_path / "empty")))
    swapped = tmp_path / "swapped"
    shutil.copytree(chips, swapped)
    emd = json.loads((swapped / "esri_model_definition.emd").read_text())
    emd["InputRastersProps"]["BandNames"] = emd["InputRastersProps"]["BandNames"][::-1]
    (swapped / "esri_model_definition.emd").write_text(json.dumps(emd))
    with pytest.raises(InputError, match="^CALIBRATION_DATA: .* holds the model's bands in "
                                         "another order"):
        export_model(ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx"), quantize=True,
                                       calibration_data=str(swapped)))
    # as many bands, other bands of the raster (another BAND_INDEXES, other empty bands)
    other = tmp_path / "other"
    shutil.copytree(chips, other)
    emd = json.loads((other / "esri_model_definition.emd").read_text())
    emd["LandLearn"]["SourceBands"] = emd["LandLearn"]["SourceBands"][::-1]
    (other / "esri_model_definition.emd").write_text(json.dumps(emd))
    with pytest.raises(InputError, match=r"^CALIBRATION_DATA: .* holds bands \[10, 9, 8"):
        export_model(ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx"), quantize=True,
                                       calibration_data=str(other)))
    (tmp_path / "m_deepness.onnx").write_bytes(b"someone else's")
    with pytest.raises(InputError, match="^OUTPUT_ONNX: .*hoose another OUTPUT_ONNX \\(its "
                                         "DEEPNESS copy is named after it\\), or turn DEEPNESS "
                                         "off"):
        export_model(ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx")))
    assert (tmp_path / "m_deepness.onnx").read_bytes() == b"someone else's"
    assert not (tmp_path / "m.onnx").exists()


def test_an_int8_graph_that_agrees_poorly_is_refused_or_warned(trained, chips, tmp_path,
                                                               monkeypatch):
    """QUANTIZE asked of Export Model: an int8 graph whose classes match the float graph's
    on under 90% of the pixels is not written (the run says why and what to do); under
    98% it is, with a warning. It was written and logged as information at any figure."""
    from landlearn.core.deep import export_model as em
    from landlearn.core.progress import RecordingProgress

    real = em.quantize_chips
    figure = {}

    def scored(*args, **kw):
        q, block, checked = real(*args, **kw)
        return q, dict(block, agreement=figure["value"]), checked

    monkeypatch.setattr(em, "quantize_chips", scored)
    figure["value"] = 0.8
    with pytest.raises(InputError, match=r"^QUANTIZE: the int8 graph's classes agree with the "
                                         r"float graph's on 80.00% .*export without QUANTIZE"):
        em.export_model(em.ExportModelConfig(str(trained[0]), str(tmp_path / "a.onnx"),
                                             quantize=True, calibration_data=str(chips)))
    assert not (tmp_path / "a.onnx").exists()
    figure["value"] = 0.95
    progress = RecordingProgress()
    em.export_model(em.ExportModelConfig(str(trained[0]), str(tmp_path / "b.onnx"),
                                         quantize=True, calibration_data=str(chips)), progress)
    assert any("agree with the float graph's on 95.00%" in w for w in progress.warnings)
    assert (tmp_path / "b_int8.onnx").exists()


def test_an_exporter_or_runtime_failure_is_a_model_error_not_a_bug(trained, tmp_path,
                                                                   monkeypatch):
    """torch.onnx or ONNX Runtime failing on a network (an operator gap, a new version) is
    said as a MODEL error with the cause; nothing is written."""
    from landlearn.core.deep import export_model as em

    def broken_export(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::foo' to ONNX opset 17 is not supported")

    monkeypatch.setattr(em, "export_onnx", broken_export)
    cfg = em.ExportModelConfig(str(trained[0]), str(tmp_path / "m.onnx"))
    with pytest.raises(InputError, match=r"^MODEL: the \w+ network could not be exported to "
                       r"ONNX \(RuntimeError: Exporting the operator 'aten::foo'"):
        em.export_model(cfg)
    monkeypatch.undo()

    def broken_runtime(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED")

    monkeypatch.setattr(em, "onnx_difference", broken_runtime)
    with pytest.raises(InputError, match=r"^MODEL: ONNX Runtime cannot run the exported \w+ "
                       r"\(RuntimeError: \[ONNXRuntimeError\]"):
        em.export_model(cfg)
    assert list(tmp_path.iterdir()) == []
