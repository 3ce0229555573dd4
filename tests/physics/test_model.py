"""PhysicsModel: printing, predict, simulate, score, comparison and JSON round trips."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from hybridwm.errors import DataError, FormatError, IncompatibleVersionError, ShapeError
from hybridwm.physics import PhysicsModel, declare, discover


@pytest.fixture(scope="module")
def model(pendulum_data):
    return discover(pendulum_data, library="trig", threshold=0.05)


def test_attributes_and_frames(model):
    assert model.state_names == ("theta", "omega") and model.action_names == ("torque",)
    assert model.feature_names == ["1", "sin(theta)", "cos(theta)", "omega", "torque"]
    df = model.coefficients
    assert list(df.index) == ["theta", "omega"] and df.loc["omega", "torque"] == pytest.approx(
        3, rel=1e-3
    )
    assert model.coef_std is None and model.inclusion_probability is None
    assert "\\dot{\\omega} &=" in model.to_latex()
    eqs = model.latex_equations()
    assert len(eqs) == 2 and eqs[1].startswith("\\dot{\\omega} = ")
    assert not any("aligned" in e or "&" in e for e in eqs)  # each stands on its own


def test_predict_shapes_and_errors(model, rng):
    x = rng.normal(size=(3, 4, 2))
    u = rng.normal(size=(3, 4, 1))
    dx = model.predict(x, u)
    assert dx.shape == (3, 4, 2)
    c = model.coefficients
    want = (
        c.loc["omega", "sin(theta)"] * np.sin(x[..., 0])
        + c.loc["omega", "omega"] * x[..., 1]
        + c.loc["omega", "torque"] * u[..., 0]
    )
    np.testing.assert_allclose(dx[..., 1], want, rtol=1e-12)
    with pytest.raises(
        ShapeError, match=r"`u` of predict must have shape \(\.\.\., 1\) for actions \['torque'\]"
    ):
        model.predict(x, np.zeros((3, 4, 2)))
    with pytest.raises(ShapeError, match="is required"):
        model.predict(x)
    with pytest.raises(ShapeError, match=r"`x` of predict must have shape \(\.\.\., 2\)"):
        model.predict(np.zeros((4, 3)), np.zeros((4, 1)))


def test_simulate_matches_scipy_with_held_actions(model, rng):
    t = np.arange(51) * 0.02
    x0 = rng.uniform(-1, 1, size=(3, 2))
    u = rng.uniform(-1, 1, size=(3, 51, 1))
    out = model.simulate(x0, u, t, substeps=2)
    assert out.shape == (3, 51, 2)
    np.testing.assert_array_equal(out[:, 0], x0)
    for i in range(3):
        ref = [x0[i]]
        for k in range(50):
            sol = solve_ivp(
                lambda _t, y, uk=u[i, k]: model.predict(y, uk),
                (t[k], t[k + 1]),
                ref[-1],
                rtol=1e-12,
                atol=1e-12,
            )
            ref.append(sol.y[:, -1])
        np.testing.assert_allclose(out[i], np.array(ref), atol=5e-7)
    single = model.simulate(x0[0], u[0, :-1], t, substeps=2)  # T-1 actions are enough
    np.testing.assert_allclose(single, out[0])
    with pytest.raises(ShapeError, match=r"`u` of simulate must have shape \(3, 51, 1\)"):
        model.simulate(x0, rng.normal(size=(3, 51, 2)), t)


def test_score_and_compare(model, pendulum_data, true_pendulum):
    assert model.score(pendulum_data) > 0.999
    per = model.score(pendulum_data, per_state=True)
    assert set(per) == {"theta", "omega"}
    df = model.compare(
        {"d(omega)/dt": {"sin(theta)": -14.715, "torque": 3.0}, "theta": {"omega": 1}}
    )
    assert df["rel_error"].max() < 1e-3
    assert set(df["feature"]) >= {"sin(theta)", "torque", "omega"}

    # what TrueEquations offers: a `coefficients` mapping
    known = SimpleNamespace(
        coefficients={"omega": {"sin(theta)": -14.715, "torque": 3.0}, "theta": {"omega": 1}}
    )
    pd.testing.assert_frame_equal(model.compare(known), df)
    with pytest.raises(DataError, match="must be a mapping"):
        model.compare([1, 2])


def test_json_round_trip_exact(model, tmp_path):
    path = model.save(tmp_path / "physics.json")
    back = PhysicsModel.load(path)
    np.testing.assert_array_equal(back.coef_array, model.coef_array)
    assert back.feature_names == model.feature_names and back.equations() == model.equations()
    assert PhysicsModel.from_json(model.to_json()).to_dict() == json.loads(model.to_json())
    doc = json.loads(path.read_text())
    assert doc["format"] == "hybridwm.physics" and doc["format_version"] == 1
    assert doc["features"][1] == "sin(theta)"


def test_json_errors(model, tmp_path):
    doc = model.to_dict()
    with pytest.raises(
        IncompatibleVersionError, match="format_version 99, but this hybridwm reads version 1"
    ):
        PhysicsModel.from_dict({**doc, "format_version": 99})
    with pytest.raises(FormatError, match=r"missing required field\(s\) \['coefficients'\]"):
        PhysicsModel.from_dict({k: v for k, v in doc.items() if k != "coefficients"})
    with pytest.raises(FormatError, match="no 'format_version'"):
        PhysicsModel.from_dict({k: v for k, v in doc.items() if k != "format_version"})
    with pytest.raises(FormatError, match="not a hybridwm physics model"):
        PhysicsModel.from_dict({"format": "other"})
    with pytest.raises(FormatError, match=r"is invalid: coefficients must have shape \(2, 5\)"):
        PhysicsModel.from_dict({**doc, "coefficients": [[0.0]]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        PhysicsModel.load(bad)
    evil = {**doc, "features": ["__import__('os').system('true')", *doc["features"][1:]]}
    with pytest.raises(FormatError, match="only plain function calls"):
        PhysicsModel.from_dict(evil)


def test_declared_round_trip():
    prior = declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) - c*omega + k*torque"],
        parameters={"w0": 3.0, "c": 0.1, "k": 2.0},
        bounds={"w0": (0, 10)},
        fixed=["k"],
        action_names=["torque"],
    )
    back = PhysicsModel.from_json(prior.to_json())
    assert back.parameters == prior.parameters
    assert back.equations(symbolic=True) == prior.equations(symbolic=True)
    np.testing.assert_array_equal(back.coef_array, prior.coef_array)
