"""Small real models for tests: chips of the embedded North Carolina sample (strata.tif
labels) and a resnet18 U-Net trained on them for a few epochs on the CPU."""

from pathlib import Path

from paths import SAMPLE

NC = SAMPLE / "nc_landsat7"


def nc_chips(folder: Path, stride: int = 32, bands=None) -> Path:
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.labels.base import LabelConfig

    export_training_data(ExportConfig(str(NC / "landsat_multiband.tif"),
                                      LabelConfig(str(NC / "strata.tif")), str(folder),
                                      bands=bands, tile_size_x=64, tile_size_y=64,
                                      stride_x=stride, stride_y=stride))
    return folder


def quick_config(chips, out, **kw):
    """A TrainConfig for tests: one resnet18 (not the default ensemble of 2), 2 epochs,
    batch 16, a fixed learning rate, 20% validation, on the CPU; ``kw`` overrides any
    field."""
    from landlearn.core.deep.train_deep_learning_model import TrainConfig

    base = dict(backbone="resnet18", epochs=2, batch_size=16, learning_rate=3e-3,
                validation_percent=20, device="cpu", ensemble_size=1)
    base.update(kw)
    return TrainConfig((str(chips),), str(out), **base)


def nc_unet(folder: Path, epochs: int, batch_size: int = 16, stride: int = 32, bands=None,
            validation_percent: float = 15, quantize: bool = False) -> str:
    """Export chips into ``folder``/chips and train ``folder``/model.dlpk; returns its path."""
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    chips = nc_chips(folder / "chips", stride, bands)
    out = folder / "model.dlpk"
    train_model(TrainConfig((str(chips),), str(out), backbone="resnet18", epochs=epochs,
                            batch_size=batch_size, learning_rate=3e-3,
                            validation_percent=validation_percent, device="cpu",
                            quantize=quantize, ensemble_size=1))
    return str(out)
