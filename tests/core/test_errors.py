"""The engine's errors: each names the Processing parameter, or the package and its command."""

import pytest

from landlearn.core.errors import Cancelled, InputError, LandLearnError, MissingDependency


def test_input_error_names_the_parameter_in_upper_case():
    err = InputError("tile_size_x", "8 pixels is outside 16..4096")
    assert isinstance(err, LandLearnError)
    assert err.parameter == "TILE_SIZE_X" and err.detail == "8 pixels is outside 16..4096"
    assert str(err) == "TILE_SIZE_X: 8 pixels is outside 16..4096"
    with pytest.raises(LandLearnError, match="^LABELS: "):
        raise InputError("labels", "no labels were given")


def test_cancelled_says_nothing_was_written():
    assert str(Cancelled()) == "Cancelled by the user; no output was written."
    assert str(Cancelled("stopped")) == "stopped" and isinstance(Cancelled(), LandLearnError)


def test_missing_dependency_gives_the_command_and_the_reason():
    err = MissingDependency("torch", "python3 -m pip install torch==2.15.0", "No module named 'torch'")
    assert (err.package, err.install_command) == ("torch", "python3 -m pip install torch==2.15.0")
    assert str(err) == ("The Python package 'torch' is required for this algorithm but could not "
                        "be imported (No module named 'torch'). Install it with:\n"
                        "    python3 -m pip install torch==2.15.0\nthen restart QGIS (or the script).")
    assert "imported. Install" in str(MissingDependency("numba", "pip install numba"))


def test_a_cancel_says_what_was_saved_all_the_same_and_travels_whole():
    import pickle

    from landlearn.core.errors import Cancelled

    assert Cancelled().saved is None
    again = pickle.loads(pickle.dumps(Cancelled("saved to m.dlpk", saved="m.dlpk")))
    assert str(again) == "saved to m.dlpk" and again.saved == "m.dlpk"
