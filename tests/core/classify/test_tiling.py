"""Tile geometry: what a model's package and the parameters make of tile and padding."""

from types import SimpleNamespace

import pytest

from landlearn.core.classify.tiling import batch_size, geometry
from landlearn.core.errors import InputError


def _info(kind="deep", tile=64, padding=8, bands=6, classes=5):
    return SimpleNamespace(kind=kind, tile=tile, padding=padding, in_channels=bands,
                           class_values=list(range(1, classes + 1)))


def _config(**kw):
    base = dict(tile_size=None, padding=None, blend="centre", batch_size=None)
    return SimpleNamespace(**dict(base, **kw))


def test_defaults_follow_the_model():
    assert geometry(_config(), _info()) == (256, 32)  # at least 256 px, 32 px of context
    assert geometry(_config(), _info(kind="classical", padding=0)) == (256, 0)
    assert geometry(_config(tile_size=128, padding=40), _info()) == (128, 40)


def test_padding_that_leaves_no_centre_is_refused():
    with pytest.raises(InputError, match="^PADDING: .* use at most 56"):
        geometry(_config(tile_size=128, padding=60), _info())


def test_batches_fit_the_device():
    cpu = SimpleNamespace(type="cpu")
    assert batch_size(_config(), None, 512, _info()) == 1  # classical: one tile at a time
    assert batch_size(_config(), cpu, 256, _info()) == 4
    with pytest.raises(InputError, match="^BATCH_SIZE: "):
        batch_size(_config(batch_size=0), cpu, 256, _info())
