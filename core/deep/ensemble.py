"""Several trained networks as one: what ENSEMBLE_SIZE on Train Deep Learning Model builds.

Why: on nc_landsat7 one U-Net trained from another seed scored OA 0.569 to 0.705 with the
same chips and defaults, and averaging three seeds beat their mean in every run measured
(BENCHMARKS.md "Ablations, round 3"). Averaging inside one module keeps everything
downstream unchanged: one state dict in the package, one ONNX graph, one predictor.

The module returns log class probabilities, log(mean of the members' softmax), computed as
a log-sum-exp of log-softmaxes, which stays finite where a member is certain. Whatever
takes a softmax of a network's output (the predictor, the ONNX wrapper, the loss) then
sees exactly the members' mean probability.
"""

from __future__ import annotations

import math
from functools import cache

from ..runtime.deps import require

__all__ = ["MAX_MEMBERS", "ensemble", "first_member", "member_count"]

MAX_MEMBERS = 8  # each member is a whole network: 8 resnet34 U-Nets are ~0.8 GB of weights


@cache
def _ensemble_class():
    torch = require("torch")

    class Ensemble(torch.nn.Module):
        """Members' class probabilities averaged; output: their log."""

        def __init__(self, members):
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x):
            logp = torch.stack([m(x).log_softmax(1) for m in self.members])
            return torch.logsumexp(logp, 0) - math.log(len(self.members))

    return Ensemble


def ensemble(members: list):
    """One module averaging ``members`` (2 or more networks of the same classes)."""
    if not 2 <= len(members) <= MAX_MEMBERS:
        raise ValueError(f"an ensemble holds 2 to {MAX_MEMBERS} networks, not {len(members)}")
    return _ensemble_class()(members)


def member_count(model) -> int:
    """How many networks ``model`` averages (1 for a plain network)."""
    return len(model.members) if isinstance(model, _ensemble_class()) else 1


def first_member(model):
    """The first network of an ensemble, or ``model`` itself: what a package's weights
    give as pretrained weights to a single new network."""
    return model.members[0] if member_count(model) > 1 else model
