"""Map quality: every model kind on the same labels, scored on the same held-out pixels.

What a user gets without tuning: Export Training Data and Train Deep Learning Model with
their defaults (automatic chip size, TILE_SIZE_X/Y = 0: 256 px on large labelled areas,
smaller on small ones; STRIDE_X/Y = 0: half a chip, a quarter on small labelled
areas; U-Net resnet34 with the detail head, 20 epochs, LR finder), Train Classifier
with its defaults (random forest 100 trees / RBF SVM, 500 samples per class), then Classify Pixels with
OUTPUT_PROBABILITIES, as a user runs it. Sets (../shared/data):

- nc: train on the west half of strata.tif, score the east half wall to wall;
- s2: OSM polygons split 80/20 by polygon (seeded), scored on the held-out polygons;
- slovenia: lulc polygons split 80/20 by polygon, scored on lulc.tif outside the
  training polygons (wall to wall there);
- nb: Niveau_3 polygons on the 2of2 aerial image split 80/20 by polygon;
- enmap: the 18 EnMAP tiles (32 px, 224 bands) mosaicked; its train and validation file
  lists' labels train, its test list's labels score.

Per model: OA, macro F1, kappa, per-class F1, the boundary F-score within 1 px (wall-to-
wall sets only: sparse polygons have no reference boundaries between classes), the
expected calibration error of the confidence on the held-out pixels, raw and as
calibrated by the package, and the time to train and to classify. Seeds vary the models'
training, not the split.

"unet64" is the same U-Net on 64 px chips with stride 32 (the demo's export settings; before
the automatic chip size, 256 px chips left no training chip outside the validation blocks
on small areas: nc's west half is 245 x 443 px).

    python bench/bench_quality.py [--sets nc,s2,slovenia,nb,enmap] [--models unet,unet64,rf,svm]
                                  [--seeds 3] [--train loss=focal] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SAMPLE, SHARED, split_osm_polygons, write_section  # noqa: E402
from quality_ablations import cap_learning_rate, use_group_norm, use_residual_detail_head  # noqa: E402
from quality_score import (  # noqa: E402
    Failed,
    Run,
    as_names,
    ensemble,
    prior_corrected,
    prior_em,
    score,
)

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data  # noqa: E402
from landlearn.core.classical.neighbourhood import Neighbourhood, parse_sizes  # noqa: E402
from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical  # noqa: E402
from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model  # noqa: E402
from landlearn.core.errors import InputError  # noqa: E402
from landlearn.core.geo.classes import read_class_names_file  # noqa: E402
from landlearn.core.geo.extent import Extent  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster  # noqa: E402


@dataclass
class QualitySet:
    key: str
    title: str
    image: str
    labels: LabelConfig  # training labels (export and Train Classifier)
    extent: Extent | None  # training extent
    truth: np.ndarray  # held-out class names on the image grid, "" = not scored
    wall_to_wall: bool
    tile: int


def burnt(image: str, labels: LabelConfig, out: Path) -> np.ndarray:
    """``labels`` as class names on the image grid ("" where none)."""
    res = write_label_raster(LabelRasterConfig(image, labels, str(out)))
    with rasterio.open(out) as ds:
        return as_names(ds.read(1), {c.value: c.name for c in res.classes})


def split_by_polygon(src: str, field: str, tmp: Path, stem: str, share: float = 0.2,
                     seed: int = 0) -> tuple[str, str]:
    """The polygons of ``src`` split by polygon (seeded): (train, test) GeoPackages."""
    from osgeo import ogr

    ds = ogr.Open(src)
    layer = ds.GetLayer(0)
    rng = np.random.default_rng(seed)
    drv = ogr.GetDriverByName("GPKG")
    outs = {}
    for part in ("train", "test"):
        o = drv.CreateDataSource(str(tmp / f"{stem}_{part}.gpkg"))
        lyr = o.CreateLayer(stem, layer.GetSpatialRef(), ogr.wkbMultiPolygon)
        lyr.CreateField(ogr.FieldDefn(field, ogr.OFTString))
        outs[part] = (o, lyr)
    for feat in layer:
        part = "test" if rng.random() < share else "train"
        f = ogr.Feature(outs[part][1].GetLayerDefn())
        f.SetField(field, str(feat.GetField(field)))
        f.SetGeometry(ogr.ForceToMultiPolygon(feat.GetGeometryRef().Clone()))
        outs[part][1].CreateFeature(f)
    outs = None  # noqa: F841 - closes both
    return str(tmp / f"{stem}_train.gpkg"), str(tmp / f"{stem}_test.gpkg")


def _tile(image: str) -> int:
    with rasterio.open(image) as ds:
        side = min(ds.width, ds.height)
    return int(min(256, 2 ** int(np.log2(side))))


def nc_set(tmp: Path) -> QualitySet:
    nc = SHARED / "nc_landsat7"
    image, strata = str(nc / "landsat_multiband.tif"), str(nc / "strata.tif")
    names = read_class_names_file(str(SAMPLE / "nc_landsat7" / "strata_classes.txt"))
    labels = LabelConfig(strata, class_names=names)
    with rasterio.open(image) as ds:
        half, b = ds.width // 2, ds.bounds
        xmid = ds.transform.c + half * ds.transform.a
        nodata = np.all(ds.read() == ds.nodata, axis=0)
    truth = burnt(image, labels, tmp / "nc_truth.tif")
    truth[:, :half] = ""
    truth[nodata] = ""
    return QualitySet("nc", "nc_landsat7: west half of strata.tif -> east half, wall to wall",
                      image, labels, Extent(b.left, b.bottom, xmid, b.top), truth, True,
                      _tile(image))


def s2_set(tmp: Path) -> QualitySet:
    image = str(SHARED / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    train, test = split_osm_polygons(tmp)
    truth = burnt(image, LabelConfig(str(test), class_field="fclass"), tmp / "s2_truth.tif")
    # OSM polygons overlap (areas mapped twice, one in each half): 7,670 of the 83,213
    # held-out pixels were training pixels too, scored as if unseen
    truth[burnt(image, LabelConfig(str(train), class_field="fclass"),
                tmp / "s2_train_mask.tif") != ""] = ""
    return QualitySet("s2", "s2_osm_sparse: OSM polygons 80/20 by polygon", image,
                      LabelConfig(str(train), class_field="fclass"), None, truth, False,
                      _tile(image))


def slovenia_set(tmp: Path) -> QualitySet:
    sl = SHARED / "slovenia_s2"
    image = str(sl / "s2_l1c_reference_scene_2.tif")
    train, _ = split_by_polygon(str(sl / "lulc_polygons.gpkg"), "LULC_NAME", tmp, "slo")
    labels = LabelConfig(train, class_field="LULC_NAME")
    from osgeo import ogr

    ids, src = {}, ogr.Open(str(sl / "lulc_polygons.gpkg"))  # the layer dies with its source
    for f in src.GetLayer(0):
        ids[int(f.GetField("LULC_ID"))] = str(f.GetField("LULC_NAME"))
    with rasterio.open(sl / "lulc.tif") as ds:
        lulc = ds.read(1)
    lut = np.array([""] * 256, dtype=object)
    for v, n in ids.items():
        lut[v] = n
    truth = lut[lulc]
    inside = burnt(image, labels, tmp / "slo_train_mask.tif") != ""
    truth[inside] = ""
    return QualitySet("slovenia", "slovenia_s2: lulc polygons 80/20 by polygon -> lulc.tif "
                      "outside the training polygons", image, labels, None, truth, True,
                      _tile(image))


def nb_set(tmp: Path) -> QualitySet:
    nb = SHARED / "nb_aerial"
    image = str(nb / "23322E759967N_clipped_1m_2of2.tif")
    train, test = split_by_polygon(str(nb / "BakerLake_2017_clipped.gpkg"), "Niveau_3", tmp, "nb")
    truth = burnt(image, LabelConfig(test, class_field="Niveau_3"), tmp / "nb_truth.tif")
    truth[burnt(image, LabelConfig(train, class_field="Niveau_3"),  # none overlap today
                tmp / "nb_train_mask.tif") != ""] = ""
    return QualitySet("nb", "nb_aerial 2of2 (0.5 m RGB): Niveau_3 polygons 80/20 by polygon",
                      image, LabelConfig(train, class_field="Niveau_3"), None, truth, False,
                      _tile(image))


ENMAP_CLASSES = {1: "roof", 2: "pavement", 3: "low vegetation", 4: "tree", 5: "soil",
                 6: "water"}


def _enmap_tiles(folder: Path, listing: str) -> list[Path]:
    lines = (folder / listing).read_text().split()[1:]  # "image,mask" header
    return [folder / line.split(",")[1] for line in lines]


def enmap_set(tmp: Path) -> QualitySet:
    """The 32 px tiles mosaicked (a VRT); train + validation tiles' labels train, the test
    tiles' labels score (the image under the test tiles is seen unlabelled, as elsewhere)."""
    from osgeo import gdal

    folder = SHARED / "enmap_potsdam"
    image = str(tmp / "enmap_mosaic.vrt")
    gdal.BuildVRT(image, sorted(str(p) for p in (folder / "images").glob("*.tif"))).FlushCache()
    with rasterio.open(image) as ds:
        profile = dict(driver="GTiff", width=ds.width, height=ds.height, count=1,
                       dtype="uint8", crs=ds.crs, transform=ds.transform, nodata=0)
        grid = ds.transform

    def burn(tiles: list[Path]) -> np.ndarray:
        out = np.zeros((profile["height"], profile["width"]), np.uint8)
        for t in tiles:
            with rasterio.open(t) as ds:
                col, row = ~grid * (ds.transform.c, ds.transform.f)
                c, r = int(round(col)), int(round(row))
                out[r:r + ds.height, c:c + ds.width] = ds.read(1)
        return out

    train = burn(_enmap_tiles(folder, "train_files.csv")
                 + _enmap_tiles(folder, "validation_files.csv"))
    with rasterio.open(tmp / "enmap_train_labels.tif", "w", **profile) as ds:
        ds.write(train, 1)
    truth = as_names(burn(_enmap_tiles(folder, "test_files.csv")), ENMAP_CLASSES)
    return QualitySet("enmap", "enmap_potsdam (224 bands, 30 m): train + validation tiles -> "
                      "test tiles", image, LabelConfig(str(tmp / "enmap_train_labels.tif"),
                                                       class_names=ENMAP_CLASSES),
                      None, truth, False, 32)


