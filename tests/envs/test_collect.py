"""collect: Pendulum-v1 episodes (splitting, dt, names, metadata), vector envs, policies, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from hybridwm.data import TrajectorySet
from hybridwm.envs import collect, make_env, step_size
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError
from hybridwm.systems import SinesPolicy

from .conftest import ACTIONS, STATES


def pendulum(**kw) -> gym.Env:
    return gym.make("Pendulum-v1", **kw)


def test_episodes_time_names_and_metadata(tmp_path):
    data = collect(
        pendulum(g=9.81),
        episodes=3,
        seed=4,
        state_names=STATES,
        action_names=ACTIONS,
        max_episode_steps=25,
    )
    assert isinstance(data, TrajectorySet) and len(data) == 3
    assert data.state_names == STATES and data.action_names == ACTIONS
    for i, tr in enumerate(data):
        assert len(tr) == 26  # the reset observation and 25 steps
        np.testing.assert_allclose(tr.t, 0.05 * np.arange(26))
        np.testing.assert_array_equal(tr.u[-1], tr.u[-2])  # the last action repeated
        assert np.all(np.abs(tr.u) <= 2.0)
        assert np.allclose(tr.x[:, 0] ** 2 + tr.x[:, 1] ** 2, 1.0, atol=1e-6)
        meta = tr.meta
        assert meta["env_id"] == "Pendulum-v1" and meta["env_version"] == 1
        assert meta["env_kwargs"] == {"g": 9.81} and meta["dt"] == 0.05
        assert meta["episode"] == i and meta["end"] == "truncated" and meta["seed"] == 4
        assert meta["policy"] == "random" and meta["gymnasium_version"] == gym.__version__
    again = collect(pendulum(g=9.81), episodes=3, seed=4, max_episode_steps=25)
    np.testing.assert_array_equal(again[2].x, data[2].x)  # the seed decides everything
    back = TrajectorySet.read(data.write(tmp_path / "pendulum.parquet"))
    assert back[1].meta == data[1].meta


def test_the_observations_follow_the_actions():
    """Replaying an episode's actions in the environment gives its observations back."""
    data = collect(pendulum(), "piecewise", episodes=1, seed=1, max_episode_steps=40)
    tr = data[0]
    env = pendulum()
    obs, _ = env.reset(seed=1)
    np.testing.assert_allclose(tr.x[0], obs, atol=1e-6)
    for k in range(40):
        obs, *_ = env.step(tr.u[k].astype(np.float32))
        np.testing.assert_allclose(tr.x[k + 1], obs, atol=1e-6)
    holds = np.flatnonzero(np.diff(tr.u[:, 0]) != 0).size
    assert holds < 20  # piecewise constant: far fewer changes than steps


def test_termination_splits_episodes_and_seconds_cut_the_last():
    env = gym.make("InvertedPendulum-v5")
    data = collect(env, seconds=2.0, seed=0)
    ends = [tr.meta["end"] for tr in data]
    assert set(ends[:-1]) == {"terminated"} and ends[-1] == "cut"
    assert sum(len(tr) - 1 for tr in data) == 50  # 2 s / 0.04 s
    assert all(tr.meta["dt"] == pytest.approx(0.04) for tr in data)


def test_vector_environments_in_every_autoreset_mode():
    single = collect(pendulum(), episodes=3, seed=0, max_episode_steps=200)
    for mode in gym.vector.AutoresetMode:
        vec = gym.make_vec(
            "Pendulum-v1",
            num_envs=2,
            vector_kwargs={"autoreset_mode": mode},
            max_episode_steps=20,
        )
        data = collect(vec, episodes=5, seed=0)
        assert len(data) == 5 and set(data.lengths) == {21}, mode
        assert [tr.meta["copy"] for tr in data] == [0, 1, 0, 1, 0]
        assert data[0].meta["env_kwargs"] == {"max_episode_steps": 20}
        x0 = [tr.x[0] for tr in data]
        assert not np.allclose(x0[0], x0[2])  # a new episode after the autoreset
    assert single[0].meta["copy"] == 0


def test_seconds_of_a_vector_environment_keep_each_episode_once():
    vec = gym.make_vec("Pendulum-v1", num_envs=2, max_episode_steps=5)
    data = collect(vec, seconds=0.5, seed=0)  # 10 transitions: both copies end at once
    assert len(data) == 2 and [tr.meta["end"] for tr in data] == ["truncated"] * 2
    data = collect(vec, seconds=0.7, seed=0)
    assert [tr.meta["end"] for tr in data] == ["truncated"] * 2 + ["cut"] * 2
    assert sum(len(tr) - 1 for tr in data) == 14


def test_callable_and_open_loop_policies():
    gain = np.array([[-1.0, 0.0, -0.5]])
    data = collect(
        pendulum(),
        lambda obs: np.clip(gain @ obs, -2, 2),
        episodes=1,
        seed=0,
        max_episode_steps=10,
    )
    tr = data[0]
    np.testing.assert_allclose(tr.u[:-1, 0], np.clip(tr.x[:-1] @ gain[0], -2, 2), atol=1e-6)
    assert tr.meta["policy"] == "callable"
    vec = gym.make_vec("Pendulum-v1", num_envs=3, max_episode_steps=5)
    data = collect(vec, lambda obs: np.zeros((3, 1)), episodes=3, seed=0)
    assert np.all(data[0].u == 0)
    sines = collect(
        pendulum(), SinesPolicy(amplitude=0.5), episodes=1, seed=0, max_episode_steps=10
    )
    assert sines[0].meta["policy"] == "SinesPolicy" and np.all(np.abs(sines[0].u) <= 1.0)


