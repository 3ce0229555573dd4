"""Scenarios: loading from TOML, ID/OOD relations, validation."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.systems import Scenario, get_scenario, get_system, list_scenarios, list_systems

REQUIRED = {"train", "id", "ood-state", "ood-action", "ood-params"}


@pytest.mark.parametrize("system", ["pendulum", "cartpole", "acrobot", "reacher"])
def test_every_system_has_the_required_scenarios(system):
    assert REQUIRED <= set(list_scenarios(system))
    sys_ = get_system(system)
    for name in list_scenarios(system):
        sc = get_scenario(system, name)
        assert sc.name == name and sc.system == system and sc.description
        sc.check(sys_)
        assert set(sc.initial_state) == set(sys_.state_names)


@pytest.mark.parametrize("system", ["pendulum", "cartpole", "acrobot", "reacher"])
def test_ood_relations(system):
    sys_ = get_system(system)
    train, id_ = get_scenario(system, "train"), get_scenario(system, "id")
    assert train.seed_offset != id_.seed_offset
    assert {
        k: v for k, v in train.to_dict().items() if k not in ("name", "description", "seed_offset")
    } == {k: v for k, v in id_.to_dict().items() if k not in ("name", "description", "seed_offset")}
    # ood-state: every initial state falls outside the train box
    x0 = get_scenario(system, "ood-state").sample_initial_states(
        sys_, 200, np.random.default_rng(0)
    )
    box = train.box(sys_)
    outside = ((x0 < box[:, 0]) | (x0 > box[:, 1])).any(axis=1)
    assert outside.all()
    assert (x0[:, 0] > 0).any() and (x0[:, 0] < 0).any()  # symmetric: both signs
    # ood-action: another policy or a larger amplitude
    act = get_scenario(system, "ood-action")
    assert act.policy != train.policy or act.policy_kwargs != train.policy_kwargs
    assert act.policy_kwargs.get("amplitude", 0) > train.policy_kwargs["amplitude"]
    # ood-params: shifted parameters
    assert get_scenario(system, "ood-params").system_parameters(sys_) != train.system_parameters(
        sys_
    )
    assert train.system_parameters(sys_) == sys_.defaults


def test_train_box_contains_train_samples():
    sys_ = get_system("cartpole")
    sc = get_scenario("cartpole", "train")
    x0 = sc.sample_initial_states(sys_, 100, np.random.default_rng(0))
    box = sc.box(sys_)
    assert ((x0 >= box[:, 0]) & (x0 <= box[:, 1])).all()


def test_scenario_round_trips_through_a_file(tmp_path):
    sc = get_scenario("pendulum", "ood-params")
    path = sc.save(tmp_path / "scenario.json")
    again = Scenario.from_file(path)
    assert again == sc


def test_unknown_names_list_valid_ones():
    with pytest.raises(
        UnknownNameError, match=r"Unknown system 'pendulim'.*'acrobot', 'acrobot-rig', 'cartpole'"
    ):
        get_scenario("pendulim", "train")
    with pytest.raises(
        UnknownNameError, match=r"Unknown scenario of pendulum 'ood'.*'id', 'ood-action'"
    ):
        get_scenario("pendulum", "ood")
    assert list_systems() == sorted(list_systems())


def test_a_scenario_without_a_system_checks_only_its_own_settings():
    sc = Scenario(name="x", initial_state={"theta": [0, 1]}, policy_kwargs={"amplitude": 0.2})
    assert sc.initial_state == {"theta": (0.0, 1.0)} and sc.make_policy().amplitude == 0.2


def test_scenario_validation_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown policy 'bang-bang'"):
        Scenario(name="x", policy="bang-bang")
    with pytest.raises(
        ConfigError, match=r"`initial_state.theta` of scenario 'x' must be finite with low <= high"
    ):
        Scenario(name="x", initial_state={"theta": [1.0, -1.0]})
    with pytest.raises(ConfigError, match=r"`duration` of scenario 'x' must be >= `dt`"):
        Scenario(name="x", duration=0.001, dt=0.01)
    with pytest.raises(
        UnknownNameError, match=r"Unknown state 'phi' in `initial_state`.*'theta', 'omega'"
    ):
        Scenario(name="x", system="pendulum", initial_state={"phi": [0, 1]})
    with pytest.raises(
        UnknownNameError, match=r"Unknown parameter 'weight' of pendulum in `parameter_scales`"
    ):
        Scenario(name="x", system="pendulum", parameter_scales={"weight": 2.0})
    with pytest.raises(ConfigError, match=r"Parameter `mass` of pendulum.*> 0\. Got -1\.0"):
        Scenario(name="x", system="pendulum", parameters={"mass": -1.0})
    with pytest.raises(ConfigError, match=r"Scenario.parameter_scales.mass must be greater than 0"):
        Scenario(name="x", system="pendulum", parameter_scales={"mass": 0.0})
    with pytest.raises(ConfigError, match=r"Scenario.n_trajectories must be a valid integer"):
        Scenario(name="x", n_trajectories=True)
    with pytest.raises(ConfigError, match=r"Scenario.initial_state.theta must be a valid tuple"):
        Scenario(name="x", initial_state={"theta": 1.0})
