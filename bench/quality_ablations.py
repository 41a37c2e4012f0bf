"""Ablations of bench_quality that patch LandLearn in this process only (no option of the
product does these): GroupNorm in place of BatchNorm, and a cap on the LR finder's choice.
Each is measured before anything is made a setting (BENCHMARKS.md, Map quality)."""

from __future__ import annotations


def use_group_norm() -> None:
    """Ablation only (--norm group): every BatchNorm2d of the networks LandLearn builds, for
    training and for Classify Pixels in this process, becomes a GroupNorm of about 4
    channels per group (at most 32 groups), affine as BatchNorm is. The BatchNorm refresh
    between epochs then has nothing to do."""
    import torch

    import landlearn.core.deep.models as models
    import landlearn.core.deep.train_deep_learning_model as training

    def swap(module) -> None:
        for name, child in module.named_children():
            if isinstance(child, torch.nn.BatchNorm2d):
                c = child.num_features
                setattr(module, name, torch.nn.GroupNorm(min(32, max(1, c // 4)), c))
            else:
                swap(child)

    plain = models.build_model

    def build(*args, **kwargs):
        net = plain(*args, **kwargs)
        swap(net)
        return net

    models.build_model = training.build_model = build


def cap_learning_rate(cap: float) -> None:
    """Ablation only (--lr-cap): the LR finder's choice, at most ``cap``."""
    import landlearn.core.deep.lr_finder as finder

    plain = finder.choose
    finder.choose = lambda history: min(plain(history), cap)
