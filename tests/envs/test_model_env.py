"""WorldModelEnv: gymnasium's checker for every model kind, physics variations, and errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hybridwm.envs import WorldModelEnv, parameter_names, vary
from hybridwm.errors import ConfigError, NotFittedError, ShapeError, UnknownNameError
from hybridwm.models import KINDS, WorldModel
from hybridwm.physics import DiscoverConfig, discover

from .conftest import DT, STATES, pendulum_prior, reward

X0 = np.array([1.0, 0.0, 0.5])  # hanging... upright (cos 1), spinning slowly


def make_env(model, **kw) -> WorldModelEnv:
    kw.setdefault("action_space", gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
    return WorldModelEnv(model, reward, dt=DT, **kw)


# check_env's advice about unbounded observations and an action range other than [-1, 1]:
# a model's states are unbounded, and the action space is the real environment's
@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")
@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space:UserWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_check_env_passes_for_every_kind(models, kind):
    env = make_env(models[kind], max_episode_steps=20)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs) and env.state_names == STATES


@pytest.mark.parametrize("kind", KINDS)
def test_step_is_the_models_step_and_truncates(models, kind):
    model = models[kind]
    env = make_env(model, max_episode_steps=3)
    obs, _ = env.reset(options={"state": X0})
    np.testing.assert_array_equal(obs, X0)
    u = np.array([0.7], dtype=np.float32)
    obs, r, terminated, truncated, info = env.step(u)
    want = model.step(X0[None], u[None].astype(np.float64), DT)[0]
    np.testing.assert_allclose(obs, want, rtol=0, atol=1e-12)
    assert r == pytest.approx(reward(X0[None], u[None], want[None])[0])
    assert not terminated and not truncated and info == {"diverged": False}
    env.step(u)
    assert env.step(u)[3]  # the third step reaches max_episode_steps


def test_termination_fn_and_reset_fn(models):
    def fallen(state, action, next_state):
        return next_state[:, 0] < 0.99  # left the top

    def start(rng, n):
        return np.tile(X0, (n, 1))

    env = WorldModelEnv(models["physics"], reward, fallen, start, dt=DT)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, X0)
    ends = [env.step(np.array([0.0]))[2] for _ in range(20)]
    assert ends[-1] and not ends[0]


def test_default_reset_draws_from_the_training_statistics(models):
    model = models["learned"]
    env = make_env(model)
    first = np.stack([env.reset(seed=s)[0] for s in range(400)])
    norm = model.model_.dynamics.normalizer
    mean, std = norm.x_mean.numpy(), norm.x_std.numpy()
    assert np.all(np.abs(first.mean(0) - mean) < 4 * std / np.sqrt(400))
    assert np.allclose(first.std(0), std, rtol=0.15)
    np.testing.assert_array_equal(env.reset(seed=5)[0], env.reset(seed=5)[0])


@pytest.mark.parametrize("kind", ["physics", "hybrid"])
def test_params_change_the_physics_for_one_episode(models, kind):
    model = models[kind]
    assert parameter_names(model) == ("a", "b")
    env = make_env(model)
    u = np.array([1.0])
    env.reset(options={"state": X0})
    nominal = env.step(u)[0]
    _, info = env.reset(options={"state": X0, "params": {"b": 6.0}})
    assert info == {"params": {"b": 6.0}}
    heavier = env.step(u)[0]
    np.testing.assert_allclose(heavier, vary(model, {"b": 6.0}).step(X0[None], u[None], DT)[0])
    assert heavier[2] > nominal[2] + 0.1  # twice the gain: faster spin-up
    env.reset(options={"state": X0})  # a reset without params: the fitted values again
    np.testing.assert_array_equal(env.step(u)[0], nominal)
    # the given model is left alone
    assert model.model_.dynamics.physics.parameter_values()["b"] != 6.0


def test_params_errors(models, pendulum_data):
    env = make_env(models["learned"])
    with pytest.raises(ConfigError, match="learned model has no physics"):
        env.reset(options={"params": {"a": 1.0}})
    phys = discover(pendulum_data, config=DiscoverConfig(library="poly", degree=2))
    discovered = WorldModel.physics(phys).fit(pendulum_data, models["physics"].config_)
    with pytest.raises(ConfigError, match="discovered equations have coefficients only"):
        make_env(discovered).reset(options={"params": {"a": 1.0}})
    env = make_env(models["physics"])
    with pytest.raises(UnknownNameError, match=r"Unknown parameter\(s\) \['mass'\].*\['a', 'b'\]"):
        env.reset(options={"params": {"mass": 1.0}})
    with pytest.raises(ConfigError, match=r'options\["params"\]\["a"\]` of reset must be a finite'):
        env.reset(options={"params": {"a": float("nan")}})
    with pytest.raises(ConfigError, match="must be a mapping with parameters among"):
        env.reset(options={"params": [1.0]})


def test_divergence_terminates_and_keeps_the_last_state(models):
    prior = pendulum_prior()
    env = make_env(models["physics"])
    env.reset(options={"state": X0, "params": {"a": 1e308, "b": 1e308}})
    obs, _, terminated, _, info = env.step(np.array([2.0]))
    assert terminated and info["diverged"]
    np.testing.assert_array_equal(obs, X0)
    assert prior.parameters["a"].value == 15.0


def test_constructor_and_step_errors(models):
    model = models["hybrid"]
    with pytest.raises(NotFittedError, match=r"is not fitted; call \.fit"):
        WorldModelEnv(WorldModel.learned(), reward, dt=DT)
    with pytest.raises(ConfigError, match="`model` of WorldModelEnv must be a fitted"):
        WorldModelEnv("model", reward, dt=DT)
    with pytest.raises(ConfigError, match="`dt` of WorldModelEnv must be the model's step"):
        WorldModelEnv(model, reward, dt=0.0)
    with pytest.raises(ConfigError, match="`reward_fn` of WorldModelEnv must be a callable"):
        WorldModelEnv(model, None, dt=DT)
    with pytest.raises(ConfigError, match="`termination_fn` of WorldModelEnv must be a callable"):
        WorldModelEnv(model, reward, 3, dt=DT)
    with pytest.raises(ConfigError, match="`max_episode_steps` of WorldModelEnv must be"):
        WorldModelEnv(model, reward, dt=DT, max_episode_steps=0)
    with pytest.raises(
        ConfigError,
        match=r"`action_space` of WorldModelEnv must be a gymnasium Box of shape \(1,\)",
    ):
        WorldModelEnv(model, reward, dt=DT, action_space=gym.spaces.Box(-1, 1, (2,)))
    env = make_env(model)
    with pytest.raises(ConfigError, match=r"Call reset\(\) before step\(\)"):
        env.step(np.zeros(1))
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['seed'\] in `options`"):
        env.reset(options={"seed": 1})
    with pytest.raises(ShapeError, match=r'options\["state"\] of reset` must have shape \(1, 3\)'):
        env.reset(options={"state": np.zeros(2)})
    env.reset(seed=0)
    with pytest.raises(ShapeError, match=r"action of WorldModelEnv.step must have shape \(1,\)"):
        env.step(np.zeros(2))
    bad = WorldModelEnv(model, lambda x, u, y: np.zeros(2), dt=DT)
    bad.reset(seed=0)
    with pytest.raises(
        ShapeError, match=r"`reward_fn` must return one value per state, shape \(1,\)"
    ):
        bad.step(np.zeros(1))
    bad = WorldModelEnv(model, reward, reset_fn=lambda rng, n: np.zeros((n, 2)), dt=DT)
    with pytest.raises(ShapeError, match="`reset_fn's output` must have shape"):
        bad.reset(seed=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_model_with_a_latent_coordinate_observes_its_full_state(models, pendulum_data):
    model = WorldModel.learned(hidden=(8,), latent_dim=1)
    model.fit(pendulum_data, models["learned"].config_)
    env = make_env(model, max_episode_steps=5)
    check_env(env, skip_render_check=True)
    assert env.state_names == (*STATES, "z0") and env.observation_space.shape == (4,)
    obs, _ = env.reset(options={"state": [1.0, 0.0, 0.5, 0.1]})
    assert obs[3] == 0.1 and env.step(np.array([0.5]))[0].shape == (4,)


def test_non_finite_states_and_actions_are_refused(models):
    env = make_env(models["learned"])
    with pytest.raises(ShapeError, match="holds NaN or inf; initial states must be finite"):
        env.reset(options={"state": [np.nan, 0.0, 0.0]})
    env.reset(seed=0)
    with pytest.raises(ShapeError, match=r"action of WorldModelEnv\.step holds NaN or inf"):
        env.step(np.array([np.inf]))
    with pytest.raises(ShapeError, match=r"action of WorldModelEnv\.step must be numeric"):
        env.step("left")
