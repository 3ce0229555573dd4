"""WorldModel: the one interface every model kind has (learned | physics | hybrid).

>>> model = WorldModel.hybrid(physics=phys, residual=MLP(hidden=(64, 64)))   # doctest: +SKIP
>>> model.fit(train_set, config=TrainConfig(epochs=100, horizon=20))
>>> xs = model.rollout(x0, us, t)          # (batch, n_x), (batch, T, n_u), (T+1,) → (batch, T+1, n_x)
>>> model.save("runs/pendulum-hybrid"); WorldModel.load("runs/pendulum-hybrid")

Conventions (scikit-learn): constructors only store their arguments; ``fit`` validates them
(:class:`ModelSpec`), builds the torch modules, trains and returns ``self``; fitted state ends
with ``_``; methods that need it raise :class:`~hybridwm.errors.NotFittedError` before ``fit``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import MLP, ODEModel
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models import closure, fitting, names, persistence, prediction
from hybridwm.models.adaptation import Adaptation, with_physics_parameters
from hybridwm.models.building import current_physics, dtype_device, mlp_spec
from hybridwm.models.persistence import FORMAT, FORMAT_VERSION
from hybridwm.models.spec import KINDS, ModelSpec, check_physics, has_free_parameters
from hybridwm.training import History, TrainConfig

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "WorldModel"]


class WorldModel:
    """A fitted dynamics model of a controlled system; one interface for every kind.

    Build one with :meth:`learned`, :meth:`physics`, :meth:`hybrid` or :meth:`from_kind`.

    Args:
        kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        physics: a ``PhysicsModel`` (or an ``nn.Module`` with its ``vector_field()`` interface:
            ``forward(x, u)``, ``state_names``, ``action_names``); required for physics/hybrid.
        device: torch device of the model (default: the TrainConfig's, else CPU).
        **params: the architecture, stored as attributes of the same names (every field of
            :class:`ModelSpec` but ``kind``, e.g. ``residual``, ``solver``, ``intersample``).

    Fitted attributes: ``model_`` (the ODEModel), ``state_names_``, ``observed_names_``,
    ``action_names_``, ``angles_``, ``columns_`` (the data's ColumnMapping as a dict, or None),
    ``config_``, ``history_``; after :meth:`adapt` ``adapt_history_``, ``adapt_config_``, ``adapted_parts_``;
    after a closing fit (``TrainConfig.closure``) ``closure_`` (:mod:`hybridwm.models.closure`).
    """

    def __init__(
        self,
        kind: str,
        *,
        physics: Any = None,
        device: str | torch.device | None = None,
        **params: Any,
    ) -> None:
        self.kind, self.physics_model, self.device = kind, physics, device
        for name, value in ModelSpec.with_defaults(params).items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def learned(
        cls,
        hidden: Sequence[int] | None = None,
        *,
        activation: str = "tanh",
        init_scale: float = 0.1,
        residual: MLP | None = None,
        **kwargs: Any,
    ) -> WorldModel:
        """A neural ODE ``dx/dt = f_nn(x, u)`` (no physics): an MLP of widths ``hidden``
        (default MLP's), ``activation`` and output init factor ``init_scale``, or the full
        spec ``residual``; ``kwargs`` as in the class docstring."""
        mlp = residual or mlp_spec(hidden, activation=activation, init_scale=init_scale)
        return cls("learned", residual=mlp, **kwargs)

    @classmethod
    def physics(
        cls, physics_model: Any, *, trainable: bool | None = None, **kwargs: Any
    ) -> WorldModel:
        """Physics only: ``dx/dt = f_phys(x, u)``; ``fit`` checks names and normalizes, and
        trains the coefficients if ``trainable`` (default: yes for a declared prior with free
        parameters, no for discovered equations) or an encoder for unobserved states."""
        if trainable is None:
            trainable = has_free_parameters(physics_model)
        return cls("physics", physics=physics_model, trainable_physics=trainable, **kwargs)

    @classmethod
    def hybrid(
        cls,
        physics: Any,
        residual: MLP | None = None,
        *,
        hidden: Sequence[int] | None = None,
        trainable_physics: bool | None = None,
        **kwargs: Any,
    ) -> WorldModel:
        """Physics plus a learned residual: ``dx/dt = f_phys(x, u) + f_nn(x, u)``.

        ``residual`` defaults to ``MLP(hidden=hidden)`` (MLP's widths when None), whose zero
        output layer makes training start exactly at the physics; ``trainable_physics``
        defaults as ``trainable`` of :meth:`physics`.
        """
        if trainable_physics is None:
            trainable_physics = has_free_parameters(physics)
        kwargs.update(residual=residual or mlp_spec(hidden), trainable_physics=trainable_physics)
        return cls("hybrid", physics=physics, **kwargs)

    @classmethod
    def from_kind(
        cls,
        kind: str,
        *,
        physics: Any = None,
        hidden: Sequence[int] | None = None,
        trainable_physics: bool | None = None,
        **kwargs: Any,
    ) -> WorldModel:
        """The model of a kind named by a string (for the CLI and the benchmark): ``hidden``
        (default MLP's widths) for learned/hybrid, ``physics`` and ``trainable_physics``
        (default as in :meth:`physics`) for physics/hybrid, ``kwargs`` as in the class
        docstring.

        Raises:
            UnknownNameError: ``kind`` is not one of :data:`KINDS` (listed).
            ConfigError: physics/hybrid without ``physics``, or learned with it.
        """
        check_physics(kind, physics)
        if kind == "learned":
            return cls.learned(hidden, **kwargs)
        if kind == "physics":
            return cls.physics(physics, trainable=trainable_physics, **kwargs)
        return cls.hybrid(physics, hidden=hidden, trainable_physics=trainable_physics, **kwargs)

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "model_") else "not fitted"
        return f"WorldModel(kind={self.kind!r}, solver={self.solver!r}, {fitted})"

    def check_params(self) -> ModelSpec:
        """The arguments (as they are now) validated into the model's :class:`ModelSpec`;
        UnknownNameError (kind, solver) or ConfigError (physics, architecture) if invalid."""
        check_physics(self.kind, self.physics_model)
        return ModelSpec(kind=self.kind, **{n: getattr(self, n) for n in ModelSpec.param_names()})

    # ------------------------------------------------------------------ fit / adapt
    def fit(
        self,
        data: TrajectorySet | Trajectory,
        config: TrainConfig | None = None,
        *,
        validation: TrajectorySet | None = None,
    ) -> WorldModel:
        """Check the data against the model, normalize, build the modules and train.

        Args:
            data: training episodes (states or observations, held actions).
            config: training settings (default ``TrainConfig()``).
            validation: validation episodes; default: ``config.validation_fraction`` of
                ``data``'s episodes, held out by a seeded split.

        Returns:
            ``self``, fitted with the best weights found (see ``history_``), also when
            training stops with a TrainingError.

        Raises:
            ShapeError: the data's names do not match the physics or ``state_names``.
            DataError: ``config.horizon`` is longer than the shortest episode.
        """
        data = names.as_trajectory_set(data, "fit")
        cfg = fitting.check_train_config(config or TrainConfig())
        spec = self.check_params()
        fitting.warn_constant(data)
        # refit from the given physics, not an adapted one
        self.physics_model = self.__dict__.pop("physics_original_", self.physics_model)
        for name in ("adapt_history_", "adapt_config_", "adapted_parts_", "closure_"):
            self.__dict__.pop(name, None)
        ready = fitting.prepare(spec, self.physics_model, data, validation, cfg)
        self.device = torch.device(cfg.device or self.device or "cpu")
        self.columns_, self.config_, self.history_ = names.columns_of(data), cfg, History()
        self.model_ = model = ready.model.to(device=self.device)
        self.state_names_, self.observed_names_ = ready.state_names, ready.observed_names
        self.action_names_, self.angles_ = ready.action_names, ready.angles
        if closure.closure_skipped(spec, self.physics_model, cfg, ready):
            fitting.run_trainer(model, cfg, ready, lambda h: setattr(self, "history_", h))
        else:
            closure.fit_closed_into(self, spec, data, validation, cfg, ready)
            model = self.model_
        if spec.trainable_physics:
            fitting.warn_bounds(model.dynamics.physics)
        fitting.warn_untrained(self.history_)
        return self

    def adapt(
        self,
        data: TrajectorySet | Trajectory,
        config: TrainConfig | None = None,
        *,
        parts: str = "auto",
        validation: TrajectorySet | None = None,
    ) -> WorldModel:
        """Fine-tune the fitted model on a (small) record of a changed system; only ``parts``
        train, the names and normalization stay (see :mod:`hybridwm.models.adaptation`).

        Args:
            data: episodes of the changed system, with the fitted model's states and actions.
            config: training settings (default ``TrainConfig(pinn_weight=0.0)``).
            parts: ``"physics"`` (discovered coefficients, each moving by fractions of
                itself, or a declared prior's free parameters), ``"residual"`` (the learned
                networks: residual or learned field, and encoder), ``"all"``, or ``"auto"``:
                ``"all"`` for learned models, ``"physics"`` for physics models and for hybrids
                (their residual kept or switched off, whichever validates better).
            validation: validation episodes; default: ``config.validation_fraction`` of
                ``data``'s episodes, held out by a seeded split.

        Returns:
            ``self`` with ``adapt_history_``, ``adapt_config_``, ``adapted_parts_`` (what was
            adapted); physics frozen again if it was fitted frozen.

        Raises:
            NotFittedError, UnknownNameError (``parts``), ConfigError (``parts`` the model
            lacks), ShapeError, DataError, TrainingError (the best weights found are kept).
        """
        run = Adaptation(self._require_fitted("adapt"), self.kind, parts, config)
        data = self._check_data(data, "adapt")
        if validation is not None:
            validation = self._check_data(validation, "adapt")
        windows, val_windows = run.windows(data, validation)
        run.select()
        try:
            run.fit(windows, val_windows)
        finally:
            self.adapt_history_, self.adapt_config_ = run.history, run.config
            self.adapted_parts_ = run.adapted
            adapted = run.adapted_physics(self.physics_model)
            if adapted is not None:  # a later fit starts from the given physics again
                self.physics_original_ = getattr(self, "physics_original_", self.physics_model)
                self.physics_model = adapted
        return self

    @property
    def physics_(self) -> Any:
        """The fitted model's current equations as a ``PhysicsModel`` (trained or adapted
        values included), or None for a purely learned model; NotFittedError before ``fit``."""
        return current_physics(self._require_fitted("physics_"), self.physics_model)

    with_parameters = with_physics_parameters

    # ------------------------------------------------------------------ inference
    def _require_fitted(self, what: str) -> ODEModel:
        model = getattr(self, "model_", None)
        if model is None:
            raise NotFittedError(
                f"This WorldModel ({self.kind}) is not fitted yet; call .fit(data) before "
                f".{what}(), or load a saved one with WorldModel.load(path)."
            )
        return model

    def _check_data(self, data: Any, what: str) -> TrajectorySet:
        """``data`` as a TrajectorySet with the fitted model's state and action names."""
        data = names.as_trajectory_set(data, what)
        where = "The data" if what == "predict" else f"The data given to {what}"
        names.check_names(data, self.observed_names_, self.action_names_, what=where)
        return data

    def rollout(
        self,
        x0: Any,
        us: Any,
        t: Any = None,
        *,
        dt: float | None = None,
        full_state: bool = False,
        solver: str | None = None,
    ) -> Any:
        """Open-loop prediction from initial states under held actions.

        Args:
            x0: (batch, n_x) initial states (a single (n_x,) state is accepted with (T, n_u)
                actions). For a model with unobserved coordinates, give the full model state
                (``state_names_`` order); use :meth:`predict` to start from observations.
            us: (batch, T, n_u) actions; ``us[:, k]`` acts on ``[t[k], t[k+1])``; or (batch, T+1,
                n_u) with the action at ``t[T]``, read if ``intersample`` is not ``"zoh"``.
            t: (T+1,) strictly increasing times (non-uniform grids are fine).
            dt: instead of ``t``, a constant step > 0 (``t = dt * arange(T+1)``).
            full_state: return every model coordinate instead of the observed ones.
            solver: solver override.

        Returns:
            (batch, T+1, n_obs) predicted observations (``full_state``: (batch, T+1, n_x));
            numpy in → numpy out, torch in → torch out.

        Raises:
            NotFittedError, ShapeError, DataError (NaN, non-increasing ``t``), ConfigError
            (``dt <= 0``), UnknownNameError (solver).
        """
        model = self._require_fitted("rollout")
        args = prediction.rollout_inputs(model, x0, us, t, dt, solver, *dtype_device(model))
        x0_t, us_t, t_t, single = args
        with torch.set_grad_enabled(x0_t.requires_grad or us_t.requires_grad):
            xs = model.simulate(x0_t, us_t, t_t, solver=solver)
            out = xs if full_state else model.decode(xs)
        out = out[0] if single else out
        return out if isinstance(x0, torch.Tensor) else out.detach().cpu().numpy()

    def step(self, x: Any, u: Any, dt: float) -> Any:
        """One step: x (batch, n_x), u (batch, n_u) held for ``dt`` > 0 → (batch, n_x)."""
        self._require_fitted("step")
        if not isinstance(dt, (int, float, np.floating, np.integer)) or not float(dt) > 0:
            raise ConfigError(f"`dt` must be a number > 0. Got {dt!r} instead.")
        is_torch = isinstance(x, torch.Tensor)
        if not is_torch and np.asarray(u).ndim != 2:
            raise ShapeError(f"`u` must be (batch, n_u); got shape {np.shape(u)}.")
        u_arr = u[:, None] if is_torch else np.asarray(u, dtype=np.float64)[:, None]
        return self.rollout(x, u_arr, dt=float(dt), full_state=True)[:, 1]

    def predict(
        self,
        data: TrajectorySet | Trajectory,
        *,
        on_diverge: str = "raise",
        init: str | None = None,
        solver: str | None = None,
    ) -> TrajectorySet:
        """Open-loop rollouts of every episode from its first state(s) under its own actions,
        each on its own time grid (batched: see :mod:`hybridwm.models.prediction`).

        Args:
            data: episodes with the model's observed state and action names.
            on_diverge: ``"raise"`` a DataError when a prediction blows up (NaN/inf), or
                ``"nan"``: keep the diverged episodes with their NaN/inf values
                (``allow_nan=True``, ``meta["diverged"] = True``) and warn once.
            init: how unobserved initial coordinates are estimated from the episode's first
                samples, ``"encoder"`` or ``"optimize"`` (default: the model's ``init``).
            solver: solver override.

        Returns:
            A TrajectorySet of predicted observations (same times, actions, names; ``meta``
            gains ``"prediction": kind`` and ``"diverged"``).
        """
        model = self._require_fitted("predict")
        init = self.init if init is None else init
        prediction.check_predict_options(on_diverge, init)
        data = self._check_data(data, "predict")
        preds = prediction.predict_episodes(
            model, data, optimize=init == "optimize", init_window=self.init_window, solver=solver
        )
        return prediction.as_predictions(data, preds, self.kind, on_diverge)

    def to(self, device: str | torch.device) -> WorldModel:
        """Move the fitted model to ``device`` (``"cpu"``, ``"cuda"``, ...); returns ``self``."""
        self.device = torch.device(device)
        if hasattr(self, "model_"):
            self.model_.to(device=self.device)
        return self

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model as a run directory, atomically (its files: see
        :mod:`hybridwm.models.persistence`); returns the path.

        Raises:
            NotFittedError: before ``fit``.
            FormatError: ``path`` exists and is not a hybridwm model directory.
            OutputError: writing failed (disk full, read-only, ...); an earlier model
                directory at ``path`` is left byte-identical.
        """
        self._require_fitted("save")
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_")}
        return persistence.save_model(path, self.check_params(), self.physics_model, fitted)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        physics: Any = None,
        device: str | torch.device | None = None,
    ) -> WorldModel:
        """Load a run directory written by :meth:`save` (no pickles are read) onto ``device``
        (default CPU); ``physics`` is needed only for a model saved with a custom
        (non-PhysicsModel) physics module.

        Raises:
            FormatError: ``path`` is not a hybridwm model directory or its files are damaged,
                or its ``physics.json`` disagrees with the weights (edited after saving).
            IncompatibleVersionError: the directory comes from a newer format version.
        """
        saved = persistence.read_model_dir(path, physics)
        wm = cls(saved.spec.kind, physics=saved.physics, **saved.spec.params())
        for name, value in saved.fitted.items():
            setattr(wm, name, value)
        return wm.to(device or "cpu")
