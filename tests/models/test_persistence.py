"""Model directories: directories written by earlier versions still load, the column mapping
travels with the model, and damaged files raise FormatError naming the file and the fix."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import PendulumPhysics, reference_dataset
from hybridwm.errors import FormatError
from hybridwm.models import MLP, WorldModel
from hybridwm.training import TrainConfig

#: written by hybridwm at commit 1348308 (before the models redesign): a hybrid with discovered
#: physics and a learned model with a latent coordinate, with their predictions of `data`
SAVED = Path(__file__).parent / "saved_v1"
TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
COLUMNS = {"time": "t", "states": ["theta", "omega"], "actions": ["torque"], "episode": "run"}


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=64, horizon=6, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    """The episodes the saved_v1 models were fitted on and predicted."""
    return reference_dataset(TRUE, 4, 20, 0.05, seed=0)


def _edit_config(path: Path, **changes) -> None:
    doc = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if key == "drop_params":
            for name in value:
                doc["params"].pop(name)
        else:
            doc[key] = value
    (path / "config.json").write_text(json.dumps(doc))


def test_directories_of_format_version_1_still_load_and_predict_the_same(data):
    expected = np.load(SAVED / "expected.npz")
    hybrid = WorldModel.load(SAVED / "hybrid")
    assert hybrid.kind == "hybrid" and hybrid.angles_ == ("theta",) and hybrid.columns_ is None
    assert hybrid.config_.epochs == 2 and hybrid.config_.horizon == 6
    pred = np.stack([tr.x for tr in hybrid.predict(data)])
    np.testing.assert_allclose(pred, expected["hybrid"], rtol=1e-12, atol=1e-12)
    latent = WorldModel.load(SAVED / "learned-latent")
    assert latent.state_names_ == ("theta", "z0") and latent.observed_names_ == ("theta",)
    obs = TrajectorySet(Trajectory(tr.t, tr.x[:, :1], tr.u, ("theta",), ("torque",)) for tr in data)
    pred = np.stack([tr.x for tr in latent.predict(obs)])
    np.testing.assert_allclose(pred, expected["latent"], rtol=1e-12, atol=1e-12)


def test_params_missing_from_older_files_take_the_spec_defaults(data, tmp_path):
    path = tmp_path / "latent"
    shutil.copytree(SAVED / "learned-latent", path)
    _edit_config(path, drop_params=["init", "init_window", "substeps", "rtol", "atol", "adjoint"])
    loaded = WorldModel.load(path)
    assert (loaded.init, loaded.init_window, loaded.substeps) == ("encoder", 20, 1)
    # a file written before the angles were saved has no angle embedding
    off = WorldModel.learned(hidden=(4,), angles=()).fit(data, cfg())
    off.save(tmp_path / "off")
    _edit_config(tmp_path / "off", drop_params=["angles"])
    assert WorldModel.load(tmp_path / "off").angles_ == ()


def test_column_mapping_is_remembered_saved_and_loaded(data, tmp_path):
    mapped = TrajectorySet(tr.replace(meta={**tr.meta, "columns": COLUMNS}) for tr in data)
    model = WorldModel.physics(TRUE).fit(mapped, cfg())
    assert model.columns_ == COLUMNS
    path = model.save(tmp_path / "m")
    assert json.loads((path / "config.json").read_text())["columns"] == COLUMNS
    assert WorldModel.load(path, physics=TRUE).columns_ == COLUMNS
    # episodes read without a mapping, or with different ones, leave it unknown
    assert WorldModel.physics(TRUE).fit(data, cfg()).columns_ is None
    mixed = TrajectorySet([*list(mapped)[:2], *list(data)[2:]])
    assert WorldModel.physics(TRUE).fit(mixed, cfg()).columns_ is None


def test_saved_document_records_the_installed_version(data, tmp_path):
    model = WorldModel.hybrid(TRUE, residual=MLP((4,))).fit(data, cfg())
    doc = json.loads((model.save(tmp_path / "m") / "config.json").read_text())
    assert doc["hybridwm_version"] == version("hybridwm")
    assert doc["params"]["residual"] == {"hidden": [4], "activation": "tanh", "init_scale": 0.0}
    assert (tmp_path / "m" / "train_config.json").is_file()


def test_damaged_files_raise_format_errors_naming_them(tmp_path):
    path = tmp_path / "m"
    shutil.copytree(SAVED / "hybrid", path)
    (path / "train_config.json").write_text("{not json")
    with pytest.raises(FormatError, match=r"train_config.json.*remove the file to load the model"):
        WorldModel.load(path)
    (path / "train_config.json").write_text(json.dumps({"epochs": 0}))
    with pytest.raises(FormatError, match=r"Cannot read .*train_config.json.*epochs"):
        WorldModel.load(path)
    (path / "train_config.json").unlink()
    (path / "history.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match=r"Cannot read .*history.json"):
        WorldModel.load(path)
    (path / "history.json").unlink()
    assert len(WorldModel.load(path).history_) == 0  # both files are optional
    (path / "weights.safetensors").unlink()
    with pytest.raises(FormatError, match=r"Cannot read .*weights.safetensors"):
        WorldModel.load(path)
    _edit_config(path, params={"solver": "rk45"})
    with pytest.raises(FormatError, match=r"config.json.*invalid model architecture.*'rk45'"):
        WorldModel.load(path)
    _edit_config(path, dtype="float16")
    with pytest.raises(FormatError, match=r"config.json.*bad entry.*dtype"):
        WorldModel.load(path)


def test_a_model_trained_on_a_gpu_loads_on_a_cpu_only_machine(data, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this checks a CPU-only torch build")
    path = tmp_path / "gpu-trained"
    shutil.copytree(SAVED / "hybrid", path)
    record = json.loads((path / "train_config.json").read_text())
    record["device"] = "cuda"  # a flat record, as format version 1 wrote it
    (path / "train_config.json").write_text(json.dumps(record))
    model = WorldModel.load(path)
    assert model.config_.device == "cuda"  # the record says where it was trained
    expected = np.load(SAVED / "expected.npz")
    np.testing.assert_allclose(
        np.stack([tr.x for tr in model.predict(data)]), expected["hybrid"], rtol=0, atol=1e-12
    )
