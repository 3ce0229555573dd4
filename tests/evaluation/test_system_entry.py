"""What a benchmark run records about each system's discovered equations (results.json)."""

from __future__ import annotations

import pytest

from hybridwm.evaluation import load_preset
from hybridwm.evaluation.coefficients import system_entry
from hybridwm.physics import DiscoverConfig, discover


@pytest.fixture(scope="module")
def cartpole_train():
    from hybridwm.systems import simulate

    return simulate(system="cartpole", scenario="train", n_trajectories=8, duration=2.0, seed=0)


def test_rational_cartpole_compares_numerators_and_denominator_with_the_truth(
    cartpole_train,
) -> None:
    cfg = DiscoverConfig.from_dict(load_preset("full").discover["cartpole"])
    phys = discover(cartpole_train, config=cfg)
    entry = system_entry("cartpole", phys)
    found, truth = entry.coefficients, entry.true_coefficients
    assert entry.note is None
    # numerators are named without the denominator, and D's terms are pseudo-features
    assert found["v"]["force"] == pytest.approx(truth["v"]["force"], rel=0.01)
    assert found["omega"]["force*cos(theta)"] == pytest.approx(
        truth["omega"]["force*cos(theta)"], rel=0.01
    )
    assert found["v"]["D: cos(theta)^2"] == pytest.approx(truth["v"]["D: cos(theta)^2"], abs=2e-3)
    assert entry.equations[2].endswith(")")  # "(numerator) / (denominator)"


def test_approximate_cartpole_gets_a_note_instead_of_true_coefficients(
    cartpole_train,
) -> None:
    phys = discover(cartpole_train, config=DiscoverConfig(library="trig", angles=("theta",)))
    entry = system_entry("cartpole", phys)
    assert entry.true_coefficients is None
    assert "denominator=..." in entry.note
    assert "true_coefficients" not in entry.to_dict()  # absent parts are left out of the file
