"""Will a training step fit? The memory one batch of chips takes to train on the CPU, against
what the system has free, checked before the first epoch.

On a GPU torch says when it runs out (caught, and the batch named); on the CPU the kernel
kills the process with no message: a BATCH_SIZE of 64 chips of 512 px asks some 30 GB of
a U-Net step. The bytes per pixel of a batch are measured (bench/bench_activation_memory.py
--train: a step's peak growth from a batch of one 256 px chip to eight, forward, loss,
backward and an AdamW step, float32) and taken at their low end, so a step that fits is
never refused.
"""

from __future__ import annotations

from ..errors import InputError
from ..runtime.free_memory import available_memory

__all__ = ["BAND_BYTES_PER_PX", "DETAIL_HEAD_STEP_BYTES_PER_PX", "STEP_BYTES_PER_PX",
           "check_step_memory"]

# 70% of the least measured over resnet18/50, efficientnet-b0 and mobilenet_v2 (rounded down
# to tens; BENCHMARKS.md, "memory of a network pass"); DeepLabV3+ (not measurable at a
# batch of one) and architectures not listed take the least of them
STEP_BYTES_PER_PX = {
    "unet": 1180, "unetplusplus": 2400, "fpn": 670, "pspnet": 520, "linknet": 1180,
    "manet": 1550,
}


# what each band past the 4 the table was measured with adds per pixel of a batch: the
# batch itself in float32 (it must be held), under the 5.0 (U-Net) and 7.5 (FPN) B measured
# from 4 to 224 bands (bench_activation_memory.py --train --bands). A 224-band chip's step
# was counted as a 4-band one's: some 60% of a U-Net's, 170% of an FPN's left out.
BAND_BYTES_PER_PX = 4

# the detail head (DETAIL_HEAD, the default since round 8) at full resolution: a U-Net
# resnet18 step took 2502 B/px with it, 1697 without; 70% of the difference. Not counted
# before stop 72: the default network's step was taken for some 25% less than it is.
DETAIL_HEAD_STEP_BYTES_PER_PX = 560


def step_bytes(architecture: str, batch: int, shape, detail_head: bool = False) -> int:
    per_px = STEP_BYTES_PER_PX.get(str(architecture).lower(), min(STEP_BYTES_PER_PX.values()))
    per_px += BAND_BYTES_PER_PX * max(0, int(shape[0]) - 4)
    per_px += DETAIL_HEAD_STEP_BYTES_PER_PX if detail_head else 0
    return int(batch) * int(shape[1]) * int(shape[2]) * per_px


def check_step_memory(architecture: str, batch: int, shape, device, explicit: bool,
                      progress, detail_head: bool = False) -> int:
    """``batch`` (an automatic one lowered to fit, never under two chips), or an InputError
    before training where a CPU training step of ``batch`` chips (``shape``: bands, height,
    width; ``detail_head``: the network has one) cannot fit in the memory available, naming
    BATCH_SIZE and what fits, or the chips' size where even two do not."""
    if getattr(device, "type", "cpu") != "cpu":
        return batch
    free = available_memory(None)
    if free is None:
        progress.info("the free memory of this system is not known: the training step's "
                      "memory is not checked")
        return batch
    need = step_bytes(architecture, batch, shape, detail_head)
    if need <= free[0]:
        return batch
    fits = free[0] // max(1, step_bytes(architecture, 1, shape, detail_head))
    if not explicit and fits >= 2:
        progress.info(f"batch lowered to {fits} chips: more would not fit in the "
                      f"{free[0] / 1e9:.1f} GB {free[1]}")
        return int(fits)
    what = f"batches of {batch} chips of {shape[2]} x {shape[1]} px"
    advice = (f"set BATCH_SIZE to at most {fits}" if fits >= 2 else
              "export smaller chips (TILE_SIZE in Export Training Data): not even two of "
              "these fit")
    raise InputError("batch_size" if fits >= 2 else "training_data",
                     f"training on {what} takes about {need / 1e9:.1f} GB on the CPU, and "
                     f"there are {free[0] / 1e9:.1f} GB {free[1]}; {advice}, or train on a "
                     "GPU (DEVICE)")
