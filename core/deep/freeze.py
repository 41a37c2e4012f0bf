"""FREEZE: a pretrained encoder kept as it is while the decoder learns (arcgis.learn's
``freeze``, on by default there for its ImageNet backbones).

With few labelled chips a pretrained encoder fine-tuned end to end can forget what it knew
in a few epochs; frozen, only the decoder and head (and, here, the first convolution) learn,
which also makes an epoch cheaper. The first convolution stays trainable: it reads this
raster's bands, which band matching made from the checkpoint's filters (picked per band,
the mean filter for bands it does not know, rescaled), so it is the part of the encoder
that fits this data least. The encoder's BatchNorm statistics are still re-estimated on the
training chips (batches.refresh_norm_statistics): that adapts the encoder to the new
sensor's value ranges without changing a weight.
"""

from __future__ import annotations

__all__ = ["freeze_encoder"]


def freeze_encoder(model, loaded: set | None = None) -> str:
    """Stop gradients to ``model``'s encoder but its first convolution; return the log's
    note (how many weights stay fixed). ``loaded``: the tensor names the checkpoint gave
    (pretrained.load_weights takes an encoder with 90% of them): the others are random
    and keep learning, not fixed at random for good."""
    params = list(model.named_parameters())
    first = next((n for n, p in params if n.startswith("encoder.") and p.ndim == 4), None)
    fixed, fresh = 0, 0
    for name, p in params:
        if name.startswith("encoder.") and name != first:
            if loaded is not None and name not in loaded:
                fresh += 1
                continue
            p.requires_grad_(False)
            fixed += p.numel()
    total = sum(p.numel() for _, p in params)
    return (f"encoder frozen (FREEZE): {fixed / 1e6:.1f}M of {total / 1e6:.1f}M weights kept "
            "as pretrained; the first convolution (it reads this raster's bands), the "
            "decoder and the head learn" + (
                f", and {fresh} encoder tensor(s) the checkpoint lacked" if fresh else ""))
