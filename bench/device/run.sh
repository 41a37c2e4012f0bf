#!/bin/bash
# The prepared check for a lent GPU machine (device tool; see bench/device/prepare.sh):
#   run: bash bench/device/run.sh [BUDGET_S] [STEPS]   with carry [".device"]; results under $OUT
# STEPS: a comma-separated choice of tests,classify,segment,dask,dask-rf (default: all but dask-rf)
# Each step is time-boxed and skipped when the budget left cannot hold it; the log and the
# JSON results come back under $OUT even when a step fails or is killed.
set -u
BUDGET=${1:-580}; STEPS=",${2:-tests,classify,segment,dask},"; D=.device; S=/tmp/site; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
GDAL=3.10.3  # as bench/device/prepare.sh fetched it
exec > >(tee "$OUT/log.txt") 2>&1
t0=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - t0) )); }
step() { echo "=== $(( $(date +%s) - t0 )) s: $*"; }
box() {  # box SECONDS CMD...: run CMD for at most SECONDS, or the budget left (20 s kept)
  local s=$1; shift; local l=$(( $(left) - 20 )); [ "$l" -lt "$s" ] && s=$l
  if [ "$s" -lt 15 ]; then echo "skipped (budget)"; return 0; fi
  timeout "$s" "$@"; echo "exit $? (box $s s)"
}
want() { case "$STEPS" in *",$1,"*) return 0 ;; esac; return 1; }
step setup
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $S $D/whl/*.whl || exit 1
export PYTHONPATH=$S PYTHONUNBUFFERED=1
tar xzf $D/gdal-$GDAL.tar.gz -C /tmp && bash bench/device/build_osgeo.sh /tmp/gdal-$GDAL $D/gdal-include $S python3 || exit 1
export GDAL_DATA=$S/rasterio/gdal_data PROJ_DATA=$S/rasterio/proj_data
[ -e ../shared ] || ln -s "$PWD/$D/shared" ../shared
python3 -c "
from osgeo import gdal; import rasterio, torch, sklearn, numba, distributed, segmentation_models_pytorch, skops, onnxruntime
print('gdal', gdal.__version__, 'rasterio', rasterio.__version__, 'torch', torch.__version__, 'sklearn', sklearn.__version__, 'numba', numba.__version__, 'ort', onnxruntime.__version__, torch.cuda.get_device_name(0))" || exit 1
# Order and boxes from 2026-12-04's lease: that machine's cores ran single-thread work ~2x
# slower than the 2-core VM, so the CPU halves of each comparison take most of the time.
if want tests; then
  step "tests with CUDA branches and the Classify Pixels engine"
  OMP_NUM_THREADS=2 box 110 python3 -m pytest -q -p no:cacheprovider -p no:logging -p no:warnings -n 8 \
    -o addopts="--import-mode=importlib -ra" tests/core/runtime/test_device.py \
    tests/core/runtime/test_triton_gate.py tests/core/segment/test_joint_shift.py \
    tests/core/segment/test_joint_shift_jit.py tests/core/segment/test_joint_shift_triton.py \
    tests/core/segment/test_segment_mean_shift.py tests/core/deep/test_predictor.py \
    tests/core/classify/test_classify_pixels.py tests/core/classify/test_predictor.py \
    2>&1 | tail -15 | tee "$OUT/tests.txt"
fi
if want classify; then
  step "Classify Pixels end to end (bench_gpu_engine)"
  box 150 python3 bench/bench_gpu_engine.py run "$OUT/classify.json" --side 4096 --parts classify
fi
if want segment; then
  step "Segment end to end (bench_gpu_engine), joint: Triton kernel vs compiled pass"
  box 240 python3 bench/bench_gpu_engine.py run "$OUT/segment.json" --repeat 3 --parts segment \
    --methods joint --gpu-tile 4096
fi
if want dask; then
  step "Dask: U-Net on CUDA, in process vs 1 and 2 GPU workers"
  box 110 python3 bench/bench_distributed.py --side 4096 --block 1024 --scaling 1 --unet-only --device cuda | tee "$OUT/dist_cuda.txt"
fi
if want dask-rf; then
  step "Dask: random forest on the CPU, 1 vs 2 single-thread workers (cores to spare)"
  box 200 python3 bench/bench_distributed.py --side 4096 --block 1024 --scaling 1 --rf-only | tee "$OUT/dist_rf.txt"
fi
step done
