"""What a trained deep model's package says about itself (.emd) and how it is saved."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from ..errors import Cancelled, MissingDependency
from ..geo.grid import crs_units
from ..model_package.format import FORMAT, package_version, write_package
from ..model_package.onnx_graph import onnx_description
from .onnx_export import NotExportable, export_onnx, onnx_difference, spread_like
from .onnx_quantize import (
    AGREEMENT_FLOOR,
    AGREEMENT_WARNING,
    INT8_FILE,
    quantize_chips,
    raw_chips,
)
from .train_report import build_report

ONNX_FILE = "model.onnx"
ONNX_TOLERANCE = 1e-3  # largest difference in class probability the graph may show


def recommended_padding(tile: tuple[int, int]) -> int:
    """Context to discard at tile edges when classifying: an eighth of the tile, at least 16."""
    return max(16, min(tile) // 8)


def model_emd(config, data, values, result) -> dict:
    classes = [c for c in data.classes if c.value in values]
    acc = result.accuracy
    members = len(result.members) or 1
    emd = {
        "Framework": "PyTorch",
        "ModelConfiguration": "LandLearn",
        "ModelType": "ImageClassification",
        "ModelFile": "",
        "ImageHeight": data.tile_size[1],
        "ImageWidth": data.tile_size[0],
        # ArcGIS's 0-based bands of the raster a model reads (LandLearn reads source_bands;
        # [0, 1, 2, 3] was written for bands 3, 2, 1, 7: deep-learning sweep, stop 69)
        "ExtractBands": [b - 1 for b in data.source_bands] if data.source_bands
        else list(range(data.band_count)),
        "ModelPadding": recommended_padding(data.tile_size),
        "BatchSize": result.batch_size,
        "Classes": [c.to_esri() for c in classes],
        "accuracy": f"{acc.overall:.4f}" if acc else None,
        "LandLearn": {
            "format": FORMAT, "version": package_version(members, config.detail_head),
            "kind": "deep",
            "architecture": config.architecture, "encoder": config.backbone,
            "encoder_depth": result.encoder_depth, "detail_head": config.detail_head,
            "in_channels": data.band_count, "class_values": values,
            "band_names": data.band_names, "source_bands": data.source_bands,
            "source_band_count": data.source_band_count,
            # None: none declared; left out where a folder does not say (older exports)
            **({"source_scaling": data.source_scaling} if data.scaling_known else {}),
            "dtype": data.dtype, "nodata": data.nodata,
            "normalization": {"method": "zscore", "mean": data.mean.tolist(),
                              "std": data.std.tolist(), "min": data.minimum.tolist(),
                              "max": data.maximum.tolist()},
            "cell_size": list(data.cell_size) if data.cell_size else None,
            "crs": data.crs_wkt, "crs_units": crs_units(data.crs_wkt),
            "ignore_classes": list(config.ignore_classes),
            "padding": recommended_padding(data.tile_size),
            "training": {
                "parameters": config_json(config),
                "learning_rate": result.learning_rate, "batch_size": result.batch_size,
                "epochs_run": len(result.history), "best_epoch": result.best_epoch,
                "device": result.device, "seconds": round(result.seconds, 1),
                "chips": result.chips, "folders": data.folders, "notes": result.notes,
            },
            "history": [vars(h) for h in result.history],
            "metrics": acc.to_json() if acc else None,
        },
    }
    if members > 1:  # older LandLearns (version 1) refuse the package by its version
        emd["LandLearn"]["ensemble_members"] = members
        emd["LandLearn"]["training"]["networks"] = result.members
    calibration = getattr(result, "calibration", None)
    if calibration is not None:
        emd["LandLearn"]["calibration"] = calibration.to_json()
    return emd


def config_json(config) -> dict:
    """The training parameters as JSON (tuples become lists), for the .emd."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def onnx_graph(model, emd: dict, data) -> tuple[bytes | None, str | None]:
    """(the ONNX graph, None), or (None, why not): checked on ONNX Runtime against torch
    on real training chips before it goes into the package."""
    try:
        graph = export_onnx(model, emd)
    except MissingDependency as exc:
        return None, (f"no ONNX graph in the package: {exc.package} is not installed "
                      f"({exc.install_command}); Export Model adds one later")
    except NotExportable as exc:
        return None, (f"no ONNX graph: {emd['LandLearn']['architecture']} cannot be exported "
                      f"({exc}); the package classifies with torch")
    except Exception as exc:  # noqa: BLE001 - an exporter gap must not lose the training
        return None, (f"no ONNX graph: the {emd['LandLearn']['architecture']} network could not "
                      f"be exported ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                      "the package classifies with torch")
    raw = raw_chips(data, data.chips[:2], data.mean)
    if not raw:  # no chip at hand: values spread like the training bands
        raw = list(spread_like(data.mean, data.std))
    try:
        diff = onnx_difference(graph, model, emd, np.stack(raw))
    except MissingDependency:
        return graph, ("the ONNX graph was not checked against torch: onnxruntime is not "
                       "installed")
    except Exception as exc:  # noqa: BLE001
        return None, (f"no ONNX graph: ONNX Runtime cannot run the exported "
                      f"{emd['LandLearn']['architecture']} ({str(exc).splitlines()[0][:160]}); "
                      "the package classifies with torch")
    if not diff <= ONNX_TOLERANCE:  # NaN too
        return None, (f"no ONNX graph: on ONNX Runtime its class probabilities differ from "
                      f"torch's by up to {diff:.1e}; the package classifies with torch")
    return graph, None


def int8_graph(graph: bytes, data, split, progress=None
               ) -> tuple[bytes | None, dict | None, str]:
    """(the int8 graph, its .emd block, a note): calibrated on training chips, its classes
    compared with the float graph's on validation chips (training chips when there are
    none)."""
    train = [data.chips[i] for i in split.train] if split is not None else data.chips
    valid = [data.chips[i] for i in split.valid] if split is not None else []
    try:
        q, block, checked = quantize_chips(graph, data, train, valid or train, data.mean,
                                           progress)
    except Cancelled:
        raise
    except MissingDependency as exc:
        return None, None, (f"no int8 graph: {exc.package} is not installed "
                            f"({exc.install_command})")
    except Exception as exc:  # noqa: BLE001 - a quantiser gap must not lose the training
        return None, None, (f"no int8 graph: quantisation failed ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160]}); the float graph is kept")
    where = "validation chips" if valid else "training chips"
    if block["agreement_checked_on"] == "calibration":
        where = "calibration chips (no other chip was left: it reads a little high)"
    agree = block["agreement"]
    said = (f"calibrated on {block['calibration_chips']} training chips: its classes agree "
            f"with the float graph's on {100 * agree:.2f}% of the data pixels of {checked} "
            f"{where}")
    if agree < AGREEMENT_FLOOR:
        return None, None, (f"no int8 graph: {said}, under {AGREEMENT_FLOOR:.0%}; the float "
                            "graph is kept (QUANTIZE would map other classes)")
    if agree < AGREEMENT_WARNING:  # logged as a warning (save_trained)
        return q, block, (f"int8 graph {said}, under {AGREEMENT_WARNING:.0%}: compare its "
                          "map with the float graph's before relying on QUANTIZE")
    return q, block, f"int8 graph {said}"


def save_trained(config, data, values, model, result, chips, samples, progress=None,
                 split=None) -> str:
    emd = model_emd(config, data, values, result)
    graph, note = onnx_graph(model, emd, data)
    notes = [note] if note else []
    q = warned = None
    if graph is not None:
        emd["LandLearn"]["onnx"] = onnx_description(ONNX_FILE)
        if config.quantize:
            q, block, q_note = int8_graph(graph, data, split, progress)
            notes.append(q_note)
            if q is not None:
                emd["LandLearn"]["onnx_int8"] = block
                if block["agreement"] < AGREEMENT_WARNING:
                    warned = q_note
    elif config.quantize:
        notes.append("no int8 graph: there is no float graph to quantise")
    for note in notes:
        result.notes.append(note)
        emd["LandLearn"]["training"]["notes"] = result.notes
        if progress is not None:
            (progress.info if note.startswith("int8 graph") and note is not warned
             else progress.warning)(note)
    files = build_report(emd, result, data, chips, samples)
    if graph is not None:
        files[ONNX_FILE] = graph
    if q is not None:
        files[INT8_FILE] = q
    files["metrics.json"] = json.dumps(emd["LandLearn"]["metrics"], indent=2).encode()
    return write_package(config.output_model, emd, model.state_dict(), files)
