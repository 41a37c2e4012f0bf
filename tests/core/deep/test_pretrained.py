"""deep.pretrained: weights read safely from local files, found under their checkpoint's
prefixes, and the first convolution's filters matched band by band."""

import os

import numpy as np
import pytest

from landlearn.core.deep.band_matching import parse_bands
from landlearn.core.deep.models import build_model
from landlearn.core.deep.pretrained import load_weights, read_checkpoint, read_state_dict
from landlearn.core.deep.train_deep_learning_model import train_model
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress
from small_models import quick_config

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def _encoder(model) -> dict:
    return {k.removeprefix("encoder."): v for k, v in model.state_dict().items()
            if k.startswith("encoder.")}


def test_rgb_first_convolution_is_widened_to_five_bands():
    torch.manual_seed(0)
    rgb = build_model("unet", "resnet18", 3, 4)
    enc = _encoder(rgb)
    five = build_model("unet", "resnet18", 5, 4)
    decoder_before = five.state_dict()["decoder.blocks.0.conv1.0.weight"].clone()
    what = load_weights(five, enc)
    assert what.endswith("first convolution adapted to 5 bands by cycling the checkpoint's 3 "
                         "band filters (PRETRAINED_BANDS would match them by name or wavelength)")
    w = five.state_dict()["encoder.conv1.weight"]
    assert tuple(w.shape) == (64, 5, 7, 7)
    for band in range(5):  # the RGB filters cycled, scaled so the response keeps its size
        torch.testing.assert_close(w[:, band], enc["conv1.weight"][:, band % 3] * 3 / 5)
    for k, v in enc.items():
        if k != "conv1.weight":
            assert torch.equal(five.state_dict()[f"encoder.{k}"], v), k
    # an encoder-only state leaves the decoder as it was
    assert torch.equal(five.state_dict()["decoder.blocks.0.conv1.0.weight"], decoder_before)
    # and narrowed to one band: the red filters, three times as strong
    one = build_model("unet", "resnet18", 1, 4)
    load_weights(one, enc)
    torch.testing.assert_close(one.state_dict()["encoder.conv1.weight"][:, 0],
                               enc["conv1.weight"][:, 0] * 3)


def test_a_full_model_loads_whole_and_another_head_starts_new():
    torch.manual_seed(1)
    src = build_model("unet", "resnet18", 4, 3)
    same = build_model("unet", "resnet18", 4, 3)
    what = load_weights(same, src.state_dict())
    n = len(src.state_dict())
    # four bands, none named: taken in the file's order, and said (review 94)
    assert what == (f"{n} of {n} tensors; first convolution taken in the checkpoint's band "
                    "order (it names no bands); PRETRAINED_BANDS would match them by name "
                    "or wavelength")
    for k, v in src.state_dict().items():
        assert torch.equal(same.state_dict()[k], v), k
    other = load_weights(build_model("unet", "resnet18", 4, 6), src.state_dict())
    assert other.endswith("the classification head starts new (different class count)")
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: the weights do not match this "
                       "backbone"):
        load_weights(build_model("unet", "resnet34", 4, 3), src.state_dict())


@pytest.mark.parametrize("detail", [False, True])
def test_a_packages_head_follows_its_class_values(detail):
    """Fine-tuning a package of classes 1, 2, 3 on chips of 3, 1, 2: each class keeps its
    own row of the head (they were taken by position); on classes 1, 2, 4 the head starts
    new (a row of class 3 would have learnt on as class 4)."""
    torch.manual_seed(2)
    src = build_model("unet", "resnet18", 4, 3, encoder_depth=4, detail_head=detail)
    head = [k for k in src.state_dict() if k.startswith("segmentation_head.")]
    weight, bias = head[-2:]
    old = src.state_dict()
    moved = build_model("unet", "resnet18", 4, 3, encoder_depth=4, detail_head=detail)
    what = load_weights(moved, old, classes=([1, 2, 3], [3, 1, 2]))
    assert "the head's rows put in this run's class order (by class value)" in what
    for k in (weight, bias):
        assert torch.equal(moved.state_dict()[k], old[k][[2, 0, 1]]), k
    for k in head[:-2]:  # layers before the last: as they were
        assert torch.equal(moved.state_dict()[k], old[k]), k
    other = build_model("unet", "resnet18", 4, 3, encoder_depth=4, detail_head=detail)
    before = other.state_dict()[weight].clone()
    what = load_weights(other, old, classes=([1, 2, 3], [1, 2, 4]))
    assert what.endswith("the classification head starts new (the package's classes are "
                         "other values)")
    assert torch.equal(other.state_dict()[weight], before)
    same = build_model("unet", "resnet18", 4, 3, encoder_depth=4, detail_head=detail)
    load_weights(same, old, classes=([1, 2, 3], [1, 2, 3]))
    assert torch.equal(same.state_dict()[weight], old[weight])