SETS = {"nc": nc_set, "s2": s2_set, "slovenia": slovenia_set, "nb": nb_set, "enmap": enmap_set}


def parse_overrides(text: str) -> dict:
    """'loss=focal,epochs=40' -> TrainConfig fields (values read as Python literals)."""
    import ast

    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


CHIP_SIZES: dict = {}  # (set, model) -> the chip side exported
NEIGHBOURHOOD = Neighbourhood((3, 7, 15))  # --neighbourhood: the rf_n and svm_n models'
TRAIN_OVERRIDES: dict = {}  # --train: an ablation of the deep models' training settings
EXPORT_OVERRIDES: dict = {}  # --export: an ablation of their chips (e.g. the stride)


def chip_dir(qs: QualitySet, model: str, tmp: Path) -> tuple[int, Path]:
    """(chip side asked of Export, 0 = its automatic size; the chips' folder)."""
    tile = 0 if model == "unet" else min(qs.tile, 64)
    return tile, tmp / f"{qs.key}_chips{tile or 'auto'}"


def exported_chips(qs: QualitySet, model: str, tmp: Path) -> Path:
    """The deep model's chip folder, exported on first use (shared by the seeds; also
    bench_epochs')."""
    tile, chips = chip_dir(qs, model, tmp)
    if not chips.exists():
        done = export_training_data(ExportConfig(
            qs.image, qs.labels, str(chips), extent=qs.extent,
            **{"tile_size_x": tile, "tile_size_y": tile, "stride_x": tile // 2,
               "stride_y": tile // 2, **EXPORT_OVERRIDES}))
        CHIP_SIZES[qs.key, model] = (done.description.tile_size[0],
                                      done.description.stride[0])
    return chips


def train(qs: QualitySet, model: str, seed: int, tmp: Path) -> tuple[str, float]:
    package = str(tmp / f"{qs.key}_{model}_{seed}.dlpk")
    t0 = time.perf_counter()
    if model.startswith("unet"):
        chips = exported_chips(qs, model, tmp)
        t0 = time.perf_counter()  # the export is shared by the seeds: not counted
        # a package's networks come from seeds seed .. seed + ENSEMBLE_SIZE - 1: stepped so
        # that two 'seeds' share no network (their spread would read too small)
        size = TRAIN_OVERRIDES.get("ensemble_size", TrainConfig.ensemble_size)
        result = train_model(TrainConfig((str(chips),), package, device="cpu",
                                         seed=seed * size, **TRAIN_OVERRIDES))
        print(f"{qs.key} {model} seed {seed}: best epoch {result.best_epoch} of "
              f"{len(result.history)} run", flush=True)
    else:
        # rf_n, svm_n: with the neighbourhood features of --neighbourhood
        kind, _, hood = model.partition("_")
        train_classical(ClassicalConfig(qs.image, qs.labels, package, extent=qs.extent,
                                        model_type={"rf": "random_forest", "svm": "svm"}[kind],
                                        seed=seed, neighbourhood=NEIGHBOURHOOD if hood
                                        else Neighbourhood()))
    return package, time.perf_counter() - t0


def _ms(values) -> str:
    v = np.array(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def report(results: dict, args, sets: dict) -> str:
    import torch

    lines = ["## Map quality: every model on the same labels (issue 19)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} "
             f"CPUs, no GPU; torch {torch.__version__}",
             f"- Command: `.venv/bin/python bench/bench_quality.py --sets {args.sets} --models "
             f"{args.models} --seeds {args.seeds}"
             + (f" --first-seed {args.first_seed}" if args.first_seed else "")
             + (f" --train {args.train}" if args.train else "")
             + (f" --export {args.export}" if args.export else "")
             + (" --tta" if args.tta else "") + (" --ensemble" if args.ensemble else "")
             + (" --norm group" if args.norm == "group" else "")
             + (f" --lr-cap {args.lr_cap}" if args.lr_cap else "")
             + (" --detail-residual" if args.detail_residual else "")
             + (f" --neighbourhood {args.neighbourhood}"
                if any(m.endswith("_n") for m in args.models.split(",")) else "")
             + " --write BENCHMARKS.md`",
             "- Defaults as a user gets them: U-Net resnet34 with the detail head, encoder "
             "depth fitted to the chips (256 px: 5, 64 px: 4, 32 px: 3), 20 epochs, LR "
             "finder, early stopping 5, automatic chip size and stride (here: "
             + ", ".join(f"{k} {v} px stride {s}" for (k, m), (v, s) in sorted(CHIP_SIZES.items())
                         if m == "unet") + "); "
             "random forest 100 trees and RBF SVM, 500 samples per class. Mean ± sd over "
             f"{args.seeds} seed(s) of the models' training; the split is fixed.",
             "- ECE: expected calibration error (15 bins) of OUTPUT_PROBABILITIES' maximum on "
             "the held-out pixels, raw and as calibrated by the package's temperature.", ""]
    for key, runs in results.items():
        qs = sets[key]
        lines += [f"### {qs.title}", "",
                  "| model | OA | macro F1 | kappa | boundary F (1 px) | ECE raw | ECE "
                  "calibrated | T | train s | classify s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for model in _models(runs):
            failed = [r for r in runs if r.model == model and isinstance(r, Failed)]
            rs = [r for r in runs if r.model == model and isinstance(r, Run)]
            if failed:
                lines.append(f"| {model} | fails ({len(failed)} of {args.seeds} seeds): "
                             f"{failed[0].message} |||||||||")
            if not rs:
                continue
            bf = _ms([r.boundary for r in rs]) if rs[0].boundary is not None else "-"
            lines.append(f"| {model} | {_ms([r.acc.overall for r in rs])} | "
                         f"{_ms([r.acc.macro_f1 for r in rs])} | {_ms([r.acc.kappa for r in rs])} "
                         f"| {bf} | {_ms([r.ece_raw for r in rs])} | {_ms([r.ece_cal for r in rs])} "
                         f"| {np.mean([r.temperature for r in rs]):.2f} | "
                         f"{np.mean([r.train_s for r in rs]):.0f} | "
                         f"{np.mean([r.classify_s for r in rs]):.1f} |")
        done = [r for r in runs if isinstance(r, Run)]
        if not done:
            continue
        names = done[0].acc.names
        lines += ["", "Per-class F1 (mean over seeds; support = held-out pixels):", "",
                  "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
                  "| support | " + " | ".join(str(int(s)) for s in done[0].acc.support) + " |"]
        for model in _models(done):
            rs = [r for r in done if r.model == model and r.acc.names == names]
            if rs:
                f1 = np.mean([r.acc.f1 for r in rs], axis=0)
                lines.append(f"| {model} | " + " | ".join(f"{v:.2f}" for v in f1) + " |")
        lines.append("")
    return "\n".join(lines)


def _print(key: str, run: Run) -> None:
    print(f"{key} {run.model} seed {run.seed}: OA {run.acc.overall:.3f} macro F1 "
          f"{run.acc.macro_f1:.3f} kappa {run.acc.kappa:.3f} boundary "
          f"{run.boundary} ECE {run.ece_raw:.3f}->{run.ece_cal:.3f} "
          f"(T {run.temperature:.2f}) train {run.train_s:.0f} s", flush=True)


def _models(runs: list) -> list[str]:
    """The rows' model names in the order they ran (plain, +tta, ensembles)."""
    return list(dict.fromkeys(r.model for r in runs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="nc,s2,slovenia,nb,enmap")
    ap.add_argument("--models", default="unet,unet64,rf,svm")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from this one on")
    ap.add_argument("--train", default="", help="deep training overrides for an ablation, "
                    "e.g. loss=focal,class_weighting=inverse_frequency")
    ap.add_argument("--export", default="", help="chip export overrides for an ablation, "
                    "e.g. stride_x=16,stride_y=16")
    ap.add_argument("--tta", action="store_true", help="also classify each deep model with "
                    "TEST_TIME_AUGMENTATION (rows model+tta, the same trained models)")
    ap.add_argument("--ensemble", action="store_true", help="also score the seeds' deep models "
                    "as one ensemble (their calibrated probabilities averaged)")
    ap.add_argument("--norm", choices=("batch", "group"), default="batch",
                    help="group: an ablation with GroupNorm in place of BatchNorm")
    ap.add_argument("--detail-residual", action="store_true", help="an ablation: smp's own "
                    "head kept, a detail head's scores (starting at zero) added to it")
    ap.add_argument("--lr-cap", type=float, help="an ablation: the LR finder's choice capped")
    ap.add_argument("--prior-tau", default="", help="also score each deep model post hoc with "
                    "its probabilities divided by the training class shares ** tau, e.g. 0.5,1")
    ap.add_argument("--prior-em", action="store_true", help="also score each deep model "
                    "post hoc moved to the mapped area's class shares estimated by EM "
                    "(Saerens et al. 2002)")
    ap.add_argument("--neighbourhood", default="3,7,15:mean_std", help="the rf_n and svm_n "
                    "models' NEIGHBOURHOOD_SIZES:NEIGHBOURHOOD_STATISTICS")
    ap.add_argument("--write")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (chips, "
                    "packages, maps: GBs on s2) for analysis; deleted otherwise")
    args = ap.parse_args()
    if args.norm == "group":
        use_group_norm()
    if args.detail_residual:
        use_residual_detail_head()
    if args.lr_cap:
        cap_learning_rate(args.lr_cap)
    taus = [float(t) for t in args.prior_tau.split(",") if t]
    global NEIGHBOURHOOD
    sizes, _, stats = args.neighbourhood.partition(":")
    NEIGHBOURHOOD = Neighbourhood(parse_sizes(sizes), stats or "mean_std")
    TRAIN_OVERRIDES.update(parse_overrides(args.train))
    EXPORT_OVERRIDES.update(parse_overrides(args.export))
    tmp = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    sets, results = {}, {}
    for key in args.sets.split(","):
        (tmp / key).mkdir()
        qs = sets[key] = SETS[key](tmp / key)
        results[key] = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for model in args.models.split(","):
                try:
                    package, train_s = train(qs, model, seed, tmp / key)
                except InputError as exc:
                    results[key].append(Failed(model, seed, str(exc)))
                    print(f"{key} {model} seed {seed}: fails: {exc}", flush=True)
                    continue
                for tta in (False, True) if args.tta and model.startswith("unet") else (False,):
                    run = score(qs, model, seed, package, tmp / key, train_s, tta=tta)
                    results[key].append(run)
                    _print(key, run)
                    if taus and model.startswith("unet") and not tta:
                        for adjusted in prior_corrected(qs, run, chip_dir(qs, model,
                                                                          tmp / key)[1], taus):
                            results[key].append(adjusted)
                            _print(key, adjusted)
                    if args.prior_em and model.startswith("unet") and not tta:
                        adjusted = prior_em(qs, run, chip_dir(qs, model, tmp / key)[1])
                        results[key].append(adjusted)
                        _print(key, adjusted)
        if args.ensemble:
            for model in args.models.split(","):
                for suffix in ("", "+tta"):
                    members = [r for r in results[key] if isinstance(r, Run)
                               and r.model == model + suffix]
                    if len(members) >= 2 and model.startswith("unet"):
                        results[key].append(ensemble(qs, f"{model}{suffix} x{len(members)}",
                                                     members))
                        _print(key, results[key][-1])
    text = report(results, args, sets)
    print(text)
    if args.write:
        write_section(Path(args.write), text, "bench_quality")
    if args.keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
