"""Plan in a world model, act in MuJoCo: tasks, MPPI/iCEM planners, closed-loop episodes and
the model-based learning loop.

Example:
    >>> from hybridwm.control import PlannerConfig, get_task, make_planner, make_rollout
    >>> task = get_task("pendulum-swingup")
    >>> planner = make_planner(make_rollout("oracle", task), task, PlannerConfig(samples=200))
    >>> episode = run_episode(task, planner)  # doctest: +SKIP
    >>> episode.success, episode.total_return  # doctest: +SKIP

Modules: ``tasks`` (Task, the shipped ``tasks.toml``), ``rollouts`` (ModelRollout,
OracleRollout), ``planners`` (MPPI, ICEM), ``episode`` (run_episode), ``records`` (the run
directory), ``rendering`` (headless GIF), ``runner`` (``control``: what ``hybridwm control``
runs), ``learning`` (learn_to_control), ``learning_run`` (run_learning over kinds and seeds,
``learning.json``), ``dream`` (a policy trained inside the model by backpropagation,
DreamController runs it like a planner).
"""

from hybridwm.control.dream import DreamConfig, DreamController, DreamPolicy, train_dream_policy
from hybridwm.control.episode import Controller, Episode, run_episode
from hybridwm.control.learning import LearningConfig, LearningRound, learn_to_control
from hybridwm.control.learning_run import run_learning, write_learning_run
from hybridwm.control.planners import (
    ICEM,
    MPPI,
    Planner,
    PlannerConfig,
    colored_noise,
    make_planner,
)
from hybridwm.control.rollouts import EnsembleRollout, ModelRollout, OracleRollout, make_rollout
from hybridwm.control.runner import control
from hybridwm.control.tasks import TASKS, Task, get_task, list_tasks

__all__ = [
    "ICEM",
    "MPPI",
    "TASKS",
    "Controller",
    "DreamConfig",
    "DreamController",
    "DreamPolicy",
    "EnsembleRollout",
    "Episode",
    "LearningConfig",
    "LearningRound",
    "ModelRollout",
    "OracleRollout",
    "Planner",
    "PlannerConfig",
    "Task",
    "colored_noise",
    "control",
    "get_task",
    "learn_to_control",
    "list_tasks",
    "make_planner",
    "make_rollout",
    "run_episode",
    "run_learning",
    "train_dream_policy",
    "write_learning_run",
]