def test_read_state_dict_from_torch_and_safetensors_files(tmp_path):
    from safetensors.torch import save_file

    state = {"module.conv.weight": torch.ones(2, 3), "module.conv.bias": torch.zeros(2)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    got = read_state_dict(str(tmp_path / "ckpt.pth"))
    assert set(got) == {"conv.weight", "conv.bias"}  # DataParallel's prefix dropped
    assert torch.equal(got["conv.weight"], torch.ones(2, 3))
    save_file({"a": torch.arange(4.0)}, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_state_dict(str(tmp_path / "w.safetensors"))["a"], torch.arange(4.0))
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* does not hold a state dict"):
        read_state_dict(str(tmp_path / "list.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* is not in torch's zip format"):
        read_state_dict(str(tmp_path / "junk.pt"))
    # not a pickle at all (an HDF5 .h5, a PNG): not said to pickle Python objects
    (tmp_path / "keras.pt").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* is not in torch's zip format"):
        read_state_dict(str(tmp_path / "keras.pt"))
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* does not exist"):
        read_state_dict(str(tmp_path / "missing.pt"))


def test_pickled_code_in_a_torch_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="is not a plain state dict of weights: it pickles "
                                         "Python objects") as err:
        read_state_dict(str(tmp_path / "evil.pt"))
    assert "weights_only=False" not in str(err.value)  # torch's advice would run the code
    # fastai's / arcgis.learn's Learner.save keeps the optimizer: a functools.partial
    import functools

    model = torch.nn.Conv2d(3, 4, 3)
    torch.save({"model": model.state_dict(), "opt": {"make": functools.partial(max, 1)}},
               tmp_path / "fastai.pth")
    with pytest.raises(InputError, match="an optimizer's state, as fastai and arcgis.learn "
                                         r"save by default.*torch.save\(model.state_dict\(\)"):
        read_state_dict(str(tmp_path / "fastai.pth"))


def test_checkpoints_that_could_hang_or_deceive_are_refused(tmp_path):
    """A tensor name of 100,000 characters (the prefix search was quadratic in it: hours,
    no Cancel), a stride-0 view claiming a million elements from one, and NaN weights."""
    from safetensors.torch import save_file

    save_file({"." * 100_000: torch.zeros(0)}, str(tmp_path / "long.safetensors"))
    with pytest.raises(InputError, match=r"^PRETRAINED_WEIGHTS: .* names a tensor with 100000 "
                       r"characters \(more than 512\)"):
        read_checkpoint(str(tmp_path / "long.safetensors"))
    torch.save({"conv.weight": torch.zeros(1).expand(1_000_000)}, tmp_path / "view.pth")
    with pytest.raises(InputError, match="tensor 'conv.weight' claims 4000000 bytes, more than "
                       "the file's"):
        read_checkpoint(str(tmp_path / "view.pth"))
    torch.save({"conv.weight": torch.tensor([1.0, float("nan")])}, tmp_path / "nan.pth")
    with pytest.raises(InputError, match="holds NaN or infinite weights"):
        read_checkpoint(str(tmp_path / "nan.pth"))


def test_a_first_convolution_of_another_shape_with_bands_is_named(tmp_path):
    """A CIFAR-style 3 x 3 stem with PRETRAINED_BANDS: band matching took it, and
    load_state_dict's size mismatch reached the user as a bug."""
    state = _timm_like(3)
    state["conv1.weight"] = torch.randn(64, 3, 3, 3)
    with pytest.raises(InputError, match=r"^PRETRAINED_WEIGHTS: the checkpoint's first "
                       r"convolution \(64, 3, 3, 3\) is not this backbone's \(64, 4, 7, 7\)"):
        load_weights(build_model("unet", "resnet18", 4, 3), state, bands=parse_bands("rgb"),
                     names=["red", "green", "blue", "nir"])


@pytest.mark.heavy
def test_weights_from_a_package_and_rgb_weights_adapted(trained, chips, tmp_path):
    from safetensors.torch import save_file

    out, _, _ = trained
    from landlearn.core.model_package.format import read_package

    # a package's checkpoint knows its classes, in its head's order
    assert read_checkpoint(str(out)).class_values == \
        read_package(str(out)).landlearn["class_values"]
    rgb = build_model("unet", "resnet18", 3, 5)
    enc = {k.removeprefix("encoder."): v for k, v in rgb.state_dict().items()
           if k.startswith("encoder.")}
    save_file(enc, str(tmp_path / "rgb_encoder.safetensors"))
    model = build_model("unet", "resnet18", 10, 8)
    what = load_weights(model, read_state_dict(str(tmp_path / "rgb_encoder.safetensors")))
    assert "adapted to 10 bands" in what
    w = model.state_dict()["encoder.conv1.weight"]
    np.testing.assert_allclose(w[:, 3].numpy(), enc["conv1.weight"][:, 0].numpy() * 0.3, rtol=1e-6)
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* do not match this backbone"):
        load_weights(build_model("unet", "efficientnet-b0", 10, 8), read_state_dict(str(out)))
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* do not match this architect"):
        load_weights(build_model("fpn", "resnet18", 10, 8), read_state_dict(str(out)))
    depth = read_checkpoint(str(out)).encoder_depth
    assert depth == 4  # 64 px chips
    head = load_weights(build_model("unet", "resnet18", 10, 3, encoder_depth=depth),
                        read_state_dict(str(out)))
    assert "head starts new" in head
    with pytest.raises(InputError, match="only 8 of 60 decoder tensors fit"):
        load_weights(build_model("unet", "resnet18", 10, 3), read_state_dict(str(out)))
    # a fine-tune on 256 px chips would be depth 5; from the package it keeps depth 4
    progress = RecordingProgress()
    fine = train_model(quick_config(chips, tmp_path / "fine.dlpk", epochs=1,
                                    pretrained_weights=str(out)), progress)
    assert any("pretrained weights" in n for n in fine.notes)
    assert fine.encoder_depth == 4
    assert "Encoder depth 4, as in the pretrained package" in progress.messages


def _timm_like(bands: int, seed: int = 0) -> dict:
    """A timm/torchgeo ResNet-18 state dict (conv1, bn1, layer1..4, fc) for ``bands``."""
    torch.manual_seed(seed)
    state = {k: v.clone() for k, v in _encoder(build_model("unet", "resnet18", bands, 2)).items()}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    return state


S2_TEN = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def test_an_ssl4eo_moco_checkpoint_loads_its_query_encoder_with_sentinel2_bands(tmp_path):
    """SSL4EO-S12's MoCo layout: state_dict / module.encoder_q. / 13 bands B01..B12, a
    momentum encoder_k beside it and an MLP head: the query encoder fills the U-Net's
    encoder, and the 10 training bands take their own filters by name."""
    query, momentum = _timm_like(13, seed=1), _timm_like(13, seed=2)
    ckpt = {"epoch": 99, "state_dict": {
        **{f"module.encoder_q.{k}": v for k, v in query.items()},
        **{f"module.encoder_k.{k}": v for k, v in momentum.items()},
        "module.encoder_q.fc.0.weight": torch.randn(2048, 512), "module.queue": torch.randn(128, 9)}}
    torch.save(ckpt, tmp_path / "B13_rn18_moco_0099_ckpt.pth")
    loaded = read_checkpoint(str(tmp_path / "B13_rn18_moco_0099_ckpt.pth"))
    assert loaded.bands is None  # a .pth says nothing of its bands
    model = build_model("unet", "resnet18", 10, 6)
    what = load_weights(model, loaded.state, bands=parse_bands("sentinel2"), names=S2_TEN)
    assert "(encoder weights found under 'encoder_q.')" in what
    assert ("first convolution: 10 of 10 training bands matched to the checkpoint's bands "
            "(B02<-B02 by name, B03<-B03 by name") in what
    own = model.state_dict()
    w = own["encoder.conv1.weight"]
    for i, j in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 11, 12]):  # B01, B09, B10 not trained on
        torch.testing.assert_close(w[:, i], query["conv1.weight"][:, j] * 13 / 10)
    for k, v in query.items():
        if k != "conv1.weight" and not k.startswith("fc."):
            assert torch.equal(own[f"encoder.{k}"], v), k  # the query's, never the momentum's


