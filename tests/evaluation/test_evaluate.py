"""evaluate(): the one scoring of open-loop predictions (nRMSE and RMSE in data units), on the
predictor WorldModel.predict uses."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import LinearPhysics, PendulumPhysics, reference_dataset
from hybridwm.errors import DataError, ShapeError
from hybridwm.evaluation import evaluate, predict_arrays
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)  # misses the damping
CFG = TrainConfig(epochs=1, horizon=5, progress=False)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    return reference_dataset(TRUE, 5, 30, 0.05, seed=1)


@pytest.fixture(scope="module")
def model(data) -> WorldModel:
    return WorldModel.physics(PHYS).fit(data, CFG)


def test_rmse_in_data_units_beside_nrmse(model, data):
    scale = np.array([0.5, 2.0])
    ev = evaluate(model, data, scale=scale)
    err = np.concatenate([p.x - tr.x for p, tr in zip(model.predict(data), data, strict=True)])
    per_state = np.sqrt(np.mean(err**2, axis=0))
    assert list(ev.per_state_rmse) == ["theta", "omega"]
    np.testing.assert_allclose(list(ev.per_state_rmse.values()), per_state, rtol=1e-12)
    np.testing.assert_allclose(list(ev.per_state.values()), per_state / scale, rtol=1e-12)
    assert ev.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-12)
    assert ev.metrics["nrmse"] == pytest.approx(np.mean(per_state / scale), rel=1e-12)
    assert ev.metrics["rmse"] > 0 and ev.metrics["diverged"] == 0


def test_predictions_are_the_models_and_ready_to_write(model, data):
    r = np.random.default_rng(0)
    ragged = [data[0].slice(0, 12), data[1]]
    ragged += [
        tr.replace(t=tr.t + np.r_[0.0, r.uniform(-0.004, 0.004, len(tr) - 1)]) for tr in data[2:]
    ]
    ragged = TrajectorySet(ragged)
    ev = evaluate(model, ragged)
    pred = model.predict(ragged)
    for a, b, p in zip(ev.pred, pred, ev.predictions, strict=True):
        np.testing.assert_array_equal(a, b.x)
        np.testing.assert_array_equal(p.x, b.x)
        np.testing.assert_array_equal(p.t, b.t)
        assert p.meta["prediction"] == "physics" and p.meta["diverged"] is False
    times, truth, arrays = predict_arrays(model, ragged)
    assert [len(t) for t in times] == [12, 31, 31, 31, 31]
    np.testing.assert_array_equal(truth[2], ragged[2].x)
    for a, b in zip(arrays, ev.pred, strict=True):
        np.testing.assert_array_equal(a, b)
    euler = evaluate(model, data, solver="euler")
    np.testing.assert_array_equal(euler.pred[0], model.predict(data, solver="euler")[0].x)
    assert not np.array_equal(euler.pred[0], evaluate(model, data).pred[0])


def test_diverged_episodes_make_rmse_infinite(data):
    unstable = LinearPhysics(
        np.array([[1e4, 0], [0, 1e4]]), np.zeros((2, 1)), ("theta", "omega"), ("torque",)
    )
    ev = evaluate(WorldModel.physics(unstable).fit(data, CFG), data)
    assert ev.metrics["diverged"] == len(data)
    assert ev.metrics["rmse"] == np.inf and ev.metrics["nrmse_finite"] == np.inf
    assert all(v == np.inf for v in ev.per_state_rmse.values())
    # the predicted episodes keep the diverged values (|x| > 1e6, inf or NaN)
    assert all(np.nanmax(np.abs(p.x)) > 1e6 for p in ev.predictions)


def test_evaluate_input_errors(model, data):
    with pytest.raises(DataError, match=r"`data` of evaluate must be a TrajectorySet. Got list"):
        evaluate(model, list(data))  # type: ignore[arg-type]
    renamed = TrajectorySet(tr.replace(state_names=("a", "b")) for tr in data)
    with pytest.raises(ShapeError, match=r"The data have states \['a', 'b'\].*fitted on states"):
        evaluate(model, renamed)


class _Fake:
    """A 'model' whose prediction is a fixed function of the recorded episode."""

    def __init__(self, fn):
        self.fn = fn

    def predict(self, data, **_options):
        return TrajectorySet([tr.replace(x=self.fn(tr.x)) for tr in data])


def _off(x):
    return 0.9 * x + 0.1 * x[:1]  # a biased but sane prediction


def test_divergence_is_judged_on_the_datas_own_scale(data):
    """Issue 19, item 4: data in large units (an encoder in counts) are not 'diverged'."""
    big = TrajectorySet([tr.replace(x=tr.x * 1e7) for tr in data])
    assert max(np.abs(tr.x).max() for tr in big) > 1e6
    ev, ev_big = evaluate(_Fake(_off), data), evaluate(_Fake(_off), big)
    assert ev_big.metrics["diverged"] == 0 == ev.metrics["diverged"]
    for key in ("nrmse", "nrmse_finite", "vpt"):
        assert ev_big.metrics[key] == pytest.approx(ev.metrics[key], rel=1e-9), key
    assert np.isfinite(ev_big.metrics["nrmse"])
    assert ev_big.metrics["rmse"] == pytest.approx(1e7 * ev.metrics["rmse"], rel=1e-9)
    # and in tiny units too
    tiny = TrajectorySet([tr.replace(x=tr.x * 1e-7) for tr in data])
    assert evaluate(_Fake(_off), tiny).metrics["nrmse"] == pytest.approx(ev.metrics["nrmse"])


def test_an_exploding_prediction_is_still_diverged_in_any_units(data):
    def explode(x):
        out = x.copy()
        out[len(x) // 2 :] *= 1e9  # finite, but a billion times the data's range
        return out

    for c in (1.0, 1e7, 1e-7):
        scaled = TrajectorySet([tr.replace(x=tr.x * c) for tr in data])
        ev = evaluate(_Fake(explode), scaled)
        assert ev.metrics["diverged"] == len(data), c
        assert ev.metrics["nrmse"] == np.inf and ev.metrics["rmse"] == np.inf
