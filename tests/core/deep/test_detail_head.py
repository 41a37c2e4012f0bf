"""deep.detail_head: the U-Nets' head that also sees the input pixels (DETAIL_HEAD): built,
packaged under its own version (older readers refuse it by name), off on request,
skipped with a note where the architecture has no full-resolution stage, fine-tuned from."""

import pytest

from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress
from small_models import quick_config

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def test_the_head_joins_the_input_bands_to_the_full_resolution_decoder_output():
    from landlearn.core.deep.models import build_model

    for arch in ("unet", "unetplusplus"):
        for depth in (3, 5):
            net = build_model(arch, "resnet18", 5, 4, encoder_depth=depth,
                              detail_head=True).eval()
            first = net.segmentation_head[0]
            assert first.in_channels == 16 + 5  # the decoder's last 16 channels + 5 bands
            assert first.kernel_size == (3, 3)
            with torch.no_grad():
                assert tuple(net(torch.randn(2, 5, 32, 32)).shape) == (2, 4, 32, 32)
            # smp's names: packages, pretrained loading and the BatchNorm refresh see an
            # ordinary network
            assert {k.split(".")[0] for k in net.state_dict()} == {
                "encoder", "decoder", "segmentation_head"}
    plain = build_model("unet", "resnet18", 5, 4, encoder_depth=3)
    assert plain.segmentation_head[0].in_channels == 16


def test_a_pixel_reaches_its_own_score_through_the_head():
    """The point of the head: one pixel's bands move that pixel's scores directly. With the
    decoder's output held fixed (its weights zeroed), a change of one input pixel changes
    the scores only within the head's 5 x 5 px reach; the plain head has no such path."""
    from landlearn.core.deep.models import build_model

    net = build_model("unet", "resnet18", 3, 2, encoder_depth=3, detail_head=True).eval()
    with torch.no_grad():
        for p in net.decoder.parameters():
            p.zero_()
        x = torch.randn(1, 3, 32, 32)
        y = x.clone()
        y[0, :, 16, 16] += 5.0
        diff = (net(y) - net(x)).abs().sum(1)[0]
    changed = torch.nonzero(diff > 1e-6)
    assert len(changed) > 0 and diff[16, 16] > 1e-4
    assert changed[:, 0].min() >= 14 and changed[:, 0].max() <= 18
    assert changed[:, 1].min() >= 14 and changed[:, 1].max() <= 18


def test_only_the_u_nets_take_it():
    from landlearn.core.deep.architectures import has_detail_head
    from landlearn.core.deep.models import build_model

    assert has_detail_head("unet", True) and has_detail_head("UnetPlusPlus", True)
    assert not has_detail_head("unet", False) and not has_detail_head("deeplabv3plus", True)
    with pytest.raises(InputError, match="^DETAIL_HEAD: the fpn architecture has no "
                                         "full-resolution decoder stage"):
        build_model("fpn", "resnet18", 3, 2, detail_head=True)
    with pytest.raises(InputError, match="^MODEL: the linknet architecture"):
        build_model("linknet", "resnet18", 3, 2, parameter="model", detail_head=True)


def test_detail_head_must_be_true_or_false(tmp_path):
    from landlearn.core.deep.train_deep_learning_model import TrainConfig

    with pytest.raises(InputError, match="^DETAIL_HEAD: yes is not true or false"):
        TrainConfig(("chips",), str(tmp_path / "m.dlpk"), detail_head="yes").validate()


@pytest.mark.heavy
def test_the_default_package_has_it_under_version_3(trained, monkeypatch):
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.model_package import schema
    from landlearn.core.model_package.format import read_package

    out, _, _ = trained
    info = read_package(str(out)).landlearn
    assert info["detail_head"] is True and info["version"] == 3
    assert info["training"]["parameters"]["detail_head"] is True
    net = load_package_model(str(out))
    assert net.segmentation_head[0].in_channels == 16 + info["in_channels"]
    monkeypatch.setattr(schema, "FORMAT_VERSION", 2)  # a LandLearn from before the head
    with pytest.raises(InputError, match=r"written by a newer LandLearn \(package version 3\); "
                                         "update the plugin"):
        read_package(str(out))