def test_bands_match_by_wavelength_and_the_rest_start_from_the_mean_filter():
    state = _timm_like(13)
    model = build_model("unet", "resnet18", 4, 3)
    names = ["Blue", "nir 842nm", "0.665um", "thermal"]
    what = load_weights(model, state, bands=parse_bands("sentinel2"), names=names)
    assert ("3 of 4 training bands matched to the checkpoint's bands (Blue<-B02 by wavelength, "
            "nir 842nm<-B08 by wavelength, 0.665um<-B04 by wavelength, thermal<-mean)") in what
    w, src = model.state_dict()["encoder.conv1.weight"], state["conv1.weight"]
    for i, j in enumerate([1, 7, 3]):
        torch.testing.assert_close(w[:, i], src[:, j] * 13 / 4)
    torch.testing.assert_close(w[:, 3], src.mean(dim=1) * 13 / 4)


def test_bands_named_by_the_user_must_fit_and_match(tmp_path):
    state = _timm_like(3)
    with pytest.raises(InputError, match="^PRETRAINED_BANDS: 13 bands are named, but the "
                       "checkpoint's first convolution takes 3"):
        load_weights(build_model("unet", "resnet18", 4, 3), state,
                     bands=parse_bands("sentinel2"), names=["a", "b", "c", "d"])
    with pytest.raises(InputError, match=r"^PRETRAINED_WEIGHTS: none of the training bands "
                       r"\(Band_1, Band_2\) matches a band of the checkpoint \(red, green, blue\)"):
        load_weights(build_model("unet", "resnet18", 2, 3), state, bands=parse_bands("rgb"),
                     names=["Band_1", "Band_2"])
    # bands the file itself named (a package's) and nothing matches: cycled, and said so
    what = load_weights(build_model("unet", "resnet18", 2, 3), state, bands=parse_bands("rgb"),
                        names=["Band_1", "Band_2"], bands_from_user=False)
    assert "no training band matched the checkpoint's band names (red, green, blue)" in what
    assert "adapted to 2 bands by cycling the checkpoint's 3 band filters" in what


