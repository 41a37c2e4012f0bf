"""deep.losses on tiny tensors: the ignore index, and dice / focal against hand-computed values."""

import math

import pytest

from landlearn.core.deep.chip_dataset import IGNORE
from landlearn.core.deep.losses import LOSSES, WEIGHTINGS, class_weights, make_loss
from landlearn.core.errors import InputError

torch = pytest.importorskip("torch")


def _logits():
    # (1, 2 classes, 1, 3): pixel 0 sure of class 0, pixel 1 undecided, pixel 2 sure of class 1
    return torch.tensor([[[[4.0, 0.0, -4.0]], [[-4.0, 0.0, 4.0]]]])


def test_every_loss_ignores_the_ignore_label():
    logits = _logits()
    target = torch.tensor([[[0, 1, 1]]])
    masked = torch.tensor([[[0, IGNORE, 1]]])
    for name, _ in LOSSES:
        loss = make_loss(name, torch)
        # the ignored pixel counts for nothing: as if only the other two were there
        two = loss(logits[..., [0, 2]], target[..., [0, 2]])
        assert float(loss(logits, masked)) == pytest.approx(float(two), abs=1e-6), name
        # whatever the network says there
        other = logits.clone()
        other[..., 1] = torch.tensor([9.0, -9.0])[None, :, None]
        assert float(loss(other, masked)) == pytest.approx(float(two), abs=1e-6), name
    # a batch with nothing labelled teaches nothing: a finite loss and zero gradients
    for name in ("dice", "focal", "crossentropy_dice"):
        x = logits.clone().requires_grad_(True)
        loss = make_loss(name, torch)(x, torch.full((1, 1, 3), IGNORE))
        loss.backward()
        assert torch.isfinite(loss) and float(x.grad.abs().max()) == 0.0, name


def test_cross_entropy_and_focal_reduce_to_known_values():
    logits = _logits()
    target = torch.tensor([[[0, 1, 1]]])
    p_right = [1 / (1 + math.exp(-8)), 0.5, 1 / (1 + math.exp(-8))]
    ce = -sum(math.log(p) for p in p_right) / 3
    assert float(make_loss("crossentropy", torch)(logits, target)) == pytest.approx(ce, rel=1e-5)
    focal = -sum((1 - p) ** 2 * math.log(p) for p in p_right) / 3
    assert float(make_loss("focal", torch)(logits, target)) == pytest.approx(focal, rel=1e-5)
    # class weights: each pixel's loss times its class weight, over the number of pixels
    w = torch.tensor([1.0, 3.0])
    weighted = -sum(c * (1 - p) ** 2 * math.log(p) for c, p in zip([1, 3, 3], p_right)) / 3
    assert float(make_loss("focal", torch, w)(logits, target)) == pytest.approx(weighted, rel=1e-5)


def test_dice_on_a_perfect_and_a_hand_computed_prediction():
    dice = make_loss("dice", torch)
    target = torch.tensor([[[0, 1, 1]]])
    sure = torch.tensor([[[[50.0, -50.0, -50.0]], [[-50.0, 50.0, 50.0]]]])
    assert float(dice(sure, target)) == pytest.approx(0.0, abs=1e-6)
    # probabilities p0 = (s, 0.5, 1-s), p1 = (1-s, 0.5, s) with s = sigmoid(8); eps = 1
    s = 1 / (1 + math.exp(-8))
    score0 = (2 * s + 1) / ((s + 0.5 + (1 - s)) + 1 + 1)
    score1 = (2 * (0.5 + s) + 1) / (((1 - s) + 0.5 + s) + 2 + 1)
    expected = 1 - (score0 + score1) / 2
    assert float(dice(_logits(), target)) == pytest.approx(expected, rel=1e-5)
    # a class absent from the target does not count in the mean
    only0 = torch.tensor([[[0, 0, 0]]])
    p0 = [s, 0.5, 1 - s]
    score = (2 * sum(p0) + 1) / (sum(p0) + 3 + 1)
    assert float(dice(_logits(), only0)) == pytest.approx(1 - score, rel=1e-5)


