"""What a planner predicts with: batched rollouts of a WorldModel, or of MuJoCo itself (oracle).

Both are callables ``rollout(x0, us) -> xs`` on torch tensors: ``x0`` (K, n_x) states in the
task system's order, ``us`` (K, H, n_u) actions held for the task's ``dt`` each, ``xs``
(K, H+1, n_x) with ``xs[:, 0] = x0``. An ensemble's (:class:`EnsembleRollout`) gives every
member's samples, (M, K, H+1, n_x), from one stacked solve: the planner scores their mean return
and can penalise their disagreement (``PlannerConfig.disagreement``). All K samples go through
one call: the model's ``WorldModel.rollout`` integrates the whole batch over the horizon in one
torchdiffeq solve; the oracle runs the batch through one ``mujoco.rollout`` call in MuJoCo's C
thread pool (a Python loop over ``MjData`` copies is many times slower:
``benchmarks/bench_planner.py`` measures both).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hybridwm.control.compiled import CompiledSolve
from hybridwm.control.tasks import Task
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models import WorldModel
from hybridwm.models.building import dtype_device
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.systems.rollout import default_nthread, make_data_pool, rollout_held

__all__ = ["EnsembleRollout", "ModelRollout", "OracleRollout", "make_rollout"]


class ModelRollout:
    """Batched open-loop rollouts of a fitted, fully observed :class:`WorldModel`.

    Args:
        model: the fitted model; its states and actions must be the task system's, in order.
        task: the task (its ``dt`` is the step of every action).
        dtype: plan in this floating-point type (``torch.float32`` on a copy of the model:
            about 1.6x faster on CPU than float64, predictions within 1e-6 here); None keeps
            the model's own.
        compile: compile each control period's solve (:class:`~hybridwm.control.compiled.
            CompiledSolve`, ``torch.compile``): faster per call after a first call that
            compiles; states equal to round-off. Needs a fixed-step solver without the adjoint.

    Raises:
        NotFittedError: ``model`` is not fitted.
        ShapeError: its state or action names differ from the task system's.
        ConfigError: it has unobserved (latent) states, which a planner cannot start from a
            measured state; ``compile`` with an adaptive solver or the adjoint.
    """

    def __init__(
        self,
        model: WorldModel,
        task: Task,
        dtype: torch.dtype | None = None,
        *,
        compile: bool = False,
    ) -> None:
        if not isinstance(model, WorldModel):
            raise ConfigError(
                f"`model` must be a fitted WorldModel (or 'oracle'). Got {type(model).__name__}."
            )
        ode = getattr(model, "model_", None)
        if ode is None:
            raise NotFittedError(
                f"`model` ({model.kind}) is not fitted yet; fit it, or load a saved one with "
                f"WorldModel.load(path), before planning with it."
            )
        system = task.get_system()
        states, actions = tuple(model.state_names_), tuple(model.action_names_)
        if states != system.state_names or actions != system.action_names:
            raise ShapeError(
                f"`model` must predict the {system.name} states {list(system.state_names)} under "
                f"actions {list(system.action_names)} (task {task.name!r}); it has states "
                f"{list(states)} and actions {list(actions)}. Fit it on {system.name} data."
            )
        if tuple(model.observed_names_) != states:
            raise ConfigError(
                f"`model` has unobserved states {sorted(set(states) - set(model.observed_names_))}"
                f"; a planner starts from measured states, so fit a fully observed model."
            )
        if dtype is not None and dtype != dtype_device(ode)[0]:
            model = copy.deepcopy(model)
            model.model_.to(dtype=dtype)
        self.model, self.dt = model, task.dt
        self.dtype, self.device = dtype_device(model.model_)
        self.name = model.kind
        self.compiled = CompiledSolve(model.model_) if compile else None

    def __call__(self, x0: torch.Tensor, us: torch.Tensor) -> torch.Tensor:
        """(K, n_x), (K, H, n_u) → (K, H+1, n_x) predicted states (no gradient)."""
        if self.compiled is None:
            with torch.inference_mode():
                return self.model.rollout(x0, us, dt=self.dt)
        n_x, n_u = len(self.model.state_names_), len(self.model.action_names_)
        shapes_ok = x0.ndim == 2 and x0.shape[1] == n_x and us.ndim == 3
        if not shapes_ok or tuple(us.shape[::2]) != (x0.shape[0], n_u):
            raise ShapeError(
                f"A compiled rollout takes x0 (K, {n_x}) and us (K, H, {n_u}); got "
                f"{tuple(x0.shape)} and {tuple(us.shape)}."
            )
        kw = {"dtype": self.dtype, "device": self.device}
        return self.compiled(x0.to(**kw), us.to(**kw), self.dt)


class EnsembleRollout:
    """Every member's batched open-loop rollouts of a fitted :class:`WorldModelEnsemble`
    (trajectory sampling: each member keeps its own samples over the horizon, as PETS does).

    Args:
        ensemble: the fitted, fully observed ensemble; its states and actions must be the task
            system's, in order.
        task: the task (its ``dt`` is the step of every action).

    Attributes: ``scale`` (n_x,) the states' standard deviation in the first member's training
    data, the unit in which the planner measures disagreement.

    Raises:
        ConfigError: ``ensemble`` is no WorldModelEnsemble, or it has unobserved states.
        NotFittedError: it is not fitted.
        ShapeError: its state or action names differ from the task system's.
    """

    def __init__(self, ensemble: WorldModelEnsemble, task: Task) -> None:
        if not isinstance(ensemble, WorldModelEnsemble):
            raise ConfigError(
                f"`ensemble` must be a fitted WorldModelEnsemble. Got {type(ensemble).__name__}."
            )
        members = getattr(ensemble, "members_", None)
        if not members:
            raise NotFittedError(
                f"`ensemble` ({ensemble.kind}) is not fitted yet; fit it, or load a saved one "
                f"with WorldModelEnsemble.load(path), before planning with it."
            )
        first = ModelRollout(members[0], task)  # checks the names and observability
        self.ensemble, self.dt = ensemble, task.dt
        self.dtype, self.device = first.dtype, first.device
        self.scale = members[0].model_.dynamics.normalizer.x_std.detach().reshape(-1).clone()
        self.name = f"{ensemble.kind}-ensemble"

    def __call__(self, x0: torch.Tensor, us: torch.Tensor) -> torch.Tensor:
        """(K, n_x), (K, H, n_u) → (M, K, H+1, n_x) every member's predicted states."""
        with torch.inference_mode():
            return self.ensemble.rollout_samples(x0, us, dt=self.dt)


class OracleRollout:
    """The ground truth as a planner's model: MuJoCo rollouts from ``(qpos, qvel)`` states.

    Args:
        task: the task; its system (with ``parameters`` overrides) is simulated.
        parameters: parameter overrides of the system (e.g. a shifted pole mass).
        nthread: MuJoCo rollout threads (default: the CPUs available).
        device: torch device of the returned states; dtype float64.
        timestep: MuJoCo step of the planner's copy (its integrator is the system's, RK4 for
            the shipped ones); default ``task.dt``: one RK4 step per control period, as the
            world models integrate (``solver="rk4"``, one substep). ``system.timestep`` gives
            the exact ground truth at ``dt / timestep`` times the cost (a pendulum ``mj_step``
            costs about 25 us here, so 200 samples x 30 steps x 25 substeps take 3-4 s).

    A rig's hidden actuator state (motor lag) starts at zero in every rollout: the planner knows
    the measured state only.
    """

    def __init__(
        self,
        task: Task,
        *,
        parameters: Mapping[str, Any] | None = None,
        nthread: int | None = None,
        device: str | torch.device = "cpu",
        timestep: float | None = None,
    ) -> None:
        system = task.get_system()
        values = system.parameters | system.check_parameters(parameters or {})
        step = task.dt if timestep is None else timestep
        if not (isinstance(step, (int, float)) and 0 < step <= task.dt):
            raise ConfigError(
                f"`timestep` of OracleRollout must be a number in (0, dt = {task.dt}]. Got "
                f"{timestep!r}."
            )
        self.n_sub = max(1, round(task.dt / step))
        if abs(self.n_sub * step - task.dt) > 1e-9:
            raise ConfigError(
                f"`timestep` of OracleRollout must divide the task's dt = {task.dt} s. Got "
                f"{timestep!r}; try {task.dt / max(1, round(task.dt / step)):g}."
            )
        threads = default_nthread() if nthread is None else int(nthread)
        if threads < 1:
            raise ConfigError(f"`nthread` of OracleRollout must be >= 1. Got {nthread!r}.")
        spec = system.spec(values)
        spec.option.timestep = step
        self.mj_model = spec.compile()
        self.datas = make_data_pool(self.mj_model, threads)
        self.dtype, self.device = torch.float64, torch.device(device)
        self.n_x = system.n_x
        self.name = "oracle"

    def __call__(self, x0: torch.Tensor, us: torch.Tensor) -> torch.Tensor:
        """(K, n_x), (K, H, n_u) → (K, H+1, n_x) simulated states; diverged samples are NaN."""
        x0_np = x0.detach().cpu().numpy().astype(np.float64)
        us_np = us.detach().cpu().numpy().astype(np.float64)
        if x0_np.ndim != 2 or x0_np.shape[1] != self.n_x or us_np.shape[0] != x0_np.shape[0]:
            raise ShapeError(
                f"OracleRollout takes x0 (K, {self.n_x}) and us (K, H, n_u); got "
                f"{x0_np.shape} and {us_np.shape}."
            )
        xs, ok, _ = rollout_held(self.mj_model, self.datas, x0_np, us_np, self.n_sub)
        xs[~ok] = np.nan
        return torch.as_tensor(xs, dtype=self.dtype, device=self.device)


def make_rollout(
    model: WorldModel | WorldModelEnsemble | str,
    task: Task,
    *,
    parameters: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
    timestep: float | None = None,
    dtype: torch.dtype | None = None,
    compile: bool = False,
) -> ModelRollout | EnsembleRollout | OracleRollout:
    """The rollout of ``model``: a fitted WorldModel (moved to ``device`` when given), a fitted
    WorldModelEnsemble (:class:`EnsembleRollout`, in its own dtype and device), or the string
    ``"oracle"`` (MuJoCo with ``parameters``, stepping ``timestep``; see
    :class:`OracleRollout`); ``dtype`` and ``compile`` as in :class:`ModelRollout` (the oracle
    is float64).

    Raises:
        ConfigError: an unknown string, ``dtype``/``device`` given with an ensemble, or
            ``compile`` with an ensemble or the oracle.
    """
    if compile and not isinstance(model, WorldModel):
        raise ConfigError(
            f"`compile=True` compiles a WorldModel's solve; got {type(model).__name__} "
            f"{'oracle' if isinstance(model, str) else ''}. Drop compile for ensembles and "
            f"the oracle."
        )
    if isinstance(model, WorldModelEnsemble):
        if dtype is not None or device is not None:
            raise ConfigError(
                "An ensemble plans in its own dtype and device; got `dtype`/`device` "
                f"({dtype}, {device}). Fit or load the ensemble on the device you want instead."
            )
        return EnsembleRollout(model, task)
    if isinstance(model, str):
        if model != "oracle":
            raise ConfigError(
                f"`model` must be a fitted WorldModel or the string 'oracle'. Got {model!r}."
            )
        return OracleRollout(task, parameters=parameters, device=device or "cpu", timestep=timestep)
    if device is not None:
        model.to(device)
    return ModelRollout(model, task, dtype=dtype, compile=compile)
