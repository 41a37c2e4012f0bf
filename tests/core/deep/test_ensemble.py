"""Ensemble packages: several networks as one averaging model, trained from consecutive
seeds (ENSEMBLE_SIZE), packaged, classified, cancelled and reused as pretrained weights."""

import json
import zipfile

import numpy as np
import pytest

from landlearn.core.errors import Cancelled, InputError
from landlearn.core.progress import RecordingProgress
from small_models import quick_config

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def test_the_ensemble_returns_the_log_of_its_networks_mean_probability():
    from landlearn.core.deep.ensemble import ensemble, first_member, member_count
    from landlearn.core.deep.models import build_model

    torch.manual_seed(0)
    nets = [build_model("unet", "resnet18", 4, 3, encoder_depth=3).eval() for _ in range(3)]
    both = ensemble(nets).eval()
    x = torch.randn(2, 4, 32, 32)
    with torch.no_grad():
        want = torch.stack([n(x).softmax(1) for n in nets]).mean(0)
        got = both(x)
    np.testing.assert_allclose(got.exp().numpy(), want.numpy(), atol=1e-6)
    np.testing.assert_allclose(got.softmax(1).numpy(), want.numpy(), atol=1e-6)
    assert member_count(both) == 3 and member_count(nets[0]) == 1
    assert first_member(both) is nets[0] and first_member(nets[1]) is nets[1]
    # a network certain to 1e-40 stays finite: log-sum-exp of log-softmaxes, not log(0)
    sure = torch.zeros(1, 3, 1, 1)
    sure[0, 0] = 200.0
    assert torch.isfinite(torch.logsumexp(torch.stack([sure.log_softmax(1)] * 2), 0)).all()
    with pytest.raises(ValueError):
        ensemble(nets[:1])


def test_build_model_with_members_and_the_schema_bound_agree():
    from landlearn.core.deep.ensemble import MAX_MEMBERS
    from landlearn.core.deep.models import build_model
    from landlearn.core.model_package.schema import MAX_ENSEMBLE

    assert MAX_ENSEMBLE == MAX_MEMBERS
    net = build_model("fpn", "resnet18", 3, 2, members=2)
    keys = net.state_dict().keys()
    assert any(k.startswith("members.0.encoder.") for k in keys)
    assert any(k.startswith("members.1.decoder.") for k in keys)
    for bad in (0, MAX_MEMBERS + 1, True, 2.0):
        with pytest.raises(InputError, match="^MODEL: "):
            build_model("fpn", "resnet18", 3, 2, parameter="model", members=bad)


@pytest.fixture(scope="module")
def ensemble_package(chips, trained, tmp_path_factory):
    """The ``trained`` fixture's configuration with ENSEMBLE_SIZE 2."""
    out = tmp_path_factory.mktemp("ensemble") / "two.dlpk"
    progress = RecordingProgress()
    from landlearn.core.deep.train_deep_learning_model import train_model

    result = train_model(quick_config(chips, out, ensemble_size=2), progress)
    return out, result, progress


@pytest.mark.heavy
def test_an_ensemble_package_holds_the_single_network_and_one_more(trained, ensemble_package):
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.model_package.format import read_package

    single, _, _ = trained
    out, result, progress = ensemble_package
    pkg = read_package(str(out))
    info = pkg.landlearn
    # version 3: its networks have the detail head (the default); a plain ensemble says 2
    # (test_detail_head.py covers the versions)
    assert info["ensemble_members"] == 2 and info["version"] == 3 and info["detail_head"]
    assert "ensemble_members" not in read_package(str(single)).landlearn
    nets = info["training"]["networks"]
    assert [n["seed"] for n in nets] == [0, 1] and all(n["epochs_run"] == 2 for n in nets)
    assert "Network 2 of 2 (seed 1)" in progress.messages
    # the first network is, to the bit, what ENSEMBLE_SIZE = 1 trains
    one = load_package_model(str(single)).state_dict()
    two = load_package_model(str(out))
    assert len(two.members) == 2
    first, second = two.members[0].state_dict(), two.members[1].state_dict()
    assert all(torch.equal(first[k], one[k]) for k in one)
    assert not all(torch.equal(second[k], one[k]) for k in one if one[k].is_floating_point())
    # the metrics are the ensemble's, on the same validation chips
    assert info["metrics"]["overall_accuracy"] == pytest.approx(result.accuracy.overall)
    # its ONNX graph passed the export check (probabilities within 1e-3 of torch)
    assert info["onnx"]["file"] == "model.onnx"
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert "report/curves_network_2.png" in names
        page = zf.read("report/report.html").decode()
    assert "an ensemble of 2 networks" in page and "Networks of the ensemble" in page
    assert json.loads(json.dumps(nets))[1]["best_epoch"] in (1, 2)


