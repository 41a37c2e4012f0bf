#!/usr/bin/env bash
# Installs what LandLearn needs on Debian / Ubuntu, only what is missing (idempotent):
#  1. apt packages (QGIS 3.22+, its Python bindings, GDAL's Python, rasterio, Xvfb)
#  2. a virtual environment made with the system Python and --system-site-packages (sees
#     qgis, numpy, rasterio): $LANDLEARN_VENV, default .venv
#  3. requirements.txt (ranges that work on every supported QGIS), with numpy held at the
#     system's version (Debian's rasterio and QGIS bindings are built against it) and, on a
#     numpy 1.24 system (Debian 12, QGIS 3.22), the releases pinned in
#     constraints/numpy-1.24.txt (the last that support it); re-run only when those change
#  4. a throwaway QGIS profile ($LANDLEARN_PROFILE, default .qgis-profile) with the plugin
#     linked in and enabled
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV="${LANDLEARN_VENV:-$ROOT/.venv}"
PROFILE="${LANDLEARN_PROFILE:-$ROOT/.qgis-profile}"

APT_PACKAGES="qgis python3-qgis qgis-providers python3-gdal python3-rasterio python3-venv xvfb xauth"

missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "Missing system packages:$missing" >&2
    echo "Install them as root: apt-get install -y$missing" >&2
    exit 1
  fi
  echo "==> apt: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV (system Python, --system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi

sysnumpy=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
constraints=$(mktemp)
echo "numpy==$sysnumpy" > "$constraints"
case "$sysnumpy" in
  1.24.*) cat constraints/numpy-1.24.txt >> "$constraints" ;;
esac
stamp="$VENV/.requirements.sha256"
want=$(cat requirements.txt "$constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> pip: installing requirements for Python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])') and numpy $sysnumpy (torch is large: this takes a few minutes once)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -c "$constraints" -r requirements.txt
  # torchvision from PyPI only pairs with PyPI's own torch build; refuse a mismatched pair.
  "$VENV/bin/python" -c 'import torch, torchvision, segmentation_models_pytorch, sklearn, skops, numba, onnx, onnxruntime, distributed' \
    || { echo "The installed torch/torchvision pair does not import; see requirements.txt" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
rm -f "$constraints"

# The repo root is the plugin folder; QGIS sees it as 'landlearn' through these links.
# (left alone when right: CI sets up its QGIS 3.40 root in this checkout while the 3.22
# suite runs, and ln -sfn removes the link before it makes it again)
mkdir -p .build/pythonpath
[ "$(readlink .build/pythonpath/landlearn)" = ../.. ] || ln -sfn ../.. .build/pythonpath/landlearn
plugins="$PROFILE/profiles/default/python/plugins"
mkdir -p "$plugins"
ln -sfn "$ROOT" "$plugins/landlearn"
ini="$PROFILE/profiles/default/QGIS/QGIS3.ini"
if ! grep -qs "landlearn=true" "$ini"; then
  echo "==> enabling the plugin in the throwaway QGIS profile ($PROFILE)"
  # shellcheck source=scripts/qgis_env.sh
  . scripts/qgis_env.sh
  said=$(qgis_process.bin plugins enable landlearn 2>&1) || true  # judged by the ini below
  grep -qs "landlearn=true" "$ini" \
    || { echo "could not enable the plugin in $PROFILE; qgis_process said:" >&2
         echo "$said" | tail -20 >&2; exit 1; }
fi
