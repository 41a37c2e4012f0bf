#!/bin/bash
# GDAL's Python bindings (osgeo) for a machine that has Python, numpy and a compiler but no
# GDAL: the lent GPU machine (bench/device/run.sh). Compiles the SWIG wrappers of GDAL's
# PyPI source release against the libgdal that rasterio's manylinux wheel bundles, with the
# same release's headers, so that osgeo and rasterio share one GDAL in one process.
#   build_osgeo.sh SRC INCLUDE SITE [PYTHON]
#   SRC: the unpacked gdal-X.Y.Z sdist; INCLUDE: GDAL X.Y.Z's headers; SITE: where the
#   rasterio wheel is installed (osgeo/ is written beside it)
set -eu
SRC=$1; INC=$2; SITE=$3; PY=${4:-python3}
PYINC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$($PY -c "import numpy; print(numpy.get_include())")
SUF=$($PY -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
LIB=$(cd "$SITE/rasterio.libs" && ls libgdal-*.so.* | head -1)
mkdir -p "$SITE/osgeo"
cp "$SRC"/osgeo/*.py "$SITE/osgeo/"
pids=()
for m in gdal:cpp ogr:cpp osr:cpp gdal_array:cpp gdalconst:c gnm:cpp; do
  n=${m%%:*}; e=${m##*:}; cc=g++; [ "$e" = c ] && cc=gcc
  # DT_RPATH (not RUNPATH): libgdal's own bundled libraries are found through it too
  $cc -O1 -fPIC -shared -w -DSWIG_PYTHON_SILENT_MEMLEAK -I"$PYINC" -I"$NPINC" -I"$INC" \
      "$SRC/extensions/${n}_wrap.$e" -o "$SITE/osgeo/_${n}$SUF" "$SITE/rasterio.libs/$LIB" \
      -Wl,--disable-new-dtags,-rpath,'$ORIGIN/../rasterio.libs' &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "osgeo built against $LIB"