def test_safetensors_metadata_names_the_bands(tmp_path):
    from safetensors.torch import save_file

    state = _timm_like(3)
    save_file(state, str(tmp_path / "rgb.safetensors"), metadata={"bands": "red,green,blue"})
    ckpt = read_checkpoint(str(tmp_path / "rgb.safetensors"))
    assert ckpt.bands == [("red", 0.665), ("green", 0.56), ("blue", 0.49)]
    model = build_model("unet", "resnet18", 3, 2)
    what = load_weights(model, ckpt.state, bands=ckpt.bands, names=["B02", "B03", "B04"],
                        bands_from_user=False)
    assert "(B02<-blue by wavelength, B03<-green by wavelength, B04<-red by wavelength)" in what
    w = model.state_dict()["encoder.conv1.weight"]
    torch.testing.assert_close(w[:, 0], state["conv1.weight"][:, 2])  # blue is third in RGB
    save_file(state, str(tmp_path / "bad.safetensors"), metadata={"bands": "red,,blue"})
    with pytest.raises(InputError, match="its 'bands' metadata .* give PRETRAINED_BANDS"):
        read_checkpoint(str(tmp_path / "bad.safetensors"))


def test_containers_of_training_frameworks_are_unwrapped(tmp_path):
    state = _timm_like(3)
    torch.save({"teacher": {f"backbone.{k}": v for k, v in state.items()}, "epoch": 1},
               tmp_path / "dino.pth")
    torch.save({"model": {"state_dict": {f"model.backbone.{k}": v for k, v in state.items()}}},
               tmp_path / "nested.ckpt")
    for name, prefix in (("dino.pth", "backbone."), ("nested.ckpt", "model.backbone.")):
        model = build_model("unet", "resnet18", 3, 2)
        what = load_weights(model, read_state_dict(str(tmp_path / name)))
        assert f"(encoder weights found under '{prefix}')" in what
        torch.testing.assert_close(model.state_dict()["encoder.layer4.1.bn2.weight"],
                                   state["layer4.1.bn2.weight"])