def test_the_predictor_averages_the_networks(ensemble_package):
    from landlearn.core.accuracy.calibration import apply_temperature
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.deep.predictor import DeepPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    out, _, _ = ensemble_package
    pkg = read_package(str(out))
    info = model_info(pkg)
    predictor = DeepPredictor(pkg, info, torch.device("cpu"))
    x = np.random.default_rng(0).standard_normal((2, info.in_channels, 64, 64)).astype("f4")
    got = predictor(x)
    nets = load_package_model(str(out)).eval().members
    with torch.no_grad():
        mean = torch.stack([n(torch.from_numpy(x)).softmax(1) for n in nets]).mean(0).numpy()
    np.testing.assert_allclose(got, apply_temperature(mean, info.temperature), atol=1e-5)


def test_an_ensemble_package_as_pretrained_weights_gives_its_first_network(ensemble_package):
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.deep.pretrained import read_checkpoint

    out, _, _ = ensemble_package
    state = read_checkpoint(str(out)).state
    first = load_package_model(str(out)).members[0].state_dict()
    assert state.keys() == first.keys()
    assert all(torch.equal(state[k], first[k]) for k in first)


class CancelInNetwork2(RecordingProgress):
    """Cancels at the first check after network 2's first epoch line."""

    def is_canceled(self):
        if "Network 2 of 2 (seed 1)" not in self.messages:
            return False
        after = self.messages[self.messages.index("Network 2 of 2 (seed 1)"):]
        return any(m.split()[:1] == ["1"] for m in after)


@pytest.mark.heavy
def test_a_cancel_in_the_second_network_keeps_both_when_asked(chips, tmp_path):
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.model_package.format import read_package

    out = tmp_path / "c.dlpk"
    with pytest.raises(Cancelled, match=r"best model so far \(2 networks\)"):
        train_model(quick_config(chips, out, ensemble_size=2, save_on_cancel=True),
                    CancelInNetwork2())
    info = read_package(str(out)).landlearn
    assert info["ensemble_members"] == 2
    assert [n["epochs_run"] for n in info["training"]["networks"]] == [2, 1]
    assert any(n.startswith("cancelled while training network 2 of 2")
               for n in info["training"]["notes"])


def test_ensemble_size_is_checked_before_anything_is_read(tmp_path):
    from landlearn.core.deep.train_deep_learning_model import TrainConfig

    base = dict(training_data=("chips",), output_model=str(tmp_path / "m.dlpk"))
    for bad in (0, 9, 2.5):
        with pytest.raises(InputError, match="^ENSEMBLE_SIZE: "):
            TrainConfig(**base, ensemble_size=bad).validate()


def test_the_schema_bounds_ensemble_members(trained, tmp_path):
    from landlearn.core.model_package.format import read_package

    single, _, _ = trained
    with zipfile.ZipFile(single) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    emd_name = next(n for n in files if n.endswith(".emd"))
    for bad in (9, 0, "3"):
        emd = json.loads(files[emd_name])
        emd["LandLearn"]["ensemble_members"] = bad
        out = tmp_path / f"bad{bad}.dlpk"
        with zipfile.ZipFile(out, "w") as zf:
            for n, data in files.items():
                zf.writestr(out.stem + ".emd" if n == emd_name else n,
                            json.dumps(emd) if n == emd_name else data)
        with pytest.raises(InputError, match="ensemble_members"):
            read_package(str(out))


def test_a_reader_of_an_older_version_refuses_an_ensemble_by_name(ensemble_package,
                                                                   monkeypatch):
    """A LandLearn from before ensembles (it reads version 1) or before the detail head
    (version 2) says to update the plugin rather than failing on weights it cannot place."""
    from landlearn.core.model_package import schema
    from landlearn.core.model_package.format import read_package

    out, _, _ = ensemble_package
    for older in (1, 2):
        monkeypatch.setattr(schema, "FORMAT_VERSION", older)
        with pytest.raises(InputError, match=r"written by a newer LandLearn \(package version "
                                             r"3\); update the plugin"):
            read_package(str(out))


@pytest.mark.heavy
def test_a_later_network_overflowing_on_validation_keeps_those_trained(chips, tmp_path,
                                                                       monkeypatch):
    """Network 2's first epoch gave non-finite outputs on the validation chips (float16
    autocast): network 1, trained, was thrown away with it (review 94)."""
    from landlearn.core.deep import train_deep_learning_model as tdl
    from landlearn.core.deep.evaluation import NonFiniteOutputs
    from landlearn.core.model_package.format import read_package

    real, calls = tdl.fit_network, []

    def second_overflows(torch, model, setting, fit, progress, member):
        calls.append(member)
        if member[0] == 1:
            raise NonFiniteOutputs("mixed_precision", "outputs on validation chips are not "
                                   "finite (NaN or infinite)")
        return real(torch, model, setting, fit, progress, member)

    monkeypatch.setattr(tdl, "fit_network", second_overflows)
    out = tmp_path / "e.dlpk"
    tdl.train_model(quick_config(chips, out, ensemble_size=2, epochs=1))
    info = read_package(str(out)).landlearn
    assert calls == [(0, 2), (1, 2)] and info.get("ensemble_members", 1) == 1
    assert any(n.startswith("network 2 of 2 stopped: outputs on validation chips")
               for n in info["training"]["notes"])
