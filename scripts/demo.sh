#!/usr/bin/env bash
# `make demo`: the main job on the embedded sample, through qgis_process.bin as a CLI user runs it.
# Grows with each capability; today: list the provider, check the environment, rasterize labels,
# export training chips, train a small U-Net, classify with it, a random forest with its
# accuracy, and a segmentation.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo_output
mkdir -p "$OUT"
QP="qgis_process.bin"
: > "$OUT/timings.txt"
START=$SECONDS
mark() { echo "$1	$((SECONDS - START))" >> "$OUT/timings.txt"; START=$SECONDS; }

echo "==> LandLearn algorithms registered in QGIS ($("$QP" --version 2>/dev/null | grep -m1 'QGIS version' | cut -d: -f2 | xargs))"
"$QP" list 2>/dev/null | awk '/^LandLearn$/{on=1; print; next} on && /^\t/{print; next} on{exit}'

echo "==> Environment and device"
"$QP" run landlearn:diagnostics -- DEVICE=auto REPORT="$OUT/environment.json" 2>/dev/null \
  | sed -n '/^Python/,/^Device/p'

mark "environment"
echo "==> Rasterizing OpenStreetMap land-use polygons (text field 'fclass') onto Sentinel-2"
"$QP" run landlearn:rasterizelabels -- \
  INPUT_RASTER=sample_data/s2_osm_sparse/s2l1c_10bands_10m_subset.tif \
  LABELS=sample_data/s2_osm_sparse/osm_landuse_subset.gpkg CLASS_FIELD=fclass \
  OUTPUT="$OUT/s2_osm_labels.tif" 2>/dev/null | sed -n '/labelled pixels/,/^$/p'

mark "rasterize OSM polygons"
echo "==> Warping North Carolina land cover (tagged EPSG:3358) onto the Landsat grid (EPSG:32119)"
"$QP" run landlearn:rasterizelabels -- \
  INPUT_RASTER=sample_data/nc_landsat7/landsat_multiband.tif \
  LABELS=sample_data/nc_landsat7/strata.tif OUTPUT="$OUT/nc_strata_on_landsat.tif" 2>/dev/null \
  | sed -n '/labelled pixels/,/^$/p'

mark "warp strata"
echo "==> Exporting training chips (256 px, stride 128) from the OpenStreetMap polygons"
"$QP" run landlearn:exporttrainingdata -- \
  INPUT_RASTER=sample_data/s2_osm_sparse/s2l1c_10bands_10m_subset.tif \
  LABELS=sample_data/s2_osm_sparse/osm_landuse_subset.gpkg CLASS_FIELD=fclass \
  TILE_SIZE_X=256 TILE_SIZE_Y=256 STRIDE_X=128 STRIDE_Y=128 OVERWRITE=true \
  OUTPUT_FOLDER="$OUT/s2_osm_chips" 2>/dev/null | sed -n '/chips of/,/^Training data/p'

mark "export chips from OSM polygons"
echo "==> Exporting 64 px chips of North Carolina land cover and training a small U-Net (CPU, ~1 min)"
"$QP" run landlearn:exporttrainingdata -- \
  INPUT_RASTER=sample_data/nc_landsat7/landsat_multiband.tif \
  LABELS=sample_data/nc_landsat7/strata.tif TILE_SIZE_X=64 TILE_SIZE_Y=64 STRIDE_X=32 \
  STRIDE_Y=32 OVERWRITE=true OUTPUT_FOLDER="$OUT/nc_chips" 2>/dev/null | sed -n '/chips of/p'
"$QP" run landlearn:traindeeplearningmodel -- TRAINING_DATA="$OUT/nc_chips" ARCHITECTURE=unet \
  BACKBONE=resnet18 EPOCHS=8 VALIDATION_PERCENT=15 ENSEMBLE_SIZE=1 DEVICE=auto \
  OUTPUT_MODEL="$OUT/nc_unet.dlpk" 2>/dev/null \
  | sed -E 's/^[0-9]*(\.+[0-9]*)+( - done\.)?//' | sed -n '/^Learning-rate/p;/^epoch/,/^overall accuracy/p'

