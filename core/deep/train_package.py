"""What a trained deep model's package says about itself (.emd) and how it is saved."""

from __future__ import annotations

import json
from dataclasses import asdict

from ..geo.grid import crs_units
from ..model_package.format import FORMAT, FORMAT_VERSION, write_package
from .train_report import build_report


def recommended_padding(tile: tuple[int, int]) -> int:
    """Context to discard at tile edges when classifying: an eighth of the tile, at least 16."""
    return max(16, min(tile) // 8)


def model_emd(config, data, values, result) -> dict:
    classes = [c for c in data.classes if c.value in values]
    acc = result.accuracy
    return {
        "Framework": "PyTorch",
        "ModelConfiguration": "LandLearn",
        "ModelType": "ImageClassification",
        "ModelFile": "",
        "ImageHeight": data.tile_size[1],
        "ImageWidth": data.tile_size[0],
        "ExtractBands": list(range(data.band_count)),
        "ModelPadding": recommended_padding(data.tile_size),
        "BatchSize": result.batch_size,
        "Classes": [c.to_esri() for c in classes],
        "accuracy": f"{acc.overall:.4f}" if acc else None,
        "LandLearn": {
            "format": FORMAT, "version": FORMAT_VERSION, "kind": "deep",
            "architecture": config.architecture, "encoder": config.backbone,
            "in_channels": data.band_count, "class_values": values,
            "band_names": data.band_names, "source_bands": data.source_bands,
            "source_band_count": data.source_band_count,
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


def config_json(config) -> dict:
    """The training parameters as JSON (tuples become lists), for the .emd."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def save_trained(config, data, values, model, result, chips, samples) -> str:
    emd = model_emd(config, data, values, result)
    files = build_report(emd, result, data, chips, samples)
    files["metrics.json"] = json.dumps(emd["LandLearn"]["metrics"], indent=2).encode()
    return write_package(config.output_model, emd, model.state_dict(), files)
