"""Learning-rate range test (Smith 2015), as arcgis.learn's lr_find does before fit.

The rate grows exponentially over a few dozen batches on a throwaway copy of the model;
the chosen rate is a tenth of the rate where the smoothed loss is lowest, the usual,
slightly conservative reading of the curve.
"""

from __future__ import annotations

import copy
import math

import numpy as np


def find_learning_rate(torch, model, batches, loss_fn, device, steps: int = 60,
                       start: float = 1e-5, end: float = 1.0, progress=None):
    """Return (chosen lr, [(lr, smoothed loss)]) without touching ``model``'s weights."""
    probe = copy.deepcopy(model).to(device).train()
    opt = torch.optim.AdamW(probe.parameters(), lr=start)
    factor = (end / start) ** (1 / max(steps - 1, 1))
    history, avg, best = [], 0.0, math.inf
    for i in range(steps):
        if progress is not None and progress.is_canceled():
            break
        x, y = batches(i)
        lr = start * factor ** i
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(probe(x), y)
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        avg = 0.9 * avg + 0.1 * float(loss.detach())
        smooth = avg / (1 - 0.9 ** (i + 1))
        history.append((lr, smooth))
        best = min(best, smooth)
        if i > 5 and smooth > 4 * best:
            break
    del probe
    return choose(history), history


def choose(history: list[tuple[float, float]]) -> float:
    """A tenth of the rate at the lowest smoothed loss (fastai's classic suggestion)."""
    if len(history) < 8:
        return 1e-3
    lrs = np.array([h[0] for h in history])
    losses = np.array([h[1] for h in history])
    skip = 3  # the first few smoothed values are noise
    lowest = skip + int(np.argmin(losses[skip:]))
    return float(np.clip(lrs[lowest] / 10, 1e-4, 1e-1))
