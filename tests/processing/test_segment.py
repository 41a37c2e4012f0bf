"""Segment through processing.run and qgis_process.bin: the same segments either way."""

import os
import threading

import numpy as np
import pytest
import rasterio

from cancel_checks import cancelling_feedback, fingerprints, tree
from qgis_cli import QP, qgis_process

pytest.importorskip("torch")


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_agree(provider, sample, tmp_path):
    import processing

    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    params = {"INPUT_RASTER": image, "SPECTRAL_DETAIL": 16, "SPATIAL_DETAIL": 15,
              "MIN_SEGMENT_SIZE": 25, "DEVICE": "cpu"}
    out = qgis_process("run", "landlearn:segment", "--",
                       *[f"{k}={v}" for k, v in params.items()], "BAND_INDEXES=4,3,2",
                       f"OUTPUT={tmp_path / 'cli.tif'}",
                       f"OUTPUT_SEGMENT_IDS={tmp_path / 'cli_ids.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    res = processing.run("landlearn:segment", {**params, "BAND_INDEXES": [4, 3, 2],
                                               "OUTPUT": str(tmp_path / "py.tif"),
                                               "OUTPUT_SEGMENT_IDS": str(tmp_path / "py_ids.tif"),
                                               "OUTPUT_POLYGONS": str(tmp_path / "py.gpkg")})
    assert f"SEGMENT_COUNT:\t{res['SEGMENT_COUNT']}" in out.stdout
    for a, b in (("cli.tif", "py.tif"), ("cli_ids.tif", "py_ids.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            np.testing.assert_array_equal(x.read(), y.read())
    with rasterio.open(tmp_path / "py.tif") as ds:
        assert ds.count == 3 and ds.dtypes[0] == "uint16"
    assert res["OUTPUT_POLYGONS"].endswith("py.gpkg")


def test_band_lists_typed_with_commas_or_semicolons(provider):
    """'4,3,2' from qgis_process (how NEIGHBOURHOOD_SIZES and EXTENT take lists) was read
    by QGIS as band 0 and refused as 'band(s) [0] do not exist'; what is not a band
    number is refused naming the key."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

    from landlearn.processing_provider.band_numbers import band_numbers

    alg = QgsApplication.processingRegistry().algorithmById("landlearn:segment")
    context = QgsProcessingContext()
    for value in ("4,3,2", "4;3;2", " 4, 3 ,2 ", [4, 3, 2], "4;3,2"):
        assert band_numbers(alg, {"BAND_INDEXES": value}, "BAND_INDEXES", context) == (4, 3, 2)
    assert band_numbers(alg, {}, "BAND_INDEXES", context) == ()
    for bad, said in (("4,x", "'4,x' is not a list of band numbers; give them as 1;2;3"),
                      ("-1", "'-1' is not a list of band numbers"),
                      ("0,1", r"band numbers start at 1 \(got 0, 1\)")):
        with pytest.raises(QgsProcessingException, match="^BAND_INDEXES: " + said):
            band_numbers(alg, {"BAND_INDEXES": bad}, "BAND_INDEXES", context)


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_max_segment_size_from_qgis_process(provider, sample, tmp_path):
    """MAX_SEGMENT_SIZE cuts large segments (none above it afterwards); below
    MIN_SEGMENT_SIZE it is refused naming the parameter."""
    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    args = [f"INPUT_RASTER={image}", "MIN_SEGMENT_SIZE=10", f"OUTPUT={tmp_path / 'm.tif'}",
            f"OUTPUT_SEGMENT_IDS={tmp_path / 'ids.tif'}"]
    out = qgis_process("run", "landlearn:segment", "--", *args, "MAX_SEGMENT_SIZE=200")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MAX_SEGMENT_SIZE: " in out.stdout and "pieces" in out.stdout
    with rasterio.open(tmp_path / "ids.tif") as ds:
        sizes = np.bincount(ds.read(1).ravel())[1:]
    assert sizes.max() <= 200 + 4 * 9
    bad = qgis_process("run", "landlearn:segment", "--", *args[:2],
                       f"OUTPUT={tmp_path / 'x.tif'}", "MAX_SEGMENT_SIZE=5")
    assert bad.returncode != 0 and "MAX_SEGMENT_SIZE: 5 px is below" in bad.stdout + bad.stderr
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_joint_method_parameters_reach_the_engine(provider, sample, tmp_path):
    """METHOD, THRESHOLD and MAX_ITERATIONS from qgis_process give what the engine gives."""
    from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    out = qgis_process("run", "landlearn:segment", "--", f"INPUT_RASTER={image}",
                       "METHOD=joint", "THRESHOLD=0.5", "MAX_ITERATIONS=4", "SPATIAL_RADIUS=3",
                       f"OUTPUT={tmp_path / 'm.tif'}", f"OUTPUT_SEGMENT_IDS={tmp_path / 'cli.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "core.tif"), method="joint",
                          threshold=0.5, max_iterations=4, spatial_radius=3))
    other = segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "other.tif"),
                                  method="joint", spatial_radius=3))
    with rasterio.open(tmp_path / "cli.tif") as a, rasterio.open(tmp_path / "core.tif") as b, \
            rasterio.open(tmp_path / "other.tif") as c:
        np.testing.assert_array_equal(a.read(), b.read())
        assert not np.array_equal(a.read(), c.read())  # the two settings did something
    assert other.segments > 0


def test_segment_ids_alone_are_enough(provider, sample, tmp_path):
    """An object-based workflow needs the ids only: OUTPUT (mean values) was required."""
    import processing
    from qgis.core import QgsProcessingException

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    ids = str(tmp_path / "ids.tif")
    res = processing.run("landlearn:segment", {"INPUT_RASTER": image, "OUTPUT_SEGMENT_IDS": ids,
                                               "MIN_SEGMENT_SIZE": 20})
    assert res["OUTPUT"] is None and res["OUTPUT_SEGMENT_IDS"] == ids and res["SEGMENT_COUNT"] > 0
    assert os.listdir(tmp_path) == ["ids.tif"] or set(os.listdir(tmp_path)) <= {
        "ids.tif", "ids.tif.aux.xml", "ids.qml"}
    with pytest.raises(QgsProcessingException, match="OUTPUT: choose at least one output"):
        processing.run("landlearn:segment", {"INPUT_RASTER": image})


@pytest.mark.parametrize("at", [75, 80, 100], ids=["after-first-pass", "outputs-open",
                                                  "polygonizing"])
def test_a_cancel_mid_run_leaves_no_output_and_no_temporary_file(provider, sample, tmp_path,
                                                                  at):
    """Cancel clicked at three points of a run with all three outputs: after the mean-shift
    pass (75%: the temporary labels and statistics wait in a hidden folder beside the
    outputs), with the output rasters open (80%), and once both rasters are written but
    not yet published, while the polygons are made (100% of the raster pass). Each stops
    with the cancel message and leaves no output, sidecar or temporary file or folder in
    the output folder; the image is unchanged."""
    import processing
    from qgis.core import QgsProcessingException

    image = sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif"
    inputs = fingerprints(image)
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.txt").write_text("not LandLearn's")
    before = tree(out)
    feedback = cancelling_feedback(at)
    with pytest.raises(QgsProcessingException,
                       match="^Cancelled by the user; no output was written"):
        processing.run("landlearn:segment", {
            "INPUT_RASTER": str(image), "DEVICE": "cpu", "OUTPUT": str(out / "mean.tif"),
            "OUTPUT_SEGMENT_IDS": str(out / "ids.tif"),
            "OUTPUT_POLYGONS": str(out / "segments.gpkg")}, feedback=feedback)
    assert feedback.cancelled_at == at  # the stage this case is about was reached
    # the thread that filters the next tile ended with the run (it read the closed input)
    assert not [t for t in threading.enumerate() if t.name.startswith("landlearn-tile")]
    assert not any((out / name).exists() for name in ("mean.tif", "ids.tif", "segments.gpkg"))
    assert tree(out) == before
    assert fingerprints(image) == inputs