@pytest.mark.heavy
def test_training_matches_pretrained_bands_by_the_names_given(chips, tmp_path):
    """The Sentinel-2 sample's chips have no band names: BAND_NAMES gives them,
    PRETRAINED_BANDS the 13 bands of an SSL4EO-style checkpoint."""
    from safetensors.torch import save_file

    save_file(_timm_like(13), str(tmp_path / "s2_13.safetensors"))
    progress = RecordingProgress()
    result = train_model(quick_config(chips, tmp_path / "pre.dlpk", epochs=1,
                                 pretrained_weights=str(tmp_path / "s2_13.safetensors"),
                                 pretrained_bands="sentinel2", band_names=tuple(S2_TEN)),
                         progress)
    note = next(n for n in result.notes if n.startswith("pretrained weights from"))
    assert "10 of 10 training bands matched to the checkpoint's bands (B02<-B02 by name" in note
    assert note in progress.messages
    # the package keeps the names given: a fine-tune from it matches them again (its
    # band_names stay the chips' own, which Classify Pixels compares with a raster's)
    from landlearn.core.model_package.format import read_package

    assert [n for n, _ in read_checkpoint(str(tmp_path / "pre.dlpk")).bands] == list(S2_TEN)
    assert read_package(str(tmp_path / "pre.dlpk")).landlearn["band_names"][0] == "Band_1"
    again = train_model(quick_config(chips, tmp_path / "again.dlpk", epochs=1,
                                     pretrained_weights=str(tmp_path / "pre.dlpk"),
                                     band_names=tuple(S2_TEN)))
    assert any("10 of 10 training bands matched to the checkpoint's bands" in n
               for n in again.notes)
    # without names the 13 filters are cycled onto the 10 bands, and the note says so
    plain = train_model(quick_config(chips, tmp_path / "plain.dlpk", epochs=1,
                                pretrained_weights=str(tmp_path / "s2_13.safetensors")))
    assert any("adapted to 10 bands by cycling the checkpoint's 13 band filters" in n
               for n in plain.notes)
    with pytest.raises(InputError, match="^BAND_NAMES: 2 names for 10 bands"):
        train_model(quick_config(chips, tmp_path / "x.dlpk", epochs=1,
                            pretrained_weights=str(tmp_path / "s2_13.safetensors"),
                            band_names=("a", "b")))
    with pytest.raises(InputError, match="^PRETRAINED_BANDS: names the bands of pretrained"):
        quick_config(chips, tmp_path / "x.dlpk", pretrained_bands="rgb").validate()
    with pytest.raises(InputError, match="^PRETRAINED_BANDS: 'red,,blue' is neither a preset"):
        quick_config(chips, tmp_path / "x.dlpk", pretrained_weights=str(tmp_path / "s2_13.safetensors"),
                pretrained_bands="red,,blue").validate()


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_device_or_pipe_named_as_weights_is_refused_unread(tmp_path, target):
    """A link to /dev/zero (size 0, endless) or a named pipe (read blocks forever)."""
    weights = tmp_path / "w.safetensors"
    if target == "fifo":
        os.mkfifo(weights)
    else:
        weights.symlink_to(target)
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* is not a regular file"):
        read_state_dict(str(weights))


def test_torch_files_are_read_only_where_weights_only_holds_and_as_torch_wrote_them(
        tmp_path, monkeypatch):
    """weights_only could be bypassed before torch 2.6; a record deflated into a small file
    is allocated at its declared size before torch inflates it; the legacy format sizes its
    storages from the pickle. All three are refused before torch.load runs."""
    import zipfile

    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), tmp_path / "ok.pth")
    assert read_state_dict(str(tmp_path / "ok.pth"))  # torch.save's own file reads
    with zipfile.ZipFile(tmp_path / "ok.pth") as src, \
            zipfile.ZipFile(tmp_path / "deflated.pth", "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .*deflated.pth' is not a file "
                                         "torch.save wrote .its record .* is compressed"):
        read_state_dict(str(tmp_path / "deflated.pth"))
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), tmp_path / "legacy.pth",
               _use_new_zipfile_serialization=False)
    with pytest.raises(InputError, match="is not in torch's zip format .saved by torch before "
                                         "1.6"):
        read_state_dict(str(tmp_path / "legacy.pth"))
    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    with pytest.raises(InputError, match=r"this torch \(2.5.1\+cpu\) can be made to run code"):
        read_state_dict(str(tmp_path / "ok.pth"))
