"""score(model, dataset): a fitted WorldModel scored by the official protocol (the window only
for the initial state, free run, RMSE after it), on a short slice of EMPS; the whole test record
(8.44 mm with the published parameters) is a slow check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hybridwm.data import TrajectorySet
from hybridwm.datasets import emps, official_rmse
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.evaluation.official_score import score
from hybridwm.models import WorldModel
from hybridwm.physics import load_prior
from hybridwm.training import TrainConfig

PRIOR = "benchmarks/emps_prior.toml"


def cfg(**kw):
    return TrainConfig(**{"steps": 2, "horizon": 10, "progress": False, "threads": 1, **kw})


@pytest.fixture(scope="module")
def em():
    return emps()


@pytest.fixture(scope="module")
def short(em):
    """EMPS with its test record cut to 400 samples (the first force pulse starts at 344)."""
    test = TrajectorySet([em.split("test")[0].slice(0, 400)])
    return dataclasses.replace(em, splits={**em.splits, "test": test})


@pytest.fixture(scope="module")
def physics(em):
    """The prior with the published parameters, frozen; only the velocity encoder trains."""
    train = TrajectorySet([em.split("estimation")[0].slice(0, 300)])
    return WorldModel.physics(load_prior(PRIOR), trainable=False, encoder_window=4).fit(
        train, cfg()
    )


def test_score_follows_the_protocol(physics, short):
    s = score(physics, short)
    (tr,) = short.split("test")
    pred = s.predictions["test"]
    assert s.unit == "mm" and s.n_init == 20 and pred.shape == (400,)
    assert s.rmse["test"] == official_rmse(tr.x[:, 0], pred, 20, 1000.0)
    # the initial velocity is fitted to the window: the first 20 outputs within 10 um
    assert np.abs(pred[:20] - tr.x[:20, 0]).max() < 1e-5
    # the physics with the published parameters stays within a few mm over 0.4 s
    assert 0.0 < s.rmse["test"] < 3.0
    # the outputs after the window are never seen: changing them changes no prediction
    moved = TrajectorySet([tr.replace(x=tr.x + np.where(np.arange(400) >= 20, 1.0, 0.0)[:, None])])
    again = score(physics, dataclasses.replace(short, splits={**short.splits, "test": moved}))
    np.testing.assert_array_equal(again.predictions["test"], pred)


@pytest.mark.filterwarnings("ignore:Training ran")
def test_score_refuses_unfitted_foreign_or_wide_window_models(physics, short, em):
    with pytest.raises(ConfigError, match="`model` must be a fitted WorldModel"):
        score(WorldModel.physics(load_prior(PRIOR)), short)
    renamed = TrajectorySet(
        [tr.replace(state_names=("position",)) for tr in short.split("estimation")[:1]]
    )
    with pytest.raises(ShapeError, match=r"`model` measures \['q'\].*outputs \['position'\]"):
        score(physics, dataclasses.replace(short, splits={"test": renamed}))
    train = TrajectorySet([em.split("estimation")[0].slice(0, 300)])
    wide = WorldModel.physics(load_prior(PRIOR), trainable=False, encoder_window=24).fit(
        train, cfg(steps=1, horizon=30)
    )
    with pytest.raises(ConfigError, match=r"encoder reads 24 samples, more than .* \(20\)"):
        score(wide, short)


@pytest.mark.slow
def test_whole_test_record_reproduces_the_physics_reference(physics, em):
    # README: 8.44 mm from qm[19] and a central difference; here the velocity is fitted to
    # the whole 20-sample window instead, which starts the drift slightly differently
    assert score(physics, em).rmse["test"] == pytest.approx(8.44, rel=0.01)
