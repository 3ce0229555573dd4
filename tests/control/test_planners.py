"""MPPI and iCEM: bounds, warm start, receding horizon, determinism, colored noise, that
planning with the MuJoCo oracle holds the pendulum upright, and planning over an ensemble (mean
return, disagreement penalty)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch

from hybridwm.control import (
    ICEM,
    MPPI,
    EnsembleRollout,
    PlannerConfig,
    colored_noise,
    get_task,
    make_planner,
    make_rollout,
    run_episode,
)
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.training import TrainConfig

TASK = get_task("pendulum-swingup")
SMALL = {"samples": 32, "horizon": 8, "elites": 8}


@pytest.fixture(scope="module")
def oracle():
    return make_rollout("oracle", TASK)


def _lag1(x: torch.Tensor) -> float:
    a, b = x[:, :-1].flatten(), x[:, 1:].flatten()
    return float(torch.corrcoef(torch.stack((a, b)))[0, 1])


def test_colored_noise_is_unit_scale_and_smoother_with_the_exponent():
    gen = torch.Generator().manual_seed(0)
    white = colored_noise((256, 40, 2), 0.0, gen, dtype=torch.float64)
    red = colored_noise((256, 40, 2), 2.0, gen, dtype=torch.float64)
    assert white.shape == red.shape == (256, 40, 2)
    assert float(red.std()) == pytest.approx(1.0, rel=1e-6)
    assert abs(_lag1(white)) < 0.05
    assert _lag1(red) > 0.8


@pytest.mark.parametrize("method", ["mppi", "icem"])
def test_actions_stay_in_bounds_and_runs_repeat(oracle, method):
    cfg = PlannerConfig(method=method, noise_std=3.0, iterations=2, **SMALL)
    planner = make_planner(oracle, TASK, cfg)
    assert isinstance(planner, MPPI if method == "mppi" else ICEM)
    first = [planner.act(np.array([0.3, 0.0])) for _ in range(3)]
    assert all(a.shape == (1,) and -2.0 <= a[0] <= 2.0 for a in first)
    assert planner.plan.shape == (8, 1)
    assert float(planner.plan.abs().max()) <= 2.0
    planner.reset()
    again = [planner.act(np.array([0.3, 0.0])) for _ in range(3)]
    np.testing.assert_array_equal(np.array(first), np.array(again))
    assert len(planner.timings) == 3 and planner.evaluations > 0


def test_the_plan_recedes_and_the_freed_step_starts_at_the_middle(oracle):
    # with (almost) no noise every sample is the plan, so MPPI keeps it and only shifts it
    planner = MPPI(oracle, TASK, PlannerConfig(noise_std=1e-9, **SMALL))
    planner.plan = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    before = planner.plan.clone()
    action = planner.act(np.array([0.0, 0.0]))
    assert action[0] == pytest.approx(-1.0, abs=1e-6)
    expected = torch.cat((before[1:], torch.zeros(1, 1, dtype=torch.float64)))
    torch.testing.assert_close(planner.plan, expected, atol=1e-6, rtol=0)


def test_icem_carries_shifted_elites_to_the_next_step(oracle):
    planner = ICEM(oracle, TASK, PlannerConfig(method="icem", iterations=2, **SMALL))
    planner.act(np.array([0.2, 0.0]))
    assert planner.kept is not None and planner.kept.shape == (8, 8, 1)
    assert torch.all(planner.kept[:, -1] == 0.0)


def test_mppi_with_the_oracle_holds_the_pendulum_upright(oracle):
    task = get_task("pendulum-swingup").model_copy(
        update={"x0": [math.pi - 0.15, 0.0], "x0_noise": 0.0}
    )
    planner = MPPI(oracle, task, PlannerConfig(samples=32, horizon=10))
    episode = run_episode(task, planner, seconds=1.0)
    error = task.goal_error(torch.as_tensor(episode.x))
    assert float(error[-5:].max()) < 0.1
    idle = run_episode(task, MPPI(oracle, task, PlannerConfig(samples=4, noise_std=1e-9)))
    assert episode.total_return > idle.total_return  # planning beats (nearly) doing nothing


def test_planner_errors_name_the_argument(oracle):
    with pytest.raises(ConfigError, match="samples"):
        PlannerConfig(samples=2)
    with pytest.raises(ConfigError, match="method"):
        PlannerConfig(method="cem")
    planner = MPPI(oracle, TASK, PlannerConfig(**SMALL))
    with pytest.raises(ShapeError, match=r"`state` of MPPI.act must be 2 finite values"):
        planner.act(np.array([0.0, 0.0, 0.0]))
    with pytest.raises(ShapeError, match=r"`state` of MPPI.act must be 2 finite values"):
        planner.act(np.array([np.nan, 0.0]))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
def test_planning_on_cuda_matches_the_cpu_model(physics_model):
    gpu_model = copy.deepcopy(physics_model)
    for method in ("mppi", "icem"):
        cfg = PlannerConfig(method=method, **SMALL)
        gpu = make_planner(make_rollout(gpu_model, TASK, device="cuda"), TASK, cfg)
        assert gpu.plan.is_cuda
        action = gpu.act(np.array([0.3, 0.0]))
        assert action.shape == (1,) and abs(action[0]) <= 2.0
    x0 = torch.tensor([[0.3, 0.0]], dtype=torch.float64)
    us = torch.full((1, 6, 1), 0.5, dtype=torch.float64)
    on_gpu = make_rollout(gpu_model, TASK)(x0.cuda(), us.cuda()).cpu()
    torch.testing.assert_close(on_gpu, make_rollout(physics_model, TASK)(x0, us))


@pytest.fixture(scope="module")
def ensemble(pendulum_data):
    """A tiny learned ensemble of 3 members (a few steps each: members that disagree)."""
    cfg = TrainConfig(steps=3, horizon=5, batch_size=8, progress=False, patience=None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Training ran", UserWarning)
        return WorldModelEnsemble("learned", n_members=3, hidden=(8,)).fit(pendulum_data, cfg)


def test_ensemble_planning_scores_mean_return_less_disagreement(ensemble):
    rollout = make_rollout(ensemble, TASK)
    assert isinstance(rollout, EnsembleRollout) and rollout.name == "learned-ensemble"
    state = torch.tensor([0.3, 0.0], dtype=torch.float64)
    us = torch.rand(6, 8, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xs = rollout(state.expand(6, 2), us)
    assert xs.shape == (3, 6, 9, 2)
    plain = MPPI(rollout, TASK, PlannerConfig(**SMALL)).returns(state, us)
    mean = torch.stack([TASK.reward(x[:, 1:], us).sum(-1) for x in xs]).mean(0)
    torch.testing.assert_close(plain, mean)  # the members' mean return
    cautious = MPPI(rollout, TASK, PlannerConfig(**SMALL, disagreement=2.0)).returns(state, us)
    spread = (xs[:, :, 1:].std(0) / rollout.scale).mean(-1).sum(-1)
    assert bool((spread > 0).all())  # the members do disagree
    torch.testing.assert_close(cautious, plain - 2.0 * spread)
    planner = make_planner(rollout, TASK, PlannerConfig(**SMALL, disagreement=2.0))
    action = planner.act(np.array([0.3, 0.0]))
    assert action.shape == (1,) and abs(action[0]) <= 2.0


def test_ensemble_planning_errors(ensemble, physics_model):
    with pytest.raises(ConfigError, match=r"disagreement = 1.0 needs an ensemble to disagree"):
        MPPI(make_rollout(physics_model, TASK), TASK, PlannerConfig(disagreement=1.0))
    with pytest.raises(ConfigError, match="disagreement"):
        PlannerConfig(disagreement=-1.0)
    with pytest.raises(ConfigError, match=r"An ensemble plans in its own dtype and device"):
        make_rollout(ensemble, TASK, dtype=torch.float32)
    with pytest.raises(ConfigError, match=r"`ensemble` must be a fitted WorldModelEnsemble"):
        EnsembleRollout(physics_model, TASK)
    with pytest.raises(NotFittedError, match=r"`ensemble` \(learned\) is not fitted yet"):
        EnsembleRollout(WorldModelEnsemble("learned"), TASK)
    with pytest.raises(ShapeError, match=r"must predict the cartpole states"):
        EnsembleRollout(ensemble, get_task("cartpole-swingup"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
def test_a_compiled_rollout_on_cuda_replays_graphs_and_matches_the_plain_one(physics_model):
    gpu_model = copy.deepcopy(physics_model)
    plain = make_rollout(gpu_model, TASK, device="cuda")
    compiled = make_rollout(gpu_model, TASK, device="cuda", compile=True)
    assert compiled.compiled.cuda_graphs
    gen = torch.Generator().manual_seed(0)
    x0 = ((torch.rand(64, 2, generator=gen, dtype=torch.float64) - 0.5) * 4).cuda()
    us = ((torch.rand(64, 12, 1, generator=gen, dtype=torch.float64) - 0.5) * 4).cuda()
    for _ in range(3):  # replays must not overwrite states kept from earlier periods
        torch.testing.assert_close(compiled(x0, us), plain(x0, us), rtol=0.0, atol=1e-12)
    planner = make_planner(compiled, TASK, PlannerConfig(**SMALL))
    assert planner.act(np.array([0.3, 0.0])).shape == (1,)
