"""ground_truth_energy: the energy of the system the episodes ran on, with their parameters."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import UnknownNameError
from hybridwm.evaluation import ground_truth_energy
from hybridwm.systems import get_scenario, get_system, simulate


@pytest.fixture(scope="module")
def heavy():
    return simulate(
        system="pendulum", scenario="id", n_trajectories=2, duration=0.2, seed=0,
        params={"mass": 2.0},
    )  # fmt: skip


def test_uses_the_parameters_recorded_with_the_data(heavy) -> None:
    energy = ground_truth_energy("pendulum", heavy)
    x = heavy[0].x
    want = get_system("pendulum").with_parameters(mass=2.0).energy(x)
    np.testing.assert_allclose(energy(x), want)
    assert not np.allclose(get_system("pendulum").energy(x), want)


def test_falls_back_to_the_scenario_then_the_defaults(heavy) -> None:
    bare = heavy.select([0])
    bare[0].meta.pop("parameters", None)
    x = bare[0].x
    shifted = ground_truth_energy("pendulum", bare, scenario="ood-params")
    params = get_scenario("pendulum", "ood-params").system_parameters(get_system("pendulum"))
    want = get_system("pendulum").with_parameters(**params).energy(x)
    np.testing.assert_allclose(shifted(x), want)
    np.testing.assert_allclose(
        ground_truth_energy("pendulum", bare)(x), get_system("pendulum").energy(x)
    )


def test_unknown_system_lists_valid_names(heavy) -> None:
    with pytest.raises(UnknownNameError, match=r"pendulum"):
        ground_truth_energy("pendulm", heavy)
