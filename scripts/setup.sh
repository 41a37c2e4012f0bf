#!/usr/bin/env bash
# Installs what LandLearn needs on Debian 12 / Ubuntu, only what is missing (idempotent):
#  1. apt packages (QGIS 3.22+, its Python bindings, GDAL's Python, rasterio, Xvfb)
#  2. .venv made with the system Python and --system-site-packages (sees qgis, numpy, rasterio)
#  3. pinned pip requirements, with numpy held at the system's version (Debian's rasterio
#     and QGIS bindings are built against it), re-run only when requirements.txt changes
#  4. a throwaway QGIS profile (.qgis-profile) with the plugin linked in and enabled
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

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

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv (system Python, --system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> pip: installing pinned requirements (torch is large: this takes a few minutes once)"
  sysnumpy=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
  constraints=$(mktemp)
  echo "numpy==$sysnumpy" > "$constraints"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
      -c "$constraints" -r requirements.txt
  rm -f "$constraints"
  # torchvision from PyPI only pairs with PyPI's own torch build; refuse a mismatched pair.
  .venv/bin/python -c 'import torch, torchvision, segmentation_models_pytorch, sklearn, skops, numba' \
    || { echo "The installed torch/torchvision pair does not import; see requirements.txt" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# The repo root is the plugin folder; QGIS sees it as 'landlearn' through these links.
mkdir -p .build/pythonpath
ln -sfn ../.. .build/pythonpath/landlearn
plugins=.qgis-profile/profiles/default/python/plugins
mkdir -p "$plugins"
ln -sfn "$ROOT" "$plugins/landlearn"
if ! grep -qs "landlearn=true" .qgis-profile/profiles/default/QGIS/QGIS3.ini; then
  echo "==> enabling the plugin in the throwaway QGIS profile (.qgis-profile)"
  # shellcheck source=scripts/qgis_env.sh
  . scripts/qgis_env.sh
  qgis_process.bin plugins enable landlearn >/dev/null 2>&1
  grep -qs "landlearn=true" .qgis-profile/profiles/default/QGIS/QGIS3.ini \
    || { echo "could not enable the plugin in .qgis-profile" >&2; exit 1; }
fi
