"""Which states are angles: the physics model's, those recorded with the data, or a guess."""

from __future__ import annotations

import numpy as np

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.physics import PhysicsModel, discover, infer_angles
from hybridwm.physics.angles import recorded_angles


def _data(meta: dict) -> TrajectorySet:
    """A pendulum-like record whose states have names that do not look like angles."""
    t = np.arange(200) * 0.01
    x = np.column_stack([0.8 * np.cos(2.0 * t), -1.6 * np.sin(2.0 * t)])
    return TrajectorySet([Trajectory(t, x, None, ("s", "v"), (), meta)])


def test_recorded_angles_come_from_meta_and_are_restricted_to_the_states() -> None:
    assert recorded_angles(_data({"angles": ["s", "elsewhere"]})) == ("s",)
    assert recorded_angles(_data({"angles": []})) is None
    assert recorded_angles(_data({"system": "pendulum"})) is None
    assert recorded_angles(_data({})) is None


def test_infer_angles_prefers_physics_then_data_then_names() -> None:
    data = _data({"angles": ["v"]})
    assert infer_angles(("s", "v"), data=data) == ("v",)
    assert infer_angles(("s", "v"), data=_data({})) == ()
    assert infer_angles(("theta", "omega"), data=_data({})) == ("theta",)
    told = PhysicsModel(("s", "v"), (), ["s", "v"], np.eye(2), info={"config": {"angles": ["s"]}})
    assert infer_angles(("s", "v"), physics=told, data=data) == ("s",)


def test_trig_library_uses_the_recorded_angles() -> None:
    model = discover(_data({"angles": ["s"]}), library="trig", threshold=0.01)
    assert "sin(s)" in model.feature_names and "sin(v)" not in model.feature_names


def test_systems_simulated_by_hybridwm_record_their_angles(mujoco_pendulum) -> None:
    assert recorded_angles(mujoco_pendulum) == ("theta",)
    assert infer_angles(mujoco_pendulum.state_names, data=mujoco_pendulum) == ("theta",)
