"""ground_truth_energy: the energy of the system the episodes ran on, with their parameters."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import ConfigError, UnknownNameError
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


@pytest.fixture(scope="module")
def cartpole():
    return simulate(system="cartpole", scenario="id", n_trajectories=1, duration=0.1, seed=0)


def test_data_of_another_system_name_both_systems(cartpole) -> None:
    # not the misleading "Unknown parameter 'cart_mass' of pendulum"
    with pytest.raises(ConfigError, match=r"recorded from system 'cartpole'") as e:
        ground_truth_energy("pendulum", cartpole)
    msg = str(e.value)
    assert "['x', 'theta', 'v', 'omega']" in msg and "['theta', 'omega']" in msg
    assert "--system cartpole" in msg and "cart_mass" not in msg


def test_states_of_another_system_without_a_recorded_name(cartpole) -> None:
    bare = cartpole.select([0])
    bare[0].meta.pop("system")
    want = r"The data's states \['x', 'theta', 'v', 'omega'\] do not match the states "
    with pytest.raises(ConfigError, match=want + r"\['theta', 'omega'\] of system 'pendulum'"):
        ground_truth_energy("pendulum", bare)


def test_parameters_of_another_system_are_named(heavy) -> None:
    renamed = heavy.select([0])
    renamed[0].meta.pop("system")
    renamed[0].meta["parameters"] = {"cart_mass": 1.0, "pole_mass": 0.1}
    want = r"\['cart_mass', 'pole_mass'\], which are not parameters of 'pendulum'"
    with pytest.raises(ConfigError, match=want + r".*parameters of 'cartpole'"):
        ground_truth_energy("pendulum", renamed)


def test_a_system_sharing_the_states_is_told_apart_by_its_recorded_name() -> None:
    acrobot = simulate(system="acrobot", scenario="id", n_trajectories=1, duration=0.1, seed=0)
    with pytest.raises(ConfigError, match=r"recorded from system 'acrobot'"):
        ground_truth_energy("reacher", acrobot)


def test_data_measuring_some_of_the_states_have_no_energy(cartpole) -> None:
    partial = TrajectorySet([
        Trajectory(t=tr.t, x=tr.x[:, 1:2], u=tr.u, state_names=("theta",),
                   action_names=tr.action_names, meta={})
        for tr in cartpole
    ])  # fmt: skip
    assert ground_truth_energy("cartpole", partial) is None
