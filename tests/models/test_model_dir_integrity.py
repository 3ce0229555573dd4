"""A model directory has one source of truth (its weights; physics.json must agree with them),
and a save that fails (disk full) leaves the previous directory byte-identical with a named
error."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybridwm import _io
from hybridwm.dynamics import PendulumPhysics, reference_dataset
from hybridwm.errors import FormatError, OutputError
from hybridwm.models import MLP, WorldModel
from hybridwm.physics import declare
from hybridwm.training import TrainConfig

SAVED = Path(__file__).parent / "saved_v1"


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=64, horizon=6, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    return reference_dataset(PendulumPhysics(w0=3.0, damping=0.3), 4, 20, 0.05, seed=0)


def prior():
    return declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
        {"a": 8.0, "b": 1.0, "c": 0.2},
        action_names=["torque"],
        bounds={"a": (0, 100), "b": (0, None)},
    )


def _edit_physics(path: Path, edit) -> None:
    doc = json.loads((path / "physics.json").read_text())
    edit(doc)
    (path / "physics.json").write_text(json.dumps(doc, indent=2))


# ---------------------------------------------------------------------- one truth (item 3)
def test_an_edited_coefficient_in_physics_json_is_refused_naming_both_files(tmp_path):
    path = tmp_path / "m"
    shutil.copytree(SAVED / "hybrid", path)
    before = WorldModel.load(path).physics_model.equations()  # untouched: loads fine

    def edit(doc):
        doc["coefficients"][1][1] = -9.5

    _edit_physics(path, edit)
    with pytest.raises(
        FormatError,
        match=(
            r"physics\.json' disagrees with '.*weights\.safetensors': the coefficient of "
            r"'sin\(theta\)' in d\(omega\)/dt is -9\.5 in physics\.json but "
            r"-9\.097599232561858 in weights\.safetensors\..*Restore physics\.json \(or "
            r"re-save the model"
        ),
    ):
        WorldModel.load(path)
    # a term that is absent from the weights (a zero coefficient made nonzero) is refused too
    shutil.rmtree(path)
    shutil.copytree(SAVED / "hybrid", path)

    def add_term(doc):
        doc["coefficients"][0][0] = 0.5

    _edit_physics(path, add_term)
    with pytest.raises(FormatError, match=r"coefficient of '1' in d\(theta\)/dt is 0\.5 in phys"):
        WorldModel.load(path)
    shutil.rmtree(path)
    shutil.copytree(SAVED / "hybrid", path)
    assert WorldModel.load(path).physics_model.equations() == before


def test_an_edited_parameter_of_a_declared_prior_is_refused(data, tmp_path):
    model = WorldModel.hybrid(prior(), residual=MLP((4,))).fit(data, cfg(epochs=3, physics_lr=0.05))
    path = model.save(tmp_path / "m")
    loaded = WorldModel.load(path)  # untouched: loads fine, with the trained values
    trained = model.physics_.parameter_values
    assert loaded.physics_model.parameter_values == trained
    assert abs(trained["a"] - 8.0) > 1e-3

    def edit(doc):
        doc["parameters"][0]["value"] = 50.0

    _edit_physics(path, edit)
    assert json.loads((path / "physics.json").read_text())["parameters"][0]["name"] == "a"
    with pytest.raises(
        FormatError,
        match=r"disagrees with .*weights\.safetensors.*the parameter 'a' is 50\.0 in physics\.json "
        rf"but {trained['a']!r} in weights\.safetensors",
    ):
        WorldModel.load(path)


@pytest.mark.filterwarnings("ignore:Training ran")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saved_models_with_trained_or_frozen_physics_load(data, tmp_path, dtype):
    discovered = WorldModel.load(SAVED / "hybrid").physics_model
    models = {
        "trained-discovered": WorldModel.hybrid(discovered, trainable_physics=True),
        "frozen-discovered": WorldModel.physics(discovered),
        "trained-prior": WorldModel.physics(prior()),
        "frozen-prior": WorldModel.hybrid(prior(), trainable_physics=False),
    }
    x0 = np.stack([tr.x[0] for tr in data])
    for name, model in models.items():
        given = model.physics_model
        model.fit(data, cfg(epochs=3, lr=1e-4, physics_lr=0.01, dtype=dtype))
        moved = np.abs(model.physics_.coef_array - given.coef_array).max()
        assert (moved > 1e-4) == name.startswith("trained"), name
        loaded = WorldModel.load(model.save(tmp_path / name))
        assert loaded.physics_model.equations() == model.physics_.equations(), name
        u = np.stack([tr.u for tr in data])
        np.testing.assert_array_equal(loaded.rollout(x0, u, dt=0.05), model.rollout(x0, u, dt=0.05))


# ---------------------------------------------------------------------- disk full (item 5)
def _no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _HalfWriter:
    """A file whose writes stop half-way with ENOSPC, as on a full disk."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise _no_space()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def _fill_disk_at(monkeypatch, how: str, name: str) -> list[str]:
    """Make the write (``how="write"``) or the flush to disk (``"fsync"``) of the file
    ``name`` fail with ENOSPC, in the atomic writers of hybridwm._io; returns the files
    written so far."""
    written: list[str] = []
    real_open, real_fsync = open, os.fsync

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if "w" in mode:
            written.append(Path(file).name)
            if how == "write" and Path(file).name.startswith(f".{name}."):
                return _HalfWriter(f)
        return f

    def fake_fsync(fd):
        if how == "fsync" and written and written[-1].startswith(f".{name}."):
            raise _no_space()
        return real_fsync(fd)

    monkeypatch.setattr(_io, "open", fake_open, raising=False)
    monkeypatch.setattr(os, "fsync", fake_fsync)
    return written


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))}


@pytest.mark.filterwarnings("ignore:Training ran")
@pytest.mark.parametrize("how", ["write", "fsync"])
@pytest.mark.parametrize("failing", ["weights.safetensors", "history.json"])
def test_a_save_that_runs_out_of_disk_space_leaves_the_earlier_model_byte_identical(
    data, tmp_path, monkeypatch, how, failing
):
    path = WorldModel.learned(hidden=(4,)).fit(data, cfg()).save(tmp_path / "P")
    before = _snapshot(path)
    other = WorldModel.hybrid(prior(), residual=MLP((4,))).fit(data, cfg())
    written = _fill_disk_at(monkeypatch, how, failing)
    with pytest.raises(
        OutputError,
        match=rf"Cannot write '.*P/{failing}': No space left on device \(ENOSPC\)\. Free some "
        r"disk space .*An earlier file there, if any, is unchanged",
    ):
        other.save(path)
    assert any(w.startswith(".config.json.") for w in written)  # it failed mid-way
    monkeypatch.undo()
    assert _snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["P"]  # no temporary left
    assert WorldModel.load(path).kind == "learned"
    assert other.save(path) == path and WorldModel.load(path).kind == "hybrid"
