"""Declared priors: parsing equations, parameters, latent states, fitting to data."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, DataError, ParseError, UnknownNameError
from hybridwm.physics import declare, fit_parameters, parse_lhs


def test_lhs_forms():
    for text in (
        "d(theta)",
        "d(theta)/dt",
        "dtheta/dt",
        "theta'",
        "theta_dot",
        " d( theta ) / dt ",
    ):
        assert parse_lhs(text) == "theta", text
    assert parse_lhs("theta") is None


def test_declare_terms_and_printing():
    prior = declare(
        {"dtheta/dt": "omega", "omega": "-w0^2*sin(theta) + (k + 1)*torque*cos(theta)"},
        parameters={"w0": 3.0, "k": 1.0},
        action_names=["torque"],
    )
    assert prior.state_names == ("theta", "omega")
    assert set(prior.feature_names) == {"omega", "sin(theta)", "torque*cos(theta)"}
    sym = prior.equations(symbolic=True)[1]
    assert sym == "d(omega)/dt = (k + 1)*torque*cos(theta) - w0^2*sin(theta)"
    assert prior.equations()[1] == "d(omega)/dt = 2*torque*cos(theta) - 9*sin(theta)"
    assert prior.coefficients.loc["omega", "sin(theta)"] == -9.0


def test_declare_errors():
    with pytest.raises(
        ParseError, match=r"(?s)equation for d\(omega\)/dt '-w0\*\*2 \* sin\(theta'.*position"
    ):
        declare(["d(theta) = omega", "d(omega) = -w0**2 * sin(theta"], parameters={"w0": 1.0})
    with pytest.raises(ParseError, match="exactly one '='"):
        declare(["d(theta) = omega = 2"])
    with pytest.raises(ParseError, match=r"Cannot read the left side 'theta' of equation 0"):
        declare(["theta = omega"])
    with pytest.raises(UnknownNameError, match=r"(?s)unknown name 'torque'.*pass action_names"):
        declare(["d(theta) = omega", "d(omega) = torque"])
    with pytest.raises(ConfigError, match=r"State\(s\) \['omega'\] have no equation"):
        declare(["d(theta) = omega"], state_names=["theta", "omega"])
    with pytest.raises(ConfigError, match="outside its bounds"):
        declare(["d(x) = -a*x"], parameters={"a": 5.0}, bounds={"a": (0, 1)})


def test_fit_frictionless_pendulum_w0(make_pendulum):
    data = make_pendulum(n=3, T=201)
    prior = declare(
        ["d(theta) = omega", "d(omega) = -w0**2 * sin(theta) - c*omega + k*torque"],
        parameters={"w0": 2.0, "c": 0.0, "k": 1.0},
        bounds={"w0": (0.0, 10.0)},
        action_names=["torque"],
    )
    fitted = fit_parameters(prior, data)
    vals = fitted.parameter_values
    assert vals["w0"] ** 2 == pytest.approx(14.715, rel=1e-3)
    assert vals["c"] == pytest.approx(0.15, rel=2e-2)
    assert vals["k"] == pytest.approx(3.0, rel=1e-3)
    assert fitted.info["fit"]["success"]
    fixed = fit_parameters(
        declare(
            ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + k*torque"],
            parameters={"w0": 3.0},
            fixed={"k": 3.0},
            action_names=["torque"],
        ),
        data,
    )
    assert fixed.parameter_values["k"] == 3.0
    assert fixed.parameter_values["w0"] ** 2 == pytest.approx(
        14.715, rel=2e-2
    )  # damping unmodelled


def test_latent_states(make_pendulum):
    data = make_pendulum(n=2, T=151)
    prior = declare(
        [
            "d(theta) = omega",
            "d(omega) = -w0**2*sin(theta) - c*omega + k*torque",
            "d(z) = -z + theta",
        ],
        parameters={"w0": 3.0, "c": 0.1, "k": 2.0},
        action_names=["torque"],
    )
    fitted = prior.fit_parameters(data)  # z is latent: its equation is not checked
    assert fitted.parameter_values["k"] == pytest.approx(3.0, rel=1e-3)
    coupled = declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + z", "d(z) = -z"],
        parameters={"w0": 3.0},
    )
    with pytest.raises(DataError, match=r"use latent state\(s\) \['z'\]"):
        fit_parameters(coupled, data)
    with pytest.raises(ConfigError, match="no free parameters"):
        fit_parameters(declare(["d(theta) = omega", "d(omega) = -theta"]), data)


def test_prior_score_like_discovered(make_pendulum):
    data = make_pendulum(n=2, T=151)
    prior = declare(
        ["d(theta) = omega", "d(omega) = -14.715*sin(theta) - 0.15*omega + 3*torque"],
        action_names=["torque"],
    )
    assert prior.score(data) > 0.9999
    assert np.all(prior.mask.sum(axis=1) == [1, 3])
