#!/bin/bash
# Fills .device/ (git-ignored) with what bench/device/run.sh needs on the lent GPU machine,
# which has Python 3.12, torch, numpy 2 and a compiler but no GDAL, no LandLearn
# dependencies and no network: wheels, GDAL's binding sources and headers (the release
# rasterio's wheel bundles), and the shared data the benches read.
#   bash bench/device/prepare.sh        # here; then run.sh there (carry .device)
set -eu
cd "$(dirname "$0")/../.."
D=.device; GDAL=3.10.3; RASTERIO=1.4.4   # rasterio 1.4.4's wheels bundle GDAL 3.10.3; run.sh names the same GDAL
mkdir -p $D/whl $D/shared/data
plat="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
python3 -m pip download -q --no-deps $plat -d $D/whl "rasterio==$RASTERIO" affine==2.4.0 \
  cligj click-plugins dask==2026.8.0 distributed==2026.8.0 partd locket tblib==3.2.2 zict \
  tornado segmentation-models-pytorch==0.6.0 skops==0.11.0
url=$(curl -s https://pypi.org/simple/gdal/ -H "Accept: application/vnd.pypi.simple.v1+json" |
  python3 -c "import json,sys; print(next(f['url'] for f in json.load(sys.stdin)['files'] if f['filename'].lower() == 'gdal-$GDAL.tar.gz'))")
curl -sL -o $D/gdal-$GDAL.tar.gz "$url"
tmp=$(mktemp -d)
curl -sL -o $tmp/dev.deb "http://deb.debian.org/debian/pool/main/g/gdal/libgdal-dev_$GDAL+dfsg-1_amd64.deb"
dpkg -x $tmp/dev.deb $tmp/x && rm -rf $D/gdal-include && cp -r $tmp/x/usr/include/gdal $D/gdal-include
rm -rf $tmp
cp -r ../shared/data/naip_rgbn $D/shared/data/
du -sh $D
