"""deep.lr_finder: the choice on synthetic loss curves, and the range test on a tiny network."""

import numpy as np
import pytest

from landlearn.core.deep.lr_finder import choose, find_learning_rate
from landlearn.core.progress import RecordingProgress


def _curve(lrs, best):
    """A loss that is lowest at ``best`` (in log10 of the rate)."""
    return [(lr, (np.log10(lr) - best) ** 2 + 1.0) for lr in lrs]


def test_a_tenth_of_the_rate_at_the_lowest_smoothed_loss():
    lrs = np.logspace(-5, 0, 41)
    history = _curve(lrs, -2.5)
    lowest = int(np.argmin([h[1] for h in history]))
    assert choose(history) == pytest.approx(lrs[lowest] / 10)
    assert choose(history) == pytest.approx(10 ** -3.5)


def test_the_first_values_are_noise_and_the_result_is_clipped():
    lrs = np.logspace(-5, 0, 41)
    history = _curve(lrs, -2.0)
    history[1] = (history[1][0], -100.0)  # one of the first three smoothed values: ignored
    assert choose(history) == pytest.approx(10 ** -3.0)
    assert choose(_curve(lrs, 3.0)) == 0.1  # lowest at the end (1.0): 0.1 at most
    assert choose(_curve(lrs, -9.0)) == 1e-4  # lowest at the start: 1e-4 at least
    assert choose(_curve(lrs[:7], -5.0)) == 1e-3  # too short a curve to read: the default


def test_range_test_on_a_tiny_network_leaves_its_weights_alone():
    torch = pytest.importorskip("torch")
    from landlearn.core.deep.losses import make_loss

    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 4, 4, generator=g)
    y = (x[:, 0] > 0).long()

    def batches(i):
        return x, y

    lr, history = find_learning_rate(torch, model, batches, make_loss("crossentropy", torch),
                                     "cpu", steps=30, start=1e-4, end=10.0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    rates = np.array([h[0] for h in history])
    assert rates[0] == pytest.approx(1e-4) and 8 <= len(history) <= 30
    np.testing.assert_allclose(rates[1:] / rates[:-1], (10.0 / 1e-4) ** (1 / 29), rtol=1e-9)
    assert lr == choose(history) and 1e-4 <= lr <= 0.1
    # the loss falls at first: the network learns the sign of band 1
    assert min(h[1] for h in history) < history[3][1]


def test_range_test_stops_on_cancel_and_on_divergence():
    torch = pytest.importorskip("torch")
    from landlearn.core.deep.losses import make_loss

    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 2, 1)
    x = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    y = (x[:, 0] > 0).long()
    loss = make_loss("crossentropy", torch)
    _, history = find_learning_rate(torch, model, lambda i: (x, y), loss, "cpu", steps=40,
                                    progress=RecordingProgress(cancel_after_checks=5))
    assert len(history) == 5
    lr, history = find_learning_rate(torch, model, lambda i: (x * 100, y), loss, "cpu",
                                     steps=60, start=1e-2, end=1e6)
    assert len(history) < 60  # the loss blew up: the test stopped there
