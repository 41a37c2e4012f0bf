"""Gradient boosting through the sorted tree walk: scikit-learn's probabilities, split for
split, including pixels that sit exactly on a threshold."""

import numpy as np
import pytest

from landlearn.core.classical.boosting import FastBoostingProba, _left_limit

pytest.importorskip("sklearn")


def _boosting(x, y, **kw):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), HistGradientBoostingClassifier(
        random_state=0, **kw)).fit(x, y)


def test_sorted_boosting_equals_scikit_learn_on_a_landsat_scene(nc_samples, tree_engine):
    s, pixels = nc_samples
    model = _boosting(s.x, s.y, max_iter=40)
    assert FastBoostingProba.supports(model)
    booster = FastBoostingProba(model)
    assert (booster.walk.flat is not None) == (tree_engine == "compiled")
    fast = booster(pixels)
    ref = model.predict_proba(pixels)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    assert (fast.argmax(1) != ref.argmax(1)).sum() == 0


def test_pixels_on_the_thresholds_go_where_scikit_learn_sends_them(tree_engine):
    """Every split's limit and the float32 value just above it, for two and three classes
    and bands of very different scales."""
    rng = np.random.default_rng(5)
    for n_classes in (2, 3):
        x = (rng.normal(size=(900, 3)) * [1e-3, 1.0, 3e4] + [0.2, -5.0, 1e5]).astype(np.float32)
        signal = (x[:, 0] - 0.2) * 1e3 + (x[:, 2] - 1e5) / 3e4 + rng.normal(size=900) * 0.5
        y = np.digitize(signal, [-0.5, 0.7][:n_classes - 1]) + 1
        assert len(np.unique(y)) == n_classes
        model = _boosting(x.astype(np.float64), y, max_iter=15)
        scaler, boost = model[0], model[-1]
        probe = []
        for iteration in boost._predictors:
            for predictor in iteration:
                nodes = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
                f = nodes["feature_idx"]
                c = _left_limit(nodes["num_threshold"], scaler.mean_[f], scaler.scale_[f])
                for feature, limit in zip(f, c.astype(np.float32)):
                    for v in (limit, np.nextafter(limit, np.float32(np.inf))):
                        row = x[rng.integers(len(x))].copy()
                        row[feature] = v
                        probe.append(row)
        probe = np.array(probe, dtype=np.float32).astype(np.float64)
        assert len(probe) > 200
        np.testing.assert_allclose(FastBoostingProba(model)(probe), model.predict_proba(probe),
                                   rtol=0, atol=1e-12)


def test_input_that_is_not_float32_goes_to_scikit_learn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 0).astype(int) + 1
    model = _boosting(x, y, max_iter=10)
    fast = FastBoostingProba(model)
    called = []
    fast.walk = lambda x32: called.append(x32)  # the walk must not be reached
    for odd in (x[:50] + 1e-9, np.where(np.arange(100)[:, None] == 3, np.nan, x[:100])):
        np.testing.assert_array_equal(fast(odd), model.predict_proba(odd))
    assert called == []


def test_a_limit_among_values_that_standardise_alike_is_found():
    """A standard-deviation feature (values from 0) next to a large mean: every float32
    below about 5.7e-14 standardises to one float64, so the limit lies millions of float32
    steps from t * scale + mean, and the step-by-step walk raised 'did not settle' (a
    freshly trained model refused as damaged; sweep, stop 69). The limit is still the
    largest float32 that goes left."""
    mean, scale = np.array([1000.0, 3.0, 0.0]), np.array([0.5, 2.0, 1.0])
    t = np.array([-2000.0, 0.25, np.inf])
    c = _left_limit(t, mean, scale).astype(np.float32)
    for limit, m, sc, tt in zip(c, mean, scale, t):
        assert (np.float64(limit) - m) / sc <= tt
        above = np.nextafter(limit, np.float32(np.inf))
        assert limit == np.inf or not (np.float64(above) - m) / sc <= tt
    assert 0 < c[0] < 1e-13 and c[2] == np.inf
