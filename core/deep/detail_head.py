"""The detail head: a U-Net whose class scores also see the input pixels themselves.

Why: smp's U-Net decoders take their finest skip from the encoder's first map, at half the
chip's resolution, and their last stage only upsamples; nothing at one-pixel scale reaches
the classifier. On nc_landsat7 (30 m) the default U-Net's map had boundary F 0.53-0.56
against the random forest's 0.685 (the forest sees exactly each pixel's spectrum). The
detail head joins the input bands to the decoder's full-resolution output and classifies
the pair with two small 3 x 3 convolutions and a 1 x 1 one. BENCHMARKS.md, "Map quality",
round 8: nc boundary F 0.556 -> 0.640 (6 seeds; OA 0.717 -> 0.702 and macro F1 0.382 ->
0.374, a small cost), macro F1 on the sparse-label sets slovenia 0.249 -> 0.294, nb 0.321
-> 0.325, enmap 0.352 -> 0.510 (3 seeds, one session): where polygons label pixels, not
scenes, the pixel's own spectrum is much of what there is to learn.

The module keeps smp's top-level names (encoder, decoder, segmentation_head), so a
package's tensors, the pretrained-weights loader and the BatchNorm refresh treat it as
any smp network; only the head's tensors differ.
"""

from __future__ import annotations

import inspect
from functools import cache

from ..runtime.deps import require

__all__ = ["DETAIL_WIDTH", "HEAD_INPUT", "decoder_columns", "with_detail_head"]

DETAIL_WIDTH = 32  # channels of the head's two 3 x 3 convolutions
HEAD_INPUT = "segmentation_head.0.weight"  # its first convolution: [decoder, bands] columns


@cache
def _detail_class():
    torch = require("torch")
    nn = torch.nn

    class DetailUnet(nn.Module):
        """encoder -> decoder (full resolution) -> [decoder output, input] -> classes."""

        def __init__(self, net, in_channels: int, classes: int):
            super().__init__()
            self.encoder, self.decoder = net.encoder, net.decoder
            last = net.segmentation_head[0].in_channels  # the decoder's output channels
            self.decoder_channels = last
            self.segmentation_head = nn.Sequential(
                nn.Conv2d(last + in_channels, DETAIL_WIDTH, 3, padding=1, bias=False),
                nn.BatchNorm2d(DETAIL_WIDTH), nn.ReLU(inplace=True),
                nn.Conv2d(DETAIL_WIDTH, DETAIL_WIDTH, 3, padding=1, bias=False),
                nn.BatchNorm2d(DETAIL_WIDTH), nn.ReLU(inplace=True),
                nn.Conv2d(DETAIL_WIDTH, classes, 1))
            # smp 0.5 and later take the encoder's maps as one list; earlier as arguments
            params = inspect.signature(net.decoder.forward).parameters.values()
            self.spread = any(p.kind is p.VAR_POSITIONAL for p in params)

        def forward(self, x):
            features = self.encoder(x)
            out = self.decoder(*features) if self.spread else self.decoder(features)
            return self.segmentation_head(torch.cat([out, x], 1))

    return DetailUnet


def decoder_columns(model) -> int | None:
    """How many of the detail head's first input columns are the decoder's (the rest are
    the input bands), or None for a network without the detail head."""
    return model.decoder_channels if isinstance(model, _detail_class()) else None


def with_detail_head(net, in_channels: int, classes: int):
    """``net`` (an smp U-Net or U-Net++, untrained) with the detail head in place of its
    segmentation head; its encoder and decoder are shared, not copied."""
    return _detail_class()(net, in_channels, classes)