mark "export nc chips + train U-Net"
echo "==> Classifying the whole Landsat scene with the U-Net"
"$QP" run landlearn:classifypixels -- \
  INPUT_RASTER=sample_data/nc_landsat7/landsat_multiband.tif MODEL="$OUT/nc_unet.dlpk" \
  DEVICE=auto OUTPUT="$OUT/nc_unet_landcover.tif" OUTPUT_CONFIDENCE="$OUT/nc_unet_confidence.tif" \
  2>/dev/null | sed -E 's/^[0-9]*(\.+[0-9]*)+( - done\.)?//' | sed -n '/^Classified/,/NoData/p'

mark "classify with the U-Net"
echo "==> Random forest straight from the North Carolina training polygons, then its accuracy"
"$QP" run landlearn:trainclassifier -- MODEL_TYPE=random_forest \
  INPUT_RASTER=sample_data/nc_landsat7/landsat_multiband.tif \
  LABELS=sample_data/nc_landsat7/landsat96_polygons.shp CLASS_FIELD=id CLASS_NAME_FIELD=label \
  OUTPUT_MODEL="$OUT/nc_rf.dlpk" 2>/dev/null | sed -n '/^Cross-validation/,/^overall accuracy/p'
"$QP" run landlearn:classifypixels -- INPUT_RASTER=sample_data/nc_landsat7/landsat_multiband.tif \
  MODEL="$OUT/nc_rf.dlpk" OUTPUT="$OUT/nc_rf_landcover.tif" 2>/dev/null | sed -n '/^Classified/p'
"$QP" run landlearn:assessaccuracy -- INPUT="$OUT/nc_rf_landcover.tif" \
  LABELS=sample_data/nc_landsat7/strata.tif OUTPUT_REPORT="$OUT/nc_rf_accuracy.json" 2>/dev/null \
  | sed -E 's/^[0-9]*(\.+[0-9]*)+( - done\.)?//' | sed -n '/^overall accuracy/,/^area-weighted/p'

mark "random forest + classify + assess"
echo "==> The random forest's map refined: regions under 9 pixels merged (minimum mapping unit)"
"$QP" run landlearn:refineclassification -- INPUT_RASTER="$OUT/nc_rf_landcover.tif" \
  MIN_REGION_SIZE=9 OUTPUT="$OUT/nc_rf_refined.tif" 2>/dev/null | sed -n '/^Refined map/p'
"$QP" run landlearn:assessaccuracy -- INPUT="$OUT/nc_rf_refined.tif" \
  LABELS=sample_data/nc_landsat7/strata.tif OUTPUT_REPORT="$OUT/nc_rf_refined_accuracy.json" \
  2>/dev/null | sed -E 's/^[0-9]*(\.+[0-9]*)+( - done\.)?//' | sed -n '/^overall accuracy/p'

mark "refine + assess"
echo "==> Mean-shift segmentation of the Sentinel-2 sample (bands 4-3-2)"
"$QP" run landlearn:segment -- INPUT_RASTER=sample_data/s2_osm_sparse/s2l1c_10bands_10m_subset.tif \
  BAND_INDEXES=4 BAND_INDEXES=3 BAND_INDEXES=2 OUTPUT="$OUT/s2_segments.tif" \
  OUTPUT_POLYGONS="$OUT/s2_segments.gpkg" 2>/dev/null \
  | sed -E 's/^[0-9]*(\.+[0-9]*)+( - done\.)?//' | sed -n '/segments over/p'

mark "segment"
/usr/bin/env python3 scripts/demo_summary.py "$OUT"

cat <<MSG
==> Done. Open these in QGIS (the class names and colours load with them):
    $PWD/$OUT/s2_osm_labels.tif          over sample_data/s2_osm_sparse/s2l1c_10bands_10m_subset.tif
    $PWD/$OUT/nc_strata_on_landsat.tif   over sample_data/nc_landsat7/landsat_multiband.tif
    $PWD/$OUT/s2_osm_chips/              training chips (images/, labels/) and their statistics
    $PWD/$OUT/nc_unet_report/report.html the U-Net's training report (curves, confusion matrix)
    $PWD/$OUT/nc_unet_landcover.tif      the U-Net's land-cover map (and nc_unet_confidence.tif)
    $PWD/$OUT/nc_rf_landcover.tif        the random forest's map; nc_rf_accuracy.json its accuracy
    $PWD/$OUT/nc_rf_refined.tif          that map refined (9-pixel minimum mapping unit)
    $PWD/$OUT/s2_segments.tif            segments (mean colours) and s2_segments.gpkg (polygons)
    $PWD/$OUT/environment.json           packages and device LandLearn will use
    $PWD/$OUT/summary.md                 this run on one page: accuracy table and timings
MSG
