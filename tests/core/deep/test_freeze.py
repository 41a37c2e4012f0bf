"""deep.freeze: FREEZE keeps a pretrained encoder's weights while the rest learns."""

import pytest

from landlearn.core.errors import InputError
from small_models import quick_config

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def test_the_encoder_but_its_first_convolution_stops_learning():
    from landlearn.core.deep.freeze import freeze_encoder
    from landlearn.core.deep.models import build_model

    model = build_model("unet", "resnet18", 4, 3)
    note = freeze_encoder(model)
    learning = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "encoder.conv1.weight" in learning
    assert not any(n.startswith("encoder.") for n in learning - {"encoder.conv1.weight"})
    assert any(n.startswith("decoder.") for n in learning)
    assert any(n.startswith("segmentation_head.") for n in learning)
    assert note.startswith("encoder frozen (FREEZE): 11.2M of")


def test_freeze_needs_pretrained_weights():
    with pytest.raises(InputError, match="^FREEZE: keeps a pretrained encoder"):
        quick_config("chips", "out.dlpk", freeze=True).validate()
    with pytest.raises(InputError, match="^FREEZE: yes is not true or false"):
        quick_config("chips", "out.dlpk", freeze="yes").validate()


def _encoder_params(path):
    from landlearn.core.deep.models import load_package_model

    model = load_package_model(str(path))
    return {n: p.detach().clone() for n, p in model.named_parameters()
            if n.startswith("encoder.")}


@pytest.mark.heavy
def test_a_frozen_fine_tune_keeps_the_checkpoint_encoder_and_an_unfrozen_one_does_not(
        chips, tmp_path):
    """An encoder checkpoint of the chips' 10 bands (written here): trained with FREEZE,
    the package's encoder weights are the checkpoint's to the bit, but the first
    convolution; without FREEZE they moved."""
    from safetensors.torch import save_file

    from landlearn.core.deep.models import build_model
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.progress import RecordingProgress

    torch.manual_seed(3)
    source = build_model("unet", "resnet18", 10, 2)
    state = {k.removeprefix("encoder."): v.contiguous() for k, v in source.state_dict().items()
             if k.startswith("encoder.")}
    save_file(state, str(tmp_path / "encoder.safetensors"))
    kept = {}
    for freeze in (True, False):
        out = tmp_path / f"freeze_{freeze}.dlpk"
        progress = RecordingProgress()
        result = train_model(quick_config(chips, out, epochs=1, freeze=freeze,
                                          pretrained_weights=str(tmp_path / "encoder.safetensors")),
                             progress)
        assert any(n.startswith("encoder frozen") for n in result.notes) == freeze
        kept[freeze] = _encoder_params(out)
    frozen, free = kept[True], kept[False]
    rest = [n for n in frozen if n != "encoder.conv1.weight"]
    assert len(rest) > 50
    for name in rest:
        assert torch.equal(frozen[name], state[name.removeprefix("encoder.")]), name
    assert not torch.equal(frozen["encoder.conv1.weight"], state["conv1.weight"])
    moved = [n for n in rest if not torch.equal(free[n], state[n.removeprefix("encoder.")])]
    assert len(moved) > len(rest) // 2


def test_encoder_tensors_the_checkpoint_lacked_keep_learning():
    """load_weights takes an encoder with 90% of its tensors: the rest are random, and
    frozen they stayed random for good."""
    from landlearn.core.deep.freeze import freeze_encoder
    from landlearn.core.deep.models import build_model

    model = build_model("unet", "resnet18", 4, 3)
    names = {n for n, _ in model.named_parameters()}
    missing = "encoder.layer4.1.bn2.weight"
    note = freeze_encoder(model, names - {missing})
    learning = {n for n, p in model.named_parameters() if p.requires_grad}
    assert missing in learning and "encoder.layer4.1.conv2.weight" not in learning
    assert note.endswith("and 1 encoder tensor(s) the checkpoint lacked")
