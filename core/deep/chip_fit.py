"""Whether the chips fit the network before any work: sizes an architecture cannot take,
and batches that BatchNorm cannot train on. Both ended as torch errors at the first
forward pass, which the toolbox reported as a bug in LandLearn."""

from __future__ import annotations

from ..errors import InputError

__all__ = ["check_batch", "check_chip_size"]


def check_chip_size(torch, model, architecture: str, shape, depth: int) -> None:
    """Chips whose sides do not divide by 2^depth: the U-Net takes them (its decoder meets
    its skips at their size); smp's other architectures refuse them at the first forward
    pass (100 px ArcGIS chips and an FPN). One chip is passed through to know."""
    side = 2 ** depth
    architecture = str(architecture).lower()  # the Python API takes smp's own spellings
    if architecture == "unet" or (shape[1] % side == 0 and shape[2] % side == 0):
        return
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(shape), device=next(model.parameters()).device))
    except RuntimeError:
        raise InputError("training_data", f"{shape[2]} x {shape[1]} px chips do not fit the "
                         f"{architecture} architecture, which needs sides that divide by "
                         f"{side} (its encoder halves them {depth} times); export chips of "
                         f"a multiple of {side} px (TILE_SIZE_X/Y), or use ARCHITECTURE "
                         "unet, which takes any size") from None
    finally:
        model.train(was)


def check_batch(batch: int, train_chips: int, shape, depth: int,
                architecture: str = "unet") -> None:
    """BatchNorm in training needs two values per channel: chips that shrink to one pixel,
    and DeepLabV3+'s image pooling (always one pixel), need two chips per batch."""
    if min(batch, train_chips) < 2 and str(architecture).lower() == "deeplabv3plus":
        raise InputError("batch_size" if batch < 2 else "training_data",
                         "DeepLabV3+ pools each chip to one pixel, where BatchNorm needs at "
                         "least 2 chips per batch; "
                         + ("set BATCH_SIZE to 2 or more" if batch < 2 else
                            "export more training chips") + ", or use another ARCHITECTURE")
    if min(batch, train_chips) < 2 and min(shape[1], shape[2]) >> depth <= 1:
        raise InputError("batch_size" if batch < 2 else "training_data",
                         f"{shape[2]} x {shape[1]} px chips shrink to one pixel in the encoder, "
                         "where BatchNorm needs at least 2 chips per batch; "
                         + ("set BATCH_SIZE to 2 or more" if batch < 2 else
                            "export more training chips") + ", or export larger chips")
