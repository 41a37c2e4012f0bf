"""A CPU training step that cannot fit is refused before the first epoch (naming BATCH_SIZE
and what fits, or the chips' size), an automatic batch lowered; a GPU's is torch's to say."""

import os
from types import SimpleNamespace

import pytest

from landlearn.core.deep import train_memory
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress

GB = 10 ** 9
CPU, CUDA = SimpleNamespace(type="cpu"), SimpleNamespace(type="cuda")
SHAPE = (4, 512, 512)  # a U-Net step: ~309 MB a chip


def _free(monkeypatch, gb):
    monkeypatch.setattr(train_memory, "available_memory",
                        lambda device: (int(gb * GB), "of memory available"))


def test_an_explicit_batch_that_cannot_fit_names_batch_size_and_what_fits(monkeypatch):
    _free(monkeypatch, 10)
    with pytest.raises(InputError, match=r"^BATCH_SIZE: training on batches of 64 chips of "
                       r"512 x 512 px takes about 19\.8 GB on the CPU, and there are 10\.0 GB "
                       r"of memory available; set BATCH_SIZE to at most 32"):
        train_memory.check_step_memory("unet", 64, SHAPE, CPU, True, RecordingProgress())
    assert train_memory.check_step_memory("unet", 32, SHAPE, CPU, True,
                                          RecordingProgress()) == 32


def test_an_automatic_batch_is_lowered_and_chips_too_large_are_named(monkeypatch):
    _free(monkeypatch, 2)
    progress = RecordingProgress()
    assert train_memory.check_step_memory("unet", 16, SHAPE, CPU, False, progress) == 6
    assert progress.messages == ["batch lowered to 6 chips: more would not fit in the 2.0 GB "
                                 "of memory available"]
    _free(monkeypatch, 0.5)
    with pytest.raises(InputError, match=r"^TRAINING_DATA: .*export smaller chips"):
        train_memory.check_step_memory("unet", 16, SHAPE, CPU, False, RecordingProgress())
    # a GPU's step is torch's to refuse (its out-of-memory error is caught and named)
    assert train_memory.check_step_memory("unet", 64, SHAPE, CUDA, True,
                                          RecordingProgress()) == 64


def test_hyperspectral_chips_count_their_bands(monkeypatch):
    """A 224-band chip's step was counted as a 4-band one's (EnMAP: 1180 B/px where a
    U-Net step measured 2782): its batch passed the check, then the kernel killed it."""
    hyper = (224, 512, 512)
    assert train_memory.step_bytes("unet", 1, hyper) == 512 * 512 * (1180 + 4 * 220)
    assert train_memory.step_bytes("unet", 1, (3, 512, 512)) == \
        train_memory.step_bytes("unet", 1, SHAPE)
    _free(monkeypatch, 10)
    with pytest.raises(InputError, match=r"^BATCH_SIZE: .* takes about 17\.3 GB .* set "
                       r"BATCH_SIZE to at most 18"):
        train_memory.check_step_memory("unet", 32, hyper, CPU, True, RecordingProgress())


def test_a_system_that_cannot_say_refuses_nothing_and_says_so(monkeypatch):
    monkeypatch.setattr(train_memory, "available_memory", lambda device: None)
    progress = RecordingProgress()
    assert train_memory.check_step_memory("unet", 64, SHAPE, CPU, True, progress) == 64
    assert "not checked" in progress.messages[0]


def test_a_u_net_step_costs_more_than_a_pspnets_and_unknown_ones_the_least():
    assert train_memory.step_bytes("unet", 1, SHAPE) > train_memory.step_bytes("pspnet", 1, SHAPE)
    assert train_memory.step_bytes("deeplabv3plus", 1, SHAPE) == \
        train_memory.step_bytes("pspnet", 1, SHAPE)


def test_training_refuses_before_the_first_epoch_and_writes_nothing(chips, tmp_path,
                                                                     monkeypatch):
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    _free(monkeypatch, 0.015)  # 64 px chips, detail head: ~7.1 MB each; 2 fit, not 16
    out = tmp_path / "m.dlpk"
    with pytest.raises(InputError, match=r"^BATCH_SIZE: training on batches of 16 chips of "
                       r"64 x 64 px .*set BATCH_SIZE to at most 2"):
        train_model(TrainConfig((str(chips),), str(out), backbone="resnet18", epochs=1,
                                batch_size=16, device="cpu"), RecordingProgress())
    assert os.listdir(tmp_path) == []


def test_the_detail_head_counts(monkeypatch):
    """The default network has the detail head (round 8): its step measured 2502 B/px
    against 1697 without (U-Net resnet18), and was counted as one without it."""
    assert train_memory.step_bytes("unet", 1, SHAPE, detail_head=True) == \
        512 * 512 * (1180 + 560)
    _free(monkeypatch, 10)
    assert train_memory.check_step_memory("unet", 32, SHAPE, CPU, True,
                                          RecordingProgress()) == 32
    with pytest.raises(InputError, match=r"^BATCH_SIZE: .* takes about 14\.6 GB .* set "
                       r"BATCH_SIZE to at most 21"):
        train_memory.check_step_memory("unet", 32, SHAPE, CPU, True, RecordingProgress(),
                                       detail_head=True)