def test_observation_fn_maps_observations_to_states():
    def angle(obs):
        return np.c_[np.unwrap(np.arctan2(obs[:, 1], obs[:, 0])), obs[:, 2]]

    data = collect(
        pendulum(),
        episodes=1,
        seed=0,
        observation_fn=angle,
        state_names=["theta", "theta_dot"],
        max_episode_steps=30,
    )
    tr = data[0]
    assert tr.state_names == ("theta", "theta_dot")
    # Pendulum-v1 integrates theta with the new velocity: theta[k+1] = theta[k] + dt*w[k+1]
    np.testing.assert_allclose(np.diff(tr.x[:, 0]), 0.05 * tr.x[1:, 1], atol=1e-5)


def test_step_size_sources():
    assert step_size(pendulum()) == 0.05
    with pytest.raises(ConfigError, match=r"`dt` of collect is 0.1 but the environment steps 0.05"):
        step_size(pendulum(), 0.1)
    env = gym.make("CartPole-v1")  # no dt attribute: tau; render_fps 50
    del_dt = gym.wrappers.TransformObservation(env, lambda o: o, env.observation_space)
    assert step_size(del_dt, 0.02) == 0.02
    with pytest.warns(UserWarning, match=r"using 1 / metadata\['render_fps'\] = 0.02 s"):
        assert step_size(del_dt) == pytest.approx(0.02)
    del_dt.unwrapped.metadata = {}
    with pytest.raises(ConfigError, match=r"states no step size.*Pass `dt`"):
        step_size(del_dt)


def test_collect_errors():
    env = pendulum()
    with pytest.raises(ConfigError, match="exactly one of `episodes`"):
        collect(env)
    with pytest.raises(ConfigError, match="exactly one of `episodes`"):
        collect(env, episodes=1, seconds=1.0)
    with pytest.raises(ConfigError, match="`episodes` of collect must be an integer >= 1"):
        collect(env, episodes=0)
    with pytest.raises(ConfigError, match="`seconds` of collect must be a number > 0"):
        collect(env, seconds=-1)
    with pytest.raises(ConfigError, match="`seed` of collect must be an integer >= 0"):
        collect(env, episodes=1, seed=-1)
    with pytest.raises(
        UnknownNameError, match=r"Unknown `policy` 'greedy'.*\['random', 'piecewise'\]"
    ):
        collect(env, "greedy", episodes=1)
    with pytest.raises(ConfigError, match="`policy` of collect must be one of"):
        collect(env, 3, episodes=1)
    with pytest.raises(ShapeError, match=r"`state_names` of collect has 2 names.*3 observation"):
        collect(env, episodes=1, state_names=["a", "b"])
    with pytest.raises(ShapeError, match=r"`action_names` of collect has 2 names"):
        collect(env, episodes=1, action_names=["a", "b"])
    with pytest.raises(ConfigError, match="`state_names` of collect must be a list of strings"):
        collect(env, episodes=1, state_names="theta")
    with pytest.raises(ShapeError, match=r"`policy` must return actions of shape \(1,\)"):
        collect(env, lambda obs: np.zeros(2), episodes=1)
    with pytest.raises(ShapeError, match="`observation_fn` of collect must map"):
        collect(env, episodes=1, observation_fn=lambda obs: obs[0], max_episode_steps=2)
    with pytest.raises(ConfigError, match="`observation_fn` of collect must be a callable"):
        collect(env, episodes=1, observation_fn=3)
    with pytest.raises(
        ConfigError, match=r"must be a gymnasium\.Env or gymnasium\.vector\.VectorEnv"
    ):
        collect("Pendulum-v1", episodes=1)
    with pytest.raises(ConfigError, match="action space must be a gymnasium Box"):
        collect(gym.make("CartPole-v1"), episodes=1)
    with pytest.raises(ConfigError, match=r"has no time limit.*`max_episode_steps`"):
        collect(gym.make("Pendulum-v1", max_episode_steps=None).unwrapped, episodes=1)
    with pytest.raises(ConfigError, match="applies to a single environment"):
        collect(gym.make_vec("Pendulum-v1", num_envs=2), episodes=1, max_episode_steps=5)
    with pytest.raises(ConfigError, match="draws actions within the action space's bounds"):
        box = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        collect(gym.wrappers.TransformAction(env, lambda a: np.clip(a, -2, 2), box), episodes=1)


def test_make_env_and_vector_errors():
    with pytest.raises(UnknownNameError, match="gymnasium cannot make the environment 'Nope-v0'"):
        make_env("Nope-v0")
    with pytest.raises(ConfigError, match=r"refused the parameters \{'mass': 2.0\}"):
        make_env("Pendulum-v1", mass=2.0)
    with pytest.raises(ConfigError, match="`num_envs` must be an integer >= 1"):
        make_env("Pendulum-v1", num_envs=0)
    assert make_env("Pendulum-v1", num_envs=2).num_envs == 2
    vec = gym.vector.SyncVectorEnv([pendulum, pendulum])
    vec.envs[1].unwrapped.dt = 0.1
    with pytest.raises(ConfigError, match=r"copies of the vector environment step with different"):
        collect(vec, episodes=1)
    vec = gym.make_vec("Pendulum-v1", num_envs=2)
    vec.metadata = {**vec.metadata, "autoreset_mode": "sometimes"}
    with pytest.raises(ConfigError, match=r"metadata\['autoreset_mode'\] is 'sometimes'"):
        collect(vec, episodes=1)


def test_policy_output_errors():
    env = pendulum()
    with pytest.raises(ShapeError, match="returned a non-finite action"):
        collect(env, lambda obs: np.array([np.nan]), episodes=1)
    with pytest.raises(ShapeError, match="The action `policy` returned must be numeric"):
        collect(env, lambda obs: "push", episodes=1)