def test_cross_entropy_plus_dice_is_their_sum_and_weighs_a_rare_class_more():
    logits, target = _logits(), torch.tensor([[[0, 1, 1]]])
    both = float(make_loss("crossentropy_dice", torch)(logits, target))
    parts = [float(make_loss(n, torch)(logits, target)) for n in ("crossentropy", "dice")]
    assert both == pytest.approx(sum(parts), rel=1e-6)
    # one pixel of class 1 among 99 of class 0: getting it wrong costs cross-entropy 1/100
    # of a pixel's loss; with the Dice term it also costs most of class 1's overlap
    target = torch.zeros((1, 1, 100), dtype=torch.long)
    target[..., 0] = 1
    right = torch.zeros((1, 2, 1, 100))
    right[:, 0] = 4.0
    right[0, :, 0, 0] = torch.tensor([-4.0, 4.0])
    wrong = right.clone()
    wrong[0, :, 0, 0] = torch.tensor([4.0, -4.0])
    cost = {n: float(make_loss(n, torch)(wrong, target) - make_loss(n, torch)(right, target))
            for n in ("crossentropy", "crossentropy_dice")}
    assert cost["crossentropy"] == pytest.approx(0.08, abs=0.01)
    assert cost["crossentropy_dice"] > 3 * cost["crossentropy"]


def test_an_unknown_loss_names_the_parameter():
    with pytest.raises(InputError, match="^LOSS: 'lovasz' is not one of crossentropy, dice, focal"):
        make_loss("lovasz", torch)


def test_a_batch_without_any_labelled_pixel_gives_zero_not_nan():
    """A batch of chips that hold only ignored classes: every loss is finite with a zero
    gradient (cross-entropy's mean over no pixel used to be NaN and poisoned the epoch);
    cross-entropy and focal are 0, dice its constant 1."""
    torch = pytest.importorskip("torch")
    for name in ("crossentropy", "dice", "focal"):
        logits = torch.randn(2, 3, 4, 4, requires_grad=True)
        loss = make_loss(name, torch)(logits, torch.full((2, 4, 4), IGNORE))
        loss.backward()
        assert torch.isfinite(loss), name
        assert float(loss) == pytest.approx(1.0 if name == "dice" else 0.0, abs=1e-6), name
        assert torch.all(logits.grad == 0), name


def test_a_batch_only_of_a_class_weighing_zero_gives_zero_not_nan():
    """A class only the validation area holds weighs 0 (no training pixel): a validation
    batch of it alone made weighted cross-entropy 0/0 and the epoch's loss NaN."""
    torch = pytest.importorskip("torch")
    weight = torch.tensor([1.0, 0.0, 2.0])
    target = torch.ones((2, 4, 4), dtype=torch.long)
    target[0, 0] = IGNORE
    for name in ("crossentropy", "crossentropy_dice", "focal"):
        logits = torch.randn(2, 3, 4, 4, requires_grad=True)
        loss = make_loss(name, torch, weight)(logits, target)
        assert torch.isfinite(loss), name
    target[1, 1, 1] = 2  # one pixel that weighs: a real loss again
    logits = torch.randn(2, 3, 4, 4)
    got = make_loss("crossentropy", torch, weight)(logits, target)
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weight,
                                                 ignore_index=IGNORE)
    assert float(got) == pytest.approx(float(expected)) and float(got) > 0


def test_class_weights_by_pixel_share_and_its_square_root():
    """98 / 1 / 1 pixels and a class with none: inverse frequency weighs a 1% class 98x the
    common one, its square root about 9.9x; a class without training pixels weighs 0, the
    others average 1; "none" weighs nothing, and an unknown name says CLASS_WEIGHTING."""
    import numpy as np

    counts = [98, 1, 1, 0]
    inverse = class_weights(counts, "inverse_frequency")
    root = class_weights(counts, "inverse_sqrt_frequency")
    for w, ratio in ((inverse, 98.0), (root, math.sqrt(98.0))):
        assert w[1] / w[0] == pytest.approx(ratio) and w[1] == pytest.approx(w[2])
        assert w[3] == 0 and np.mean(w[:3]) == pytest.approx(1.0)
    assert class_weights(counts, "none") is None
    assert [name for name, _ in WEIGHTINGS] == ["none", "inverse_frequency",
                                                 "inverse_sqrt_frequency"]
    with pytest.raises(InputError, match="^CLASS_WEIGHTING: 'median' is not one of none, "):
        class_weights(counts, "median")


def test_the_weights_pull_harder_on_the_rare_class():
    """Two undecided pixels, one of each class: under square-root weights from 9 / 1 pixels
    the rare class's pixel gets 3x the gradient of the common one's; without, the same."""
    w = torch.tensor(class_weights([9, 1], "inverse_sqrt_frequency"), dtype=torch.float32)
    target = torch.tensor([[[0, 1]]])
    grads = []
    for weight in (None, w):
        logits = torch.zeros(1, 2, 1, 2, requires_grad=True)
        make_loss("crossentropy", torch, weight)(logits, target).backward()
        g = logits.grad[0, :, 0, :].abs().sum(dim=0)  # per pixel
        grads.append(float(g[1] / g[0]))
    assert grads[0] == pytest.approx(1.0) and grads[1] == pytest.approx(3.0)
