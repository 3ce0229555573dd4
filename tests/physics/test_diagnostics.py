"""Honest diagnostics: each check warns with a DiscoveryWarning that names the next step."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.physics import DiscoverConfig, PhysicsModel, discover
from hybridwm.physics.diagnostics import (
    DiscoveryWarning,
    collinearity,
    divergence,
    flagged_samples,
    heldout_fit,
)


def test_poor_heldout_fit_warns_and_is_recorded(pendulum_data):
    with pytest.warns(DiscoveryWarning, match=r"Held-out R² below 0\.9.*Next: look for samples"):
        model = discover(pendulum_data, library="trig", threshold=1e4)
    checks = [f["check"] for f in model.info["diagnostics"]]
    assert "heldout_r2" in checks
    assert heldout_fit({"omega": 0.99}) == []


def test_a_good_model_gives_no_finding(pendulum_data):
    model = discover(pendulum_data, config=DiscoverConfig(library="trig"))
    assert model.info["diagnostics"] == []


def test_divergence_on_the_training_episodes(pendulum_data):
    model = PhysicsModel(["theta", "omega"], ["torque"], ["theta", "omega"], [[0, 60.0], [60.0, 0]])
    (found,) = divergence(model, pendulum_data)
    assert found["episodes"] == [0, 1, 2, 3]
    assert "diverges on 4 of the 4 training episodes" in found["message"]
    assert "Next: mask samples at limits" in found["message"]


def test_collinear_chosen_terms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    theta = np.column_stack([a, a + 1e-4 * rng.normal(size=500), rng.normal(size=500)])
    (found,) = collinearity(theta, np.array([[1.0, 1.0, 0.0]]), ["y"], ["a", "a2", "b"])
    assert found["terms"] == ["a", "a2"] and found["condition_number"] > 1e3
    assert "drop one of the look-alike features" in found["message"]
    assert collinearity(theta, np.array([[1.0, 0.0, 1.0]]), ["y"], ["a", "a2", "b"]) == []


def test_samples_flagged_at_limits_are_reported(pendulum_data):
    flagged = []
    for i, tr in enumerate(pendulum_data):
        at_limit = np.zeros(len(tr), bool)
        if i == 1:
            at_limit[100:130] = True
        meta = {
            **tr.meta,
            "events": {"at_limit": at_limit.tolist(), "in_contact": [False] * len(tr)},
        }
        flagged.append(Trajectory(tr.t, tr.x, tr.u, tr.state_names, tr.action_names, meta))
    data = TrajectorySet(flagged)
    (found,) = flagged_samples(data)
    assert (found["event"], found["samples"], found["episodes"]) == ("at_limit", 30, [1])
    with pytest.warns(DiscoveryWarning, match=r"30 of 1204 samples .* flagged 'at_limit'.*mask"):
        discover(data, config=DiscoverConfig(library="trig"))
    assert flagged_samples(pendulum_data) == []
