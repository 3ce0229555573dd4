"""The model-based learning loop: data grows by the collected seconds, rounds are scored."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.control import PlannerConfig, get_task
from hybridwm.control.learning import LearningConfig, learn_to_control, random_episode
from hybridwm.errors import ConfigError

TASK = get_task("pendulum-swingup").model_copy(update={"seconds": 0.5})
TINY = PlannerConfig(samples=8, horizon=4)


def test_random_episode_spans_the_bounds_and_the_seconds():
    data = random_episode(TASK, 2.0, np.random.default_rng(0))
    (ep,) = data
    assert ep.x.shape == (41, 2) and ep.meta["policy"] == "random"
    assert np.abs(ep.u).max() <= 2.0 and np.abs(ep.u).max() > 1.5


def test_each_round_fits_on_more_real_seconds(prior):
    cfg = LearningConfig(kind="hybrid", rounds=2, fit_steps=2, hidden=(4,), collect_seconds=0.5)
    seen = []
    rounds = learn_to_control(TASK, cfg, TINY, prior=prior, on_round=seen.append)
    assert seen == rounds  # each round reported as soon as it was scored
    assert [r.round for r in rounds] == [0, 1]
    assert [r.interaction_seconds for r in rounds] == pytest.approx([2.0, 2.5])
    assert all(np.isfinite(r.total_return) and r.fit_seconds > 0 for r in rounds)
    assert not any(r.success for r in rounds)  # half-second tests cannot hold for 2 s


def test_until_success_stops_at_the_first_successful_round(prior):
    # every state is "within tolerance" of upright here, so the first evaluation succeeds
    easy = TASK.model_copy(update={"tolerance": 4.0, "success_seconds": 0.2})
    cfg = LearningConfig(kind="hybrid", rounds=3, fit_steps=2, hidden=(4,), until_success=True)
    rounds = learn_to_control(easy, cfg, TINY, prior=prior)
    assert [(r.round, r.success) for r in rounds] == [(0, True)]
    every = learn_to_control(
        easy, cfg.model_copy(update={"until_success": False}), TINY, prior=prior
    )
    assert [r.success for r in every] == [True, True, True]


def test_learning_errors_name_the_argument():
    with pytest.raises(ConfigError, match=r"`prior` is needed for kind 'hybrid'"):
        learn_to_control(TASK, LearningConfig(kind="hybrid"), TINY)
    with pytest.raises(ConfigError, match=r"rounds"):
        LearningConfig(kind="learned", rounds=0)
    with pytest.raises(ConfigError, match=r"kind"):
        LearningConfig(kind="neural")
