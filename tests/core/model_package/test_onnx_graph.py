"""model_package.onnx_graph: the metadata Deepness and LandLearn read, and the graph
member read under a ceiling set by the weights it mirrors."""

import json
import zipfile

import pytest

from landlearn.core.errors import InputError
from landlearn.core.model_package.format import read_package
from landlearn.core.model_package.onnx_graph import (
    OPSET,
    deepness_metadata,
    has_onnx,
    onnx_description,
    read_onnx,
)


def _emd(**landlearn):
    info = {"format": "landlearn-model", "version": 1, "kind": "deep", "in_channels": 3,
            "class_values": [2, 5], "band_names": ["r", "g", "b"],
            "normalization": {"mean": [1, 2, 3], "std": [1, 1, 1]}, "architecture": "unet",
            "encoder": "resnet18", "padding": 16, "cell_size": [0.5, 0.5], "crs_units": "metre"}
    info.update(landlearn)
    return {"ModelFile": "m.safetensors", "ImageWidth": 128, "ImageHeight": 128,
            "Classes": [{"Value": 2, "Name": "water", "Color": [0, 0, 255]},
                        {"Value": 5, "Name": "forest", "Color": [0, 128, 0]}],
            "LandLearn": info}


def test_deepness_metadata_follows_its_contract():
    meta = {k: json.loads(v) for k, v in deepness_metadata(_emd()).items()}
    assert meta["model_type"] == "Segmentor"
    assert meta["class_names"] == {"0": "water", "1": "forest"}  # one per output channel
    assert meta["tiles_size"] == 128 and meta["tiles_overlap"] == 25  # 2 x 16 px of 128
    assert meta["tile_size"] == 128  # what Deepness's code reads (its docs say tiles_size)
    assert meta["resolution"] == 50.0  # cm per pixel
    # Deepness divides by 255 and standardises: mean 0, std 1/255 hands over raw values
    assert meta["standardization_mean"] == [0.0] * 3
    assert meta["standardization_std"] == pytest.approx([1 / 255] * 3)
    assert meta["landlearn"]["LandLearn"]["class_values"] == [2, 5]
    # the plain argmax, as LandLearn maps: no probability threshold, no median filter
    assert meta["seg_thresh"] == 0 and meta["seg_small_segment"] == 0
    degrees = {k: json.loads(v) for k, v in deepness_metadata(
        _emd(crs_units="degree")).items()}
    assert "resolution" not in degrees  # Deepness wants centimetres; degrees have none


def _package(tmp_path, onnx_bytes=None, weights=b"\0" * 1000, block=True):
    emd = _emd()
    if block:
        emd["LandLearn"]["onnx"] = onnx_description("model.onnx")
    path = tmp_path / "m.dlpk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m.emd", json.dumps(emd))
        zf.writestr("m.safetensors", weights)
        if onnx_bytes is not None:
            zf.writestr("model.onnx", onnx_bytes)
    return read_package(str(path))


def test_the_graph_is_read_under_a_ceiling_set_by_the_weights(tmp_path):
    assert onnx_description("model.onnx")["opset"] == OPSET
    pkg = _package(tmp_path, b"graph")
    assert has_onnx(pkg) and read_onnx(pkg) == b"graph"
    huge = _package(tmp_path, b"\0" * (40 << 20))  # 40 MB for 1 kB of weights
    with pytest.raises(InputError, match="^MODEL: .*ONNX graph"):
        read_onnx(huge)
    old = _package(tmp_path, None, block=False)
    assert not has_onnx(old)
    with pytest.raises(InputError, match="no ONNX graph: .* Export Model, or use "
                                         "RUNTIME=torch"):
        read_onnx(old)


def test_the_schema_checks_the_graph_block(tmp_path):
    from landlearn.core.model_package.schema import check_emd

    for bad in ({"file": "../x.onnx", "opset": 17}, {"file": "/etc/x.onnx", "opset": 17},
                {"file": "model.bin", "opset": 17}, {"file": "model.onnx", "opset": "17x"},
                "model.onnx"):
        with pytest.raises(InputError, match="^MODEL: .*LandLearn.onnx"):
            check_emd(_emd(onnx=bad), "m.dlpk")


def test_a_package_without_a_graph_is_told_what_works_for_its_network():
    """A PSPNet package was told to add a graph with Export Model, which refuses PSPNet
    (no ONNX form for tiles of any size; a sweep, stop 69): it is told to use torch."""
    from types import SimpleNamespace

    from landlearn.core.model_package.onnx_graph import no_graph_advice

    psp = no_graph_advice(SimpleNamespace(landlearn={"architecture": "PSPNet"}))
    assert psp.startswith("a pspnet network has no ONNX graph (its pyramid pooling") and \
        psp.endswith("use RUNTIME=torch") and "Export Model" not in psp
    assert "add one with Export Model, or use RUNTIME=torch" in no_graph_advice(
        SimpleNamespace(landlearn={"architecture": "unet"}))
