"""deep.models: networks built offline, weights read safely, RGB weights widened to more bands."""

import numpy as np
import pytest

from landlearn.core.deep.models import build_model, load_weights, read_state_dict
from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def _config(chips, out, **kw):
    base = dict(backbone="resnet18", epochs=2, batch_size=16, learning_rate=3e-3,
                validation_percent=20, device="cpu")
    base.update(kw)
    return TrainConfig((str(chips),), str(out), **base)


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
    assert what.endswith("first convolution adapted to 5 bands")
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
    assert what == f"{n} of {n} tensors"
    for k, v in src.state_dict().items():
        assert torch.equal(same.state_dict()[k], v), k
    other = load_weights(build_model("unet", "resnet18", 4, 6), src.state_dict())
    assert other.endswith("the classification head starts new (different class count)")
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: the weights do not match this "
                       "backbone"):
        load_weights(build_model("unet", "resnet34", 4, 3), src.state_dict())


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
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* cannot be read as weights"):
        read_state_dict(str(tmp_path / "junk.pt"))
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* does not exist"):
        read_state_dict(str(tmp_path / "missing.pt"))


def test_pickled_code_in_a_torch_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="cannot be read as weights"):
        read_state_dict(str(tmp_path / "evil.pt"))


def test_unknown_encoders_and_architectures_name_their_parameter():
    with pytest.raises(InputError, match="^BACKBONE: the encoder 'resnet1000' is not one of"):
        build_model("unet", "resnet1000", 3, 2)
    with pytest.raises(InputError, match="^ARCHITECTURE: the architecture 'segformer'"):
        build_model("segformer", "resnet18", 3, 2)
    with pytest.raises(InputError, match="^MODEL: the encoder"):
        build_model("unet", "resnet1000", 3, 2, parameter="model")
    net = build_model("fpn", "resnet18", 7, 3)
    with torch.no_grad():
        out = net(torch.zeros(1, 7, 64, 64))
    assert tuple(out.shape) == (1, 3, 64, 64)


def test_weights_from_a_package_and_rgb_weights_adapted(trained, chips, tmp_path):
    from safetensors.torch import save_file

    from landlearn.core.deep.models import build_model, load_weights, read_state_dict

    out, _, _ = trained
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
    head = load_weights(build_model("unet", "resnet18", 10, 3), read_state_dict(str(out)))
    assert "head starts new" in head
    fine = train_model(_config(chips, tmp_path / "fine.dlpk", epochs=1,
                               pretrained_weights=str(out)), RecordingProgress())
    assert any("pretrained weights" in n for n in fine.notes)
