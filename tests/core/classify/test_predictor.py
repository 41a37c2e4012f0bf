"""classify.predictor: one loader for both kinds of package, and what each predictor returns."""

import numpy as np
import pytest

from landlearn.core.classify.predictor import load_predictor


def test_a_classical_package_gets_the_classical_predictor(rf):
    from landlearn.core.classical.predictor import ClassicalPredictor

    out, _, _ = rf
    predictor, info = load_predictor(str(out), "cuda")  # the device is not used by sklearn
    assert isinstance(predictor, ClassicalPredictor)
    assert info.kind == "classical" and info.in_channels == 5
    assert info.class_values == list(range(1, 8)) and info.class_names[0] == "developed"
    x = np.random.default_rng(0).uniform(50, 120, (2, 5, 4, 3))
    prob = predictor(x)
    assert prob.shape == (2, 7, 4, 3) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)


def test_a_deep_package_gets_the_deep_predictor_on_the_named_device(model):
    torch = pytest.importorskip("torch")
    from landlearn.core.deep.predictor import DeepPredictor

    predictor, info = load_predictor(model, "cpu")
    assert isinstance(predictor, DeepPredictor)
    assert predictor.device == torch.device("cpu") and not predictor.amp
    assert info.kind == "deep" and info.in_channels == 5 and len(info.class_values) == 7
    x = np.random.default_rng(0).normal(size=(2, 5, 64, 64)).astype(np.float32)
    prob = predictor(x)
    assert prob.shape == (2, 7, 64, 64) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    again, _ = load_predictor(model, torch.device("cpu"))  # a torch.device is taken as it is
    np.testing.assert_allclose(again(x), prob, atol=1e-6)


def test_a_file_that_is_no_package_is_refused(tmp_path):
    from landlearn.core.errors import InputError

    (tmp_path / "junk.dlpk").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="^MODEL: .* not a complete .dlpk"):
        load_predictor(str(tmp_path / "junk.dlpk"), "cpu")