@pytest.mark.heavy
def test_without_it_the_package_stays_readable_by_version_1(chips, tmp_path, monkeypatch):
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.model_package import schema
    from landlearn.core.model_package.format import read_package

    out = tmp_path / "plain.dlpk"
    train_model(quick_config(chips, out, epochs=1, detail_head=False), RecordingProgress())
    info = read_package(str(out)).landlearn
    assert info["detail_head"] is False and info["version"] == 1
    assert load_package_model(str(out)).segmentation_head[0].in_channels == 16
    monkeypatch.setattr(schema, "FORMAT_VERSION", 1)
    read_package(str(out))


@pytest.mark.heavy
def test_an_architecture_without_it_is_built_plain_with_a_note(chips, tmp_path):
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.model_package.format import read_package

    out = tmp_path / "fpn.dlpk"
    progress = RecordingProgress()
    result = train_model(quick_config(chips, out, epochs=1, architecture="fpn"), progress)
    note = ("DETAIL_HEAD: the fpn architecture has no full-resolution decoder stage; built "
            "without the detail head (unet and unetplusplus have it)")
    assert note in progress.messages and note in result.notes
    info = read_package(str(out)).landlearn
    assert info["detail_head"] is False and info["version"] == 1


def test_a_fine_tune_takes_the_head_when_it_fits(trained):
    from landlearn.core.deep.models import build_model
    from landlearn.core.deep.pretrained import load_weights, read_checkpoint
    from landlearn.core.model_package.format import read_package

    out, _, _ = trained
    info = read_package(str(out)).landlearn
    ckpt = read_checkpoint(str(out))
    same = build_model("unet", "resnet18", info["in_channels"], len(info["class_values"]),
                       encoder_depth=info["encoder_depth"], detail_head=True)
    n = len(same.state_dict())
    assert load_weights(same, ckpt.state).startswith(f"{n} of {n} tensors")
    assert all(torch.equal(same.state_dict()[k], v) for k, v in ckpt.state.items())
    plain = build_model("unet", "resnet18", info["in_channels"], len(info["class_values"]),
                        encoder_depth=info["encoder_depth"])
    assert load_weights(plain, ckpt.state).endswith(
        "the classification head starts new (the checkpoint's head is of another kind: "
        "DETAIL_HEAD differs)")
    more = build_model("unet", "resnet18", info["in_channels"], len(info["class_values"]) + 1,
                       encoder_depth=info["encoder_depth"], detail_head=True)
    what = load_weights(more, ckpt.state)
    assert what.endswith("the classification head starts new (different class count)")
    # a head loads whole or not at all: none of its tensors came from the checkpoint
    assert what.startswith(f"{n - len([k for k in same.state_dict() if k.startswith('segm')])}"
                           f" of {n} tensors")


def test_the_heads_band_columns_follow_the_encoders():
    """Fine-tuned on other bands, the head's input columns for the bands are matched (or
    cycled) as the encoder's first filters are; its decoder columns stay as they were."""
    from landlearn.core.deep.band_matching import parse_bands
    from landlearn.core.deep.models import build_model
    from landlearn.core.deep.pretrained import load_weights

    torch.manual_seed(0)
    src = build_model("unet", "resnet18", 3, 2, encoder_depth=3, detail_head=True).state_dict()
    w = src["segmentation_head.0.weight"]
    dst = build_model("unet", "resnet18", 3, 2, encoder_depth=3, detail_head=True)
    what = load_weights(dst, src, bands=parse_bands("B02,B03,B04"), names=["B04", "B03", "B02"])
    got = dst.state_dict()["segmentation_head.0.weight"]
    assert what.startswith(f"{len(src)} of {len(src)} tensors")
    assert torch.equal(got[:, :16], w[:, :16])
    assert torch.allclose(got[:, 16:], w[:, 16:].flip(1))
    first = "encoder.conv1.weight"
    assert torch.allclose(dst.state_dict()[first], src[first].flip(1))
    five = build_model("unet", "resnet18", 5, 2, encoder_depth=3, detail_head=True)
    load_weights(five, src)  # no band names: cycled, as smp does for the encoder
    got = five.state_dict()["segmentation_head.0.weight"]
    assert tuple(got.shape) == (32, 16 + 5, 3, 3) and torch.equal(got[:, :16], w[:, :16])
    assert torch.allclose(got[:, 16 + 3], w[:, 16] * 3 / 5)
