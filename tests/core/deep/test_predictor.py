"""deep.predictor: the network a package describes, its weights checked, softmax out, with
optional test-time augmentation."""

import zipfile

import numpy as np
import pytest

from landlearn.core.accuracy.calibration import apply_temperature
from landlearn.core.errors import InputError
from landlearn.core.model_package.format import read_package
from landlearn.core.model_package.info import model_info

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def _predictor(path):
    from landlearn.core.deep.predictor import DeepPredictor

    pkg = read_package(str(path))
    return DeepPredictor(pkg, model_info(pkg), torch.device("cpu"))


def test_probabilities_are_the_networks_softmax(trained):
    from landlearn.core.deep.models import load_package_model

    out, _, _ = trained
    predictor = _predictor(out)
    assert not predictor.amp and not predictor.model.training
    # Whether training kept the confidence raw (T = 1) depends on the machine's float
    # arithmetic (both seen); then a temperature is set, so the tempering is tested anyway.
    if predictor.temperature == 1.0:
        predictor.temperature = 1.7
    x = np.random.default_rng(0).normal(size=(2, 10, 64, 64)).astype(np.float32)
    prob = predictor(x)
    assert prob.shape == (2, 8, 64, 64) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    net = load_package_model(str(out)).eval()
    # calibrated with the package's temperature: softmax(logits / T)
    t_cal = predictor.temperature
    with torch.no_grad():
        ref = (net(torch.from_numpy(x)) / t_cal).softmax(1).numpy()
    np.testing.assert_allclose(prob, ref, atol=1e-5)
    np.testing.assert_array_equal(prob.argmax(1), ref.argmax(1))
    # test-time augmentation: the mean over the image and its three flips, flipped back,
    # then tempered with the TTA map's own temperature (fitted on the validation pixels'
    # TTA means at training), not the one-pass one
    pkg = read_package(str(out))
    tta_cal = pkg.landlearn["calibration"]["tta"]
    assert tta_cal["fitted_on"] == "validation pixels (TTA: 4 flips averaged)"
    assert predictor.tta_temperature == pytest.approx(tta_cal["temperature"])
    predictor.tta_temperature = 0.6  # distinct from t_cal whatever training kept
    with torch.no_grad():
        t = torch.from_numpy(x)
        flips = [net(t).softmax(1)] + [net(t.flip(d)).softmax(1).flip(d) for d in ((3,), (2,), (2, 3))]
    np.testing.assert_allclose(predictor(x, tta=True),
                               apply_temperature((sum(flips) / 4).numpy(), 0.6), atol=1e-5)


@pytest.mark.parametrize("value,dtype", [(float("nan"), None), (1e300, "float64")])
def test_weights_that_are_not_numbers_are_refused(trained, tmp_path, value, dtype):
    """NaN, or a float64 tensor finite in the file but infinite once copied into the
    float32 network: refused by every reader of the weights (Classify Pixels, Export
    Model and fine-tuning alike)."""
    from safetensors.torch import load, save

    from landlearn.core.deep.models import load_package_model

    out, _, _ = trained
    bad = tmp_path / "nan.dlpk"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith(".safetensors"):
                state = load(data)
                key = next(k for k, v in state.items() if v.is_floating_point())
                state[key] = state[key].clone().to(getattr(torch, dtype or "float32"))
                state[key].view(-1)[0] = value
                data = save(state)
            dst.writestr(name, data)
    message = "^MODEL: .*nan.dlpk': its weights hold values that are not numbers"
    with pytest.raises(InputError, match=message):
        _predictor(bad)
    with pytest.raises(InputError, match=message):
        load_package_model(str(bad))


def test_an_overflowing_autocast_is_an_error_not_a_map(trained):
    """float16 autocast overflowed on a real model on an H200 (NaN for 94% of nc's pixels):
    the predictor refuses such probabilities and names the setting to turn off. Autocast
    is forced on the CPU here, with values no float16 holds."""
    out, _, _ = trained
    predictor = _predictor(out)
    predictor.amp, predictor.amp_dtype = True, torch.float16
    x = np.full((1, 10, 64, 64), 1e5, np.float32)
    with pytest.raises(InputError, match="MIXED_PRECISION: float16 autocast overflowed .* "
                       "turn MIXED_PRECISION off"):
        predictor(x)


def test_float32_on_cuda_turns_tf32_off_and_restores_it():
    """Without mixed precision CUDA runs true float32 (TF32 moved probabilities by 0.37
    against the CPU on an H200); the process-wide flag is restored, also after an error."""
    from landlearn.core.deep.predictor import _no_tf32

    before = torch.backends.cudnn.allow_tf32
    with _no_tf32(torch):
        assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 == before
    with pytest.raises(RuntimeError), _no_tf32(torch):
        raise RuntimeError("a failed batch")
    assert torch.backends.cudnn.allow_tf32 == before
