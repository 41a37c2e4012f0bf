"""A random forest's trees saved beside the skops file come back identical, and damaged ones
are refused before anything walks them."""

import numpy as np
import pytest

from landlearn.core.classical.trees.forest_store import join_trees, split_trees
from landlearn.core.errors import InputError
from synthetic import tampered_npz

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def test_trees_stored_apart_come_back_identical(nc_forest):
    import skops.io as sio

    model, pixels = nc_forest
    n = len(model[-1].estimators_)
    light, data = split_trees(model)
    assert len(model[-1].estimators_) == n  # the trained model is untouched
    assert len(light[-1].estimators_) == 1 and not hasattr(light[-1].estimators_[0], "tree_")
    blob = sio.dumps(light)
    assert len(blob) < len(sio.dumps(model)) / 10
    back = join_trees(sio.loads(blob, trusted=sio.get_untrusted_types(data=blob)), data, "m")
    for a, b in zip(back[-1].estimators_, model[-1].estimators_):
        sa, sb = a.tree_.__getstate__(), b.tree_.__getstate__()
        assert sa["max_depth"] == sb["max_depth"] and sa["node_count"] == sb["node_count"]
        np.testing.assert_array_equal(sa["nodes"], sb["nodes"])
        np.testing.assert_array_equal(sa["values"], sb["values"])
    sample = pixels[::40]
    # scikit-learn sums its trees in whatever order its threads finish: last-bit noise
    np.testing.assert_allclose(back.predict_proba(sample), model.predict_proba(sample),
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(back[-1].feature_importances_, model[-1].feature_importances_)
    assert [e.random_state for e in back[-1].estimators_] == \
        [e.random_state for e in model[-1].estimators_]
    assert split_trees(model[0]) == (model[0], None)  # not a forest: nothing to split


def _wrapping(counts):
    """Four counts raised by 2^62 each: their int64 sum wraps round to the true total."""
    counts = counts.astype(np.int64)
    counts[:4] += 2 ** 62
    return counts


def test_damaged_trees_are_refused(nc_forest):
    import skops.io as sio

    model, _ = nc_forest
    light, data = split_trees(model)
    blob = sio.dumps(light)

    def load(trees):
        return join_trees(sio.loads(blob, trusted=sio.get_untrusted_types(data=blob)), trees,
                          "m.dlpk")

    def loop(nodes):
        nodes = nodes.copy()
        inner = np.flatnonzero(nodes["left_child"] > 0)[3]
        nodes["left_child"][inner] = 0  # back to the root: a walk that never ends
        return nodes

    def outside(nodes):
        nodes = nodes.copy()
        nodes["right_child"][np.flatnonzero(nodes["right_child"] > 0)[0]] = 10 ** 6
        return nodes

    def bad_feature(nodes):
        nodes = nodes.copy()
        nodes["feature"][0] = 5
        return nodes

    def leaf_feature(nodes):  # a leaf naming feature 2^40: the compiled walk's tables
        nodes = nodes.copy()  # grew with it (a hang, then all the memory)
        nodes["feature"][np.flatnonzero(nodes["left_child"] == -1)[0]] = 2 ** 40
        return nodes

    def nan_split(nodes):  # left in the compiled walk, right in scikit-learn's
        nodes = nodes.copy()
        nodes["threshold"][0] = np.nan
        return nodes

    for change in (dict(nodes=loop), dict(nodes=outside), dict(nodes=bad_feature),
                   dict(nodes=leaf_feature), dict(nodes=nan_split),
                   # scikit-learn's own check raised ValueError on them inside __setstate__
                   dict(values=lambda v: v.astype(np.float32)),
                   dict(node_counts=lambda c: c[:-1]), dict(values=lambda v: v[:-1]),
                   dict(node_counts=lambda c: c.astype(np.float64)),
                   dict(node_counts=_wrapping),
                   # raw ValueError / TypeError from int() and len() before
                   dict(max_depths=lambda d: np.full(len(d), np.nan)),
                   dict(random_states=lambda r: r.astype(np.float64)),
                   dict(values=lambda v: v.astype(np.complex128)),
                   dict(nodes=lambda n: n[0])):
        with pytest.raises(InputError, match="^MODEL: 'm.dlpk': the forest's trees are damaged"):
            load(tampered_npz(data, **change))
    packed = tampered_npz(data, nodes=lambda n: np.array(n.tolist(), dtype=[
        (name, n.dtype.fields[name][0]) for name in n.dtype.names]))
    with pytest.raises(InputError, match="another tree layout"):
        load(packed)
    with pytest.raises(InputError, match="cannot be read"):
        load(b"not a numpy file")
    # a member named 'nodes' without .npy: np.load handed back bytes (AttributeError)
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            name = "nodes" if item.filename == "nodes.npy" else item.filename
            zout.writestr(name, b"raw bytes" if name == "nodes" else zin.read(item))
    with pytest.raises(InputError, match="damaged \\(a member is not a numpy array\\)"):
        load(buf.getvalue())
    # the trees counting fewer classes than the forest (the compiled walk read past its
    # table of leaf values)
    fewer = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    fewer[-1].n_classes_ = int(fewer[-1].n_classes_) + 1
    with pytest.raises(InputError, match="the trees count other classes than the forest"):
        join_trees(fewer, data, "m.dlpk")
