"""deep.batches: batch sizes, epoch order and BatchNorm's refreshed statistics."""

import numpy as np
import pytest

from landlearn.core.deep.batches import auto_batch, epoch_batches, refresh_norm_statistics
from landlearn.core.errors import Cancelled
from landlearn.core.progress import RecordingProgress

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


class _Chips:
    """ChipData's batch() over fixed tensors: what refresh_norm_statistics reads."""

    def __init__(self, x):
        self.x = x

    def batch(self, indices, torch, device, augment, rng):
        return self.x[list(indices)], None


def test_norm_statistics_are_re_estimated_on_training_chips_with_the_weights_as_they_are():
    """After the refresh, BatchNorm's running mean and variance are the chips' own (not a
    trailing average of earlier weights), and the model's mode and momentum are kept."""
    from landlearn.core.deep.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", "resnet18", 3, 2).eval()
    x = torch.randn(6, 3, 64, 64) * 3 + 1
    refresh_norm_statistics(torch, model, _Chips(x), np.arange(6), 3, "cpu")
    bn = model.encoder.bn1
    with torch.no_grad():
        a = [model.encoder.conv1(x[i:i + 3]) for i in (0, 3)]  # two batches of 3, averaged
    want_mean = torch.stack([t.mean(dim=(0, 2, 3)) for t in a]).mean(0)
    want_var = torch.stack([t.var(dim=(0, 2, 3), unbiased=True) for t in a]).mean(0)
    torch.testing.assert_close(bn.running_mean, want_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, want_var, rtol=1e-4, atol=1e-5)
    assert not model.training and bn.momentum == 0.1
    # a cancel is seen between the batches
    class Stop(RecordingProgress):
        def is_canceled(self):
            return True

    with pytest.raises(Cancelled):
        refresh_norm_statistics(torch, model, _Chips(x), np.arange(6), 3, "cpu", Stop())
    model.encoder.bn1.momentum = 0.1  # update_bn was interrupted before restoring it
    # a lone chip is no batch statistic: nothing changes
    before = bn.running_mean.clone()
    refresh_norm_statistics(torch, model, _Chips(x * 5), np.arange(1), 3, "cpu")
    assert torch.equal(bn.running_mean, before)
    # BATCH_SIZE 1 (or a small GPU's automatic batch): refreshed in pairs, not skipped
    refresh_norm_statistics(torch, model, _Chips(x * 5), np.arange(4), 1, "cpu")
    with torch.no_grad():
        pairs = [model.encoder.conv1(x[i:i + 2] * 5) for i in (0, 2)]
    torch.testing.assert_close(bn.running_mean,
                               torch.stack([t.mean(dim=(0, 2, 3)) for t in pairs]).mean(0),
                               rtol=1e-4, atol=1e-5)


def test_a_last_batch_of_one_chip_is_never_trained_alone():
    order = np.arange(10, 20)
    assert [b.tolist() for b in epoch_batches(order, 4)] == [
        [10, 11, 12, 13], [14, 15, 16, 17], [18, 19]]
    assert [b.tolist() for b in epoch_batches(order, 3)][-1] == [19, 10]
    assert [b.tolist() for b in epoch_batches(order[:1], 3)] == [[10]]


def test_the_cpu_batch_follows_the_chip_size_and_the_chip_count():
    class Cpu:
        type = "cpu"

    assert auto_batch(torch, None, Cpu(), (4, 256, 256), 100) == 8
    assert auto_batch(torch, None, Cpu(), (4, 64, 64), 100) == 16
    assert auto_batch(torch, None, Cpu(), (4, 64, 64), 5) == 5
    assert auto_batch(torch, None, Cpu(), (4, 1024, 1024), 100) == 2


def test_a_gpu_takes_the_cpu_batch_halved_only_until_it_fits():
    """On CUDA the batch is the CPU's (an H200 given its largest batch trained s2 one step
    per epoch and scored 0.12 OA lower), halved while twice it does not fit in memory."""
    from types import SimpleNamespace

    class OutOfMemory(Exception):
        pass

    tried = []

    def zeros(shape, device):
        tried.append(shape[0])
        if shape[0] > fits:
            raise OutOfMemory
        return torch.zeros(1, requires_grad=True)

    fake = SimpleNamespace(zeros=zeros, cuda=SimpleNamespace(
        OutOfMemoryError=OutOfMemory, empty_cache=lambda: None))
    model = torch.nn.Identity()
    model.zero_grad = lambda set_to_none: None
    gpu = SimpleNamespace(type="cuda")
    fits = 1000
    assert auto_batch(fake, model, gpu, (4, 256, 256), 27) == 8 and tried == [16]
    assert auto_batch(fake, model, gpu, (4, 64, 64), 55) == 16
    assert auto_batch(fake, model, gpu, (4, 64, 64), 5) == 5
    fits, tried[:] = 8, []
    assert auto_batch(fake, model, gpu, (4, 64, 64), 55) == 4 and tried == [32, 16, 8]
    fits = 1
    assert auto_batch(fake, model, gpu, (4, 64, 64), 55) == 1
