"""WorldModelVectorEnv: shapes, the three autoreset modes, one model call per step, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from hybridwm.envs import WorldModelEnv, WorldModelVectorEnv
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError

from .conftest import DT, reward

N = 5
X0 = np.array([1.0, 0.0, 0.5])
BOX = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def start(rng, n):
    return np.tile(X0, (n, 1))


def make_vec(model, **kw) -> WorldModelVectorEnv:
    kw.setdefault("action_space", BOX)
    num_envs = kw.pop("num_envs", N)
    reset_fn = kw.pop("reset_fn", start)
    return WorldModelVectorEnv(model, num_envs, reward, reset_fn=reset_fn, dt=DT, **kw)


def test_spaces_metadata_and_one_model_call_per_step(models, monkeypatch):
    model = models["hybrid"]
    env = make_vec(model)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert env.observation_space.shape == (N, 3) and env.action_space.shape == (N, 1)
    assert env.single_action_space == BOX
    obs, info = env.reset(seed=0)
    assert obs.shape == (N, 3) and info == {}
    calls = []
    step = model.step
    monkeypatch.setattr(model, "step", lambda x, u, dt: calls.append(x.shape) or step(x, u, dt))
    actions = env.action_space.sample()
    obs, rewards, terminated, truncated, info = env.step(actions)
    assert calls == [(N, 3)]  # one call for all copies
    assert obs.shape == (N, 3) and rewards.shape == terminated.shape == truncated.shape == (N,)
    assert terminated.dtype == bool and truncated.dtype == bool
    assert not info["diverged"].any() and info["_diverged"].all()


def test_copies_step_like_single_environments(models):
    model = models["physics"]
    vec = make_vec(model, reset_fn=None)
    obs, _ = vec.reset(seed=1)
    np.testing.assert_array_equal(make_vec(model, reset_fn=None).reset(seed=1)[0], obs)
    actions = np.linspace(-1.5, 1.5, N)[:, None]
    batch = vec.step(actions)
    for i in range(N):
        single = WorldModelEnv(model, reward, dt=DT)
        single.reset(options={"state": obs[i]})
        o, r, *_ = single.step(actions[i])
        np.testing.assert_allclose(batch[0][i], o, rtol=0, atol=1e-12)
        assert batch[1][i] == pytest.approx(r, abs=1e-12)


def _run(env, steps):
    env.reset(seed=0)
    out = []
    for _ in range(steps):
        out.append(env.step(np.zeros((N, 1))))
    return out


def test_next_step_autoreset(models):
    env = make_vec(models["learned"], max_episode_steps=2)
    out = _run(env, 4)
    assert not out[0][3].any() and out[1][3].all()  # truncated after two steps
    obs, rewards, terminated, truncated, info = out[2]  # the reset step
    np.testing.assert_array_equal(obs, np.tile(X0, (N, 1)))
    assert not rewards.any() and not terminated.any() and not truncated.any()
    assert not info["_diverged"].any()  # no transition happened
    assert not out[3][3].any() and info["_diverged"].shape == (N,)


def test_same_step_autoreset(models):
    env = make_vec(models["learned"], max_episode_steps=2, autoreset_mode="same_step")
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    out = _run(env, 3)
    obs, _, _, truncated, info = out[1]
    assert truncated.all() and info["_final_obs"].all()
    np.testing.assert_array_equal(obs, np.tile(X0, (N, 1)))  # already the next episode
    assert not np.allclose(info["final_obs"][0], X0)
    assert "final_obs" not in out[2][4]  # the next step is an ordinary one


def test_disabled_autoreset_needs_a_masked_reset(models):
    env = make_vec(models["learned"], max_episode_steps=1, autoreset_mode="disabled")
    env.reset(seed=0)
    env.step(np.zeros((N, 1)))
    with pytest.raises(ConfigError, match='autoreset_mode is "disabled": reset them'):
        env.step(np.zeros((N, 1)))
    mask = np.zeros(N, dtype=bool)
    mask[:2] = True
    before = env._state.copy()
    obs, _ = env.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(obs[:2], np.tile(X0, (2, 1)))
    np.testing.assert_array_equal(obs[2:], before[2:])
    with pytest.raises(ConfigError, match="have ended"):
        env.step(np.zeros((N, 1)))


def test_params_apply_to_every_copy_until_the_next_reset(models):
    env = make_vec(models["physics"], max_episode_steps=1, autoreset_mode="same_step")
    env.reset(options={"params": {"b": 6.0}})
    fast = env.step(np.ones((N, 1)))[4]["final_obs"][0]
    slow_env = make_vec(models["physics"])
    slow_env.reset()
    slow = slow_env.step(np.ones((N, 1)))[0][0]
    assert fast[2] > slow[2] + 0.1
    again = env.step(np.ones((N, 1)))[4]["final_obs"][0]  # after an autoreset: still b = 6
    np.testing.assert_array_equal(again, fast)


def test_vector_errors(models):
    model = models["learned"]
    with pytest.raises(ConfigError, match="`num_envs` of WorldModelVectorEnv must be an integer"):
        make_vec(model, num_envs=0)
    with pytest.raises(UnknownNameError, match=r"Unknown `autoreset_mode` 'later'.*next_step"):
        make_vec(model, autoreset_mode="later")
    env = make_vec(model)
    with pytest.raises(ConfigError, match=r"Call reset\(\) before step\(\)"):
        env.step(np.zeros((N, 1)))
    with pytest.raises(ConfigError, match="The first reset must reset every copy"):
        env.reset(options={"reset_mask": np.eye(N, dtype=bool)[0]})
    env.reset(seed=0)
    with pytest.raises(
        ShapeError, match=r"action of WorldModelVectorEnv.step must have shape \(5, 1\)"
    ):
        env.step(np.zeros(N))
    with pytest.raises(ShapeError, match=r'options\["reset_mask"\]` of reset must be a bool array'):
        env.reset(options={"reset_mask": np.ones(N)})
    with pytest.raises(ConfigError, match="change the model of every copy"):
        env.reset(options={"reset_mask": np.eye(N, dtype=bool)[0], "params": {"a": 1.0}})
    with pytest.raises(ShapeError, match=r'options\["state"\] of reset` must have shape \(5, 3\)'):
        env.reset(options={"state": X0})
