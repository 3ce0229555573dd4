"""The model-based learning loop: data grows by the collected seconds, rounds are scored."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.control import PlannerConfig, get_task
from hybridwm.control.learning import (
    LearningConfig,
    learn_to_control,
    random_episode,
    shifted_parameters,
)
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.physics import declare

TASK = get_task("pendulum-swingup").model_copy(update={"seconds": 0.5})
TINY = PlannerConfig(samples=8, horizon=4)
#: the pendulum's structure with its gravity term free (adaptation after a change trains it)
FREE = declare(
    ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
    {"a": {"value": 14.0, "bounds": [0.0, 50.0]}, "c": 0.15, "b": 3.0},
    action_names=["torque"],
    fixed=["c", "b"],
)


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


def test_after_a_shift_the_loop_scores_the_unchanged_model_then_adapts_on_new_data():
    cfg = LearningConfig(
        kind="hybrid", rounds=1, fit_steps=2, hidden=(4,), collect_seconds=0.5,
        shift={"mass": 1.3}, shift_rounds=2, adapt_steps=2,
    )  # fmt: skip
    rounds = learn_to_control(TASK, cfg, TINY, prior=FREE)
    assert [(r.round, r.phase) for r in rounds] == [
        (0, "nominal"), (1, "shifted"), (2, "shifted"), (3, "shifted"),
    ]  # fmt: skip
    # the unchanged model first (no new data, no fit), then 0.5 s more per round
    assert [r.new_seconds for r in rounds] == pytest.approx([0.0, 0.0, 0.5, 1.0])
    assert [r.interaction_seconds for r in rounds] == pytest.approx([2.0, 2.0, 2.5, 3.0])
    assert rounds[1].fit_seconds == 0.0 and rounds[2].fit_seconds > 0
    learned = learn_to_control(TASK, cfg.model_copy(update={"kind": "learned"}), TINY)
    assert [r.phase for r in learned] == ["nominal", "shifted", "shifted", "shifted"]


def test_until_success_ends_the_shifted_rounds_too():
    easy = TASK.model_copy(update={"tolerance": 4.0, "success_seconds": 0.2})
    cfg = LearningConfig(
        kind="physics", rounds=3, fit_steps=2, until_success=True, shift={"length": 0.7},
        adapt_steps=2,
    )  # fmt: skip
    rounds = learn_to_control(easy, cfg, TINY, prior=FREE)
    assert [(r.round, r.phase, r.success) for r in rounds] == [
        (0, "nominal", True), (1, "shifted", True),
    ]  # fmt: skip


def test_shifted_parameters_scale_the_systems_values():
    values = shifted_parameters(TASK, {"mass": 1.3, "length": 0.7})
    system = TASK.get_system()
    assert values == pytest.approx(
        {"mass": 1.3 * system.parameters["mass"], "length": 0.7 * system.parameters["length"]}
    )


def test_shift_errors_name_the_argument(prior):
    with pytest.raises(UnknownNameError, match=r"`shift` names \['pole_mass'\].*Valid names"):
        shifted_parameters(TASK, {"pole_mass": 1.3})
    with pytest.raises(ConfigError, match=r"`shift` must map parameter names to factors > 0"):
        shifted_parameters(TASK, {"mass": -1.3})
    with pytest.raises(ConfigError, match=r"`shift` must map .* Got \[1.3\]"):
        shifted_parameters(TASK, [1.3])
    shifted = LearningConfig(kind="hybrid", shift={"mass": 1.3})
    with pytest.raises(UnknownNameError, match=r"`shift` names \['mas'\]"):
        learn_to_control(TASK, shifted.model_copy(update={"shift": {"mas": 1.3}}), TINY, prior=FREE)
    with pytest.raises(ConfigError, match=r"`shift` needs a prior with free parameters"):
        learn_to_control(TASK, shifted, TINY, prior=prior)  # every constant fixed
    with pytest.raises(ConfigError, match=r"shift"):
        LearningConfig(kind="hybrid", shift={"mass": -1.0})
    with pytest.raises(ConfigError, match=r"shift_rounds"):
        LearningConfig(kind="hybrid", shift_rounds=0)
