"""Learning-rate schedules (torch.optim.lr_scheduler), the horizon curriculum and the clock."""

from __future__ import annotations

import warnings

import pytest
import torch

from hybridwm.training import LearningRate, TrainConfig
from hybridwm.training.schedule import Clock, cosine_lr, curriculum_horizon


def optimizer() -> torch.optim.AdamW:
    """Two groups: the network (scale 1) and physics tensors with ``lr_scale`` 0.3."""
    net, phys = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    groups = [{"params": [net]}, {"params": [phys], "lr_scale": 0.3}]
    return torch.optim.AdamW(groups, lr=1.0)


def step(opt: torch.optim.Optimizer) -> None:
    for g in opt.param_groups:
        for p in g["params"]:
            p.grad = torch.ones_like(p)
    opt.step()


def test_cosine_rates_are_the_closed_form_times_each_group_scale():
    opt = optimizer()
    cfg = TrainConfig(lr=0.01, min_lr=1e-4).optim
    schedule = LearningRate(opt, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when a scheduler steps before the optimizer
        for p in (0.0, 0.1, 0.55, 1.0, 1.7):
            base = schedule.at(p)
            assert base == cosine_lr(p, 0.01, 1e-4)
            assert opt.param_groups[1]["lr"] == cosine_lr(p, 0.01, 1e-4) * 0.3
            step(opt)
    assert cosine_lr(0.0, 0.01, 1e-4) == 0.01 and cosine_lr(1.0, 0.01, 1e-4) == 1e-4
    assert cosine_lr(0.5, 0.01, 1e-4) == pytest.approx(0.00505)


def test_plateau_halves_after_five_scores_without_gain_down_to_min_lr():
    opt = optimizer()
    schedule = LearningRate(opt, TrainConfig(lr=0.04, min_lr=0.015, lr_schedule="plateau").optim)
    assert schedule.at(0.9) == 0.04 and opt.param_groups[1]["lr"] == 0.04 * 0.3
    schedule.start(1.0)
    for _ in range(4):
        schedule.observe(1.0)  # no gain
    assert schedule.lr == 0.04
    schedule.observe(0.5)  # a gain resets the count
    for _ in range(4):
        schedule.observe(0.7)
    assert schedule.lr == 0.04
    schedule.observe(0.7)
    assert schedule.lr == 0.02 and opt.param_groups[1]["lr"] == 0.04 * 0.3 * 0.5
    state = schedule.state_dict()
    for _ in range(5):
        schedule.observe(0.7)
    assert schedule.lr == 0.015 and opt.param_groups[1]["lr"] == 0.015 * 0.3  # the floor
    again = LearningRate(opt, TrainConfig(lr=0.04, min_lr=0.015, lr_schedule="plateau").optim)
    again.load_state_dict(state)
    assert again.state_dict() == state


def test_constant_schedule_keeps_the_scaled_rates():
    opt = optimizer()
    schedule = LearningRate(opt, TrainConfig(lr=0.02, lr_schedule="constant").optim)
    schedule.observe(5.0)
    assert schedule.at(0.99) == 0.02 and opt.param_groups[1]["lr"] == 0.02 * 0.3
    assert schedule.state_dict() == {}


def test_curriculum_grows_the_horizon_over_its_fraction():
    windows = TrainConfig(horizon=20, curriculum_start=2, curriculum_fraction=0.5).windows
    assert [curriculum_horizon(p, windows) for p in (0.0, 0.25, 0.5, 0.9)] == [2, 11, 20, 20]
    assert curriculum_horizon(0.0, TrainConfig(horizon=20, curriculum=False).windows) == 20
    assert curriculum_horizon(0.0, TrainConfig(horizon=1).windows) == 1


def test_clock_progress_counts_steps_only_and_max_time_is_a_cap():
    clock = Clock(total_steps=16, max_time=None)
    assert clock.progress(5) == 5 / 16 and not clock.out_of_time()
    # the time spent never moves the schedules: only the safety cap reads it
    late = Clock(total_steps=16, max_time=10.0, elapsed=8.0)
    assert late.progress(0) == 0.0 and not late.out_of_time()
    assert Clock(total_steps=16, max_time=1.0, elapsed=2.0).out_of_time()
