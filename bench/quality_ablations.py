"""Ablations of bench_quality that patch LandLearn in this process only (no option of the
product does these): GroupNorm in place of BatchNorm, a cap on the LR finder's choice, and
a residual form of the detail head.
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


def use_residual_detail_head(width: int = 32) -> None:
    """Ablation only (--detail-residual): in place of the product's detail head (DETAIL_HEAD,
    deep.detail_head), smp's own head is kept and a head of the same shape over [decoder
    output, input bands] adds its scores, its last layer starting at zero, so training
    starts from the plain U-Net. Round 8 measured both (BENCHMARKS.md). Its packages say
    detail_head and version 3 but hold this module's own tensor names, so they load only in
    a process with this patch (the benchmark's own)."""
    import torch
    from torch import nn

    import landlearn.core.deep.models as models
    import landlearn.core.deep.predictor as predictor
    import landlearn.core.deep.train_deep_learning_model as training

    class ResidualDetail(nn.Module):
        def __init__(self, net, in_channels: int, classes: int):
            super().__init__()
            self.plain = net.segmentation_head
            net.segmentation_head = nn.Identity()
            self.net = net
            self.head = nn.Sequential(
                nn.Conv2d(self.plain[0].in_channels + in_channels, width, 3, padding=1,
                          bias=False),
                nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, classes, 1))
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

        def forward(self, x):
            out = self.net(x)
            return self.plain(out) + self.head(torch.cat([out, x], 1))

    plain = models.build_model

    def build(architecture, backbone, in_channels, classes, parameter=None, encoder_depth=5,
              members=1, detail_head=False):
        if members > 1:
            raise SystemExit("--detail-residual builds single networks only (its packages "
                             "load in this process only); leave ENSEMBLE_SIZE at 1")
        net = plain(architecture, backbone, in_channels, classes, parameter, encoder_depth)
        return ResidualDetail(net, in_channels, classes)

    models.build_model = training.build_model = predictor.build_model = build
