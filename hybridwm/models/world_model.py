"""WorldModel: the one interface every model kind has (learned | physics | hybrid).

>>> model = WorldModel.hybrid(physics=phys, residual=MLP(hidden=(64, 64)))   # doctest: +SKIP
>>> model.fit(train_set, config=TrainConfig(epochs=100, horizon=20))
>>> xs = model.rollout(x0, us, t)          # (batch, n_x), (batch, T, n_u), (T+1,) → (batch, T+1, n_x)
>>> model.save("runs/pendulum-hybrid"); WorldModel.load("runs/pendulum-hybrid")

Conventions (scikit-learn): constructors only store their arguments; ``fit`` validates them
against the data, builds the torch modules, trains and returns ``self``; fitted state ends with
``_``; methods that need it raise :class:`~hybridwm.errors.NotFittedError` before ``fit``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybridwm._io import atomic_write_json, atomic_write_text
from hybridwm.config import Config
from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.data.windows import make_windows
from hybridwm.dynamics import (
    MLP,
    SOLVERS,
    Encoder,
    HybridDynamics,
    Normalizer,
    ODEModel,
)
from hybridwm.errors import (
    ConfigError,
    DataError,
    FormatError,
    IncompatibleVersionError,
    NotFittedError,
    ShapeError,
    UnknownNameError,
)
from hybridwm.training import ADAPT_PHYSICS_LR, History, TrainConfig, Trainer

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "WorldModel"]

FORMAT = "hybridwm.worldmodel"
FORMAT_VERSION = 1
KINDS = ("learned", "physics", "hybrid")
INITS = ("encoder", "optimize")
ADAPT_PARTS = ("auto", "physics", "residual", "all")
ON_DIVERGE = ("raise", "nan")

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _has_free_parameters(physics: Any) -> bool:
    """True for a declared prior with at least one parameter that is not fixed."""
    params = getattr(physics, "parameters", None)
    if not _is_physics_model(physics) or not isinstance(params, dict):
        return False
    return any(not getattr(p, "fixed", False) for p in params.values())


def _is_physics_model(obj: Any) -> bool:
    """Duck-typed check for a ``hybridwm.physics.PhysicsModel``."""
    return callable(getattr(obj, "vector_field", None)) and callable(getattr(obj, "to_json", None))


def _to_tensor(a: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    try:
        if isinstance(a, torch.Tensor):
            return a.to(device=device, dtype=dtype)
        return torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be a numeric array. Converting it failed: {exc}.") from None


def _check_finite(a: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(a).all()):
        where = torch.nonzero(~torch.isfinite(a))[0].tolist()
        raise DataError(
            f"`{name}` holds NaN or inf (first at index {tuple(where)}); a rollout needs finite "
            f"initial states and actions. Drop or interpolate the bad values first."
        )


class WorldModel:
    """A fitted dynamics model of a controlled system; one interface for every kind.

    Build one with :meth:`learned`, :meth:`physics` or :meth:`hybrid` rather than calling the
    constructor. Arguments shared by all kinds:

    Args:
        kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        physics: a ``PhysicsModel`` (or an ``nn.Module`` with its ``vector_field()`` interface:
            ``forward(x, u)``, ``state_names``, ``action_names``); required for physics/hybrid.
        residual: the :class:`MLP` architecture of the learned term (learned/hybrid).
        trainable_physics: train the physics coefficients together with the residual.
        state_names: the model's state coordinates. Default: the physics' states followed by
            any data states it does not cover (physics/hybrid), or the data's states (learned).
            Coordinates missing from the data are unobserved and get an encoder.
        latent_dim: extra free latent coordinates ``z0, z1, ...`` for the learned term.
        encoder: :class:`MLP` architecture of the initial-state encoder (built only when some
            coordinates are unobserved).
        encoder_window: observations the encoder reads (k).
        solver: integration solver name (see ``hybridwm.dynamics.SOLVERS``).
        substeps: fixed-step sub-steps per sample interval.
        rtol: adaptive-solver relative tolerance.
        atol: adaptive-solver absolute tolerance.
        adjoint: train through ``odeint_adjoint``.
        device: torch device of the model (default: the TrainConfig's, else CPU).
        angles: the states that are angles (radians). The learned networks (residual, pure
            learned field, encoder) see each of them as ``(sin θ, cos θ)`` instead of ``θ``,
            so they are 2π-periodic in it and stay in their training range however far the
            angle winds; the PINN collocation then samples them over the full circle.
            ``None`` (default): inferred at ``fit`` by :func:`hybridwm.physics.infer_angles`
            from the physics model, the data's system (``meta["system"]``) or the state names
            (``theta``, ``phi1``, ``*angle*``, ...); ``()`` turns the embedding off. The
            resolved names are in ``angles_`` and saved with the model.
        init: how the unmeasured coordinates' initial values of a new record are estimated:
            ``"encoder"`` (from its first ``encoder_window`` samples by the trained encoder)
            or ``"optimize"`` (free values fitted to its first ``init_window`` samples with
            the model frozen, starting from the encoder's estimate).
        init_window: samples fitted by ``init="optimize"``.
    """

    def __init__(
        self,
        kind: str,
        *,
        physics: Any = None,
        residual: MLP | None = None,
        trainable_physics: bool = False,
        state_names: Sequence[str] | None = None,
        latent_dim: int = 0,
        encoder: MLP | None = None,
        encoder_window: int = 4,
        solver: str = "rk4",
        substeps: int = 1,
        rtol: float = 1e-7,
        atol: float = 1e-9,
        adjoint: bool = False,
        device: str | torch.device | None = None,
        angles: Sequence[str] | None = None,
        init: str = "encoder",
        init_window: int = 20,
    ) -> None:
        self.kind = kind
        self.physics_model = physics
        self.residual = residual
        self.trainable_physics = trainable_physics
        self.state_names = state_names
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.encoder_window = encoder_window
        self.solver = solver
        self.substeps = substeps
        self.rtol = rtol
        self.atol = atol
        self.adjoint = adjoint
        self.device = device
        self.angles = angles
        self.init = init
        self.init_window = init_window

    # ------------------------------------------------------------------ constructors
    @classmethod
    def learned(
        cls,
        hidden: Sequence[int] = (64, 64),
        *,
        activation: str = "tanh",
        init_scale: float = 0.1,
        residual: MLP | None = None,
        **kwargs: Any,
    ) -> WorldModel:
        """A neural ODE ``dx/dt = f_nn(x, u)`` (no physics).

        Args:
            hidden: hidden layer widths of the MLP.
            activation: activation name.
            init_scale: output-layer init factor.
            residual: a full :class:`MLP` spec instead of the three arguments above.
            **kwargs: shared arguments (see the class docstring).
        """
        mlp = residual or MLP(hidden=tuple(hidden), activation=activation, init_scale=init_scale)
        return cls("learned", residual=mlp, **kwargs)

    @classmethod
    def physics(
        cls, physics_model: Any, *, trainable: bool | None = None, **kwargs: Any
    ) -> WorldModel:
        """Physics only: ``dx/dt = f_phys(x, u)``; ``fit`` just checks names and normalizes
        (and trains the coefficients if ``trainable``, or an encoder for unobserved states).

        Args:
            physics_model: a PhysicsModel (or compatible torch module).
            trainable: train the physics coefficients/parameters on the data. Default: yes for
                a declared prior with free (not fixed) parameters, no for discovered equations.
            **kwargs: shared arguments (see the class docstring).
        """
        if trainable is None:
            trainable = _has_free_parameters(physics_model)
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

        Args:
            physics: a PhysicsModel (or compatible torch module).
            residual: the residual's :class:`MLP` (default ``MLP(hidden=(64, 64))``, whose small
                output init makes training start at the physics).
            hidden: shortcut for ``residual=MLP(hidden=hidden)``.
            trainable_physics: train the physics coefficients/parameters too. Default: yes for a
                declared prior with free (not fixed) parameters, no for discovered equations.
            **kwargs: shared arguments (see the class docstring).
        """
        if trainable_physics is None:
            trainable_physics = _has_free_parameters(physics)
        if residual is None:
            residual = MLP(hidden=tuple(hidden) if hidden is not None else (64, 64))
        return cls(
            "hybrid",
            physics=physics,
            residual=residual,
            trainable_physics=trainable_physics,
            **kwargs,
        )

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "model_") else "not fitted"
        return f"WorldModel(kind={self.kind!r}, solver={self.solver!r}, {fitted})"

    # ------------------------------------------------------------------ validation / building
    def _check_params(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"WorldModel kind must be one of {list(KINDS)}. Got {self.kind!r}.")
        if self.kind in ("physics", "hybrid") and self.physics_model is None:
            raise ConfigError(
                f"A {self.kind} WorldModel needs `physics` (a PhysicsModel from "
                f"hybridwm.physics.discover/declare). Got None."
            )
        if self.kind == "learned" and self.physics_model is not None:
            raise ConfigError("A learned WorldModel takes no physics; use WorldModel.hybrid(...).")
        if self.kind in ("learned", "hybrid") and not isinstance(self.residual, MLP):
            raise ConfigError(
                f"`residual` must be an MLP(hidden=..., activation=...) spec. Got "
                f"{type(self.residual).__name__}."
            )
        if self.encoder is not None and not isinstance(self.encoder, MLP):
            raise ConfigError(f"`encoder` must be an MLP spec. Got {type(self.encoder).__name__}.")
        SOLVERS[self.solver]  # UnknownNameError lists the valid names
        if int(self.latent_dim) != self.latent_dim or self.latent_dim < 0:
            raise ConfigError(f"`latent_dim` must be an integer >= 0. Got {self.latent_dim!r}.")
        if int(self.encoder_window) != self.encoder_window or self.encoder_window < 1:
            raise ConfigError(
                f"`encoder_window` must be an integer >= 1. Got {self.encoder_window!r}."
            )
        if int(self.substeps) != self.substeps or self.substeps < 1:
            raise ConfigError(f"`substeps` must be an integer >= 1. Got {self.substeps!r}.")
        if self.init not in INITS:
            raise ConfigError(f"`init` must be one of {list(INITS)}. Got {self.init!r}.")
        if int(self.init_window) != self.init_window or self.init_window < 2:
            raise ConfigError(f"`init_window` must be an integer >= 2. Got {self.init_window!r}.")
        if self.angles is not None and (
            isinstance(self.angles, str) or not all(isinstance(a, str) for a in self.angles)
        ):
            raise ConfigError(
                f"`angles` must be a list of state names (or None to infer them). Got "
                f"{self.angles!r}; write angles=[{self.angles!r}] for one angle."
            )

    def _physics_module(self, dtype: torch.dtype) -> nn.Module | None:
        phys = self.physics_model
        if phys is None:
            return None
        if _is_physics_model(phys):
            return phys.vector_field(trainable=bool(self.trainable_physics), dtype=dtype)
        if isinstance(phys, nn.Module):
            if not hasattr(phys, "state_names") or not hasattr(phys, "action_names"):
                raise ConfigError(
                    "A physics module must have `state_names` and `action_names` attributes "
                    "and compute dx/dt = forward(x, u)."
                )
            module = copy.deepcopy(phys).to(dtype=dtype)
            params = list(module.parameters())
            if self.trainable_physics and not params:
                raise ConfigError(
                    f"trainable physics was requested but the {type(phys).__name__} module has "
                    f"no parameters (its coefficients are buffers); build it with trainable "
                    f"coefficients, or use a PhysicsModel."
                )
            for p in params:
                p.requires_grad_(bool(self.trainable_physics))
            return module
        raise ConfigError(
            f"`physics` must be a PhysicsModel or a torch module with forward(x, u); got "
            f"{type(phys).__name__}."
        )

    def _resolve_names(
        self, data_states: Sequence[str], data_actions: Sequence[str], phys: nn.Module | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        data_states, data_actions = tuple(data_states), tuple(data_actions)
        eqs: tuple[str, ...] = ()
        if phys is not None:
            px, pu = tuple(phys.state_names), tuple(phys.action_names)
            eqs = tuple(getattr(phys, "observation_names", ()) or ())
            if not (set(px) | set(eqs)) & set(data_states) or any(
                a not in data_actions for a in pu
            ):
                more = f" with observation equations {list(eqs)}" if eqs else ""
                raise ShapeError(
                    f"The physics is declared over states {list(px)}{more} and actions "
                    f"{list(pu)}, but the data have states {list(data_states)} and actions "
                    f"{list(data_actions)}. Rename the data columns or the physics variables so "
                    f"they match (`--states/--actions` of the CLI, or ColumnMapping's "
                    f"state_names/action_names)."
                )
        if self.state_names is not None:
            names = tuple(self.state_names)
        elif phys is not None:
            names = tuple(phys.state_names) + tuple(
                n for n in data_states if n not in phys.state_names and n not in eqs
            )
        else:
            names = data_states
        names = names + tuple(f"z{i}" for i in range(int(self.latent_dim)))
        missing = [n for n in data_states if n not in names and n not in eqs]
        if missing:
            raise ShapeError(
                f"The data have states {list(data_states)} but the model's states are "
                f"{list(names)}; {missing} are not among them. Pass state_names= covering "
                f"every measured column."
            )
        if phys is not None:
            bad = [n for n in phys.state_names if n not in names]
            if bad:
                raise ShapeError(
                    f"The physics states {bad} are not model states {list(names)}; include them "
                    f"in state_names."
                )
        if len(set(names)) != len(names):
            raise ConfigError(f"Model state names must be unique. Got {list(names)}.")
        return names, data_actions

    def _build(
        self,
        names: tuple[str, ...],
        observed: tuple[str, ...],
        actions: tuple[str, ...],
        dtype: torch.dtype,
        angles: tuple[str, ...] = (),
    ) -> ODEModel:
        phys = self._physics_module(dtype)
        n_x, n_u = len(names), len(actions)
        residual = None
        if self.kind in ("learned", "hybrid"):
            residual = self.residual.build(n_x + len(angles) + n_u, n_x)
        dyn = HybridDynamics(names, actions, phys, residual, Normalizer(n_x, n_u), angles=angles)
        obs_eqs = tuple(getattr(dyn, "observation_names", ()))
        direct = [n for n in observed if n in names and n not in obs_eqs]
        hidden = [n for n in names if n not in direct]
        encoder = None
        if hidden:
            spec = self.encoder or MLP(hidden=(64,), activation="tanh")
            encoder = Encoder(
                len(observed),
                n_u,
                len(hidden),
                int(self.encoder_window),
                spec.hidden,
                spec.activation,
                angle_index=[observed.index(a) for a in angles if a in observed],
            )
        model = ODEModel(
            dyn,
            observed,
            encoder,
            solver=self.solver,
            substeps=int(self.substeps),
            rtol=self.rtol,
            atol=self.atol,
            adjoint=self.adjoint,
        )
        return model.to(dtype=dtype)

    def _resolve_angles(
        self, names: tuple[str, ...], data: TrajectorySet | None
    ) -> tuple[str, ...]:
        if self.angles is not None:
            unknown = [a for a in self.angles if a not in names]
            if unknown:
                raise ConfigError(
                    f"`angles` names {unknown}, which are not model states {list(names)}. Name "
                    f"angle states that exist, or pass angles=() for no periodic embedding."
                )
            return tuple(n for n in names if n in set(self.angles))
        from hybridwm.physics import infer_angles

        return infer_angles(names, physics=self.physics_model, data=data)

    # ------------------------------------------------------------------ fit
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
            ``self``, fitted.

        Raises:
            ShapeError: the data's names do not match the physics or ``state_names``.
            DataError: ``config.horizon`` is longer than the shortest episode.
            TrainingError: training stopped on NaN/inf or a solver failure (the model is then
                fitted with the best weights found, see ``history_``).
        """
        if isinstance(data, Trajectory):
            data = TrajectorySet([data])
        if not isinstance(data, TrajectorySet):
            raise DataError(
                f"`data` must be a TrajectorySet (or Trajectory). Got {type(data).__name__}."
            )
        cfg = config or TrainConfig()
        if not isinstance(cfg, TrainConfig):
            raise ConfigError(f"`config` must be a TrainConfig. Got {type(cfg).__name__}.")
        self._check_params()
        dtype = _DTYPES[cfg.dtype]
        device = torch.device(cfg.device or self.device or "cpu")
        SOLVERS[cfg.solver or self.solver]

        self._warn_constant(data)
        if hasattr(self, "physics_original_"):  # refit from the given physics, not an adapted one
            self.physics_model = self.__dict__.pop("physics_original_")
        for name in ("adapt_history_", "adapt_config_", "adapted_parts_"):
            self.__dict__.pop(name, None)
        # names ---------------------------------------------------------------
        phys_probe = self._physics_module(dtype)
        names, actions = self._resolve_names(data.state_names, data.action_names, phys_probe)
        observed = tuple(data.state_names)
        hidden = [n for n in names if n not in observed]
        # horizon vs data and encoder --------------------------------------------
        train, windows, val_windows = self._windows(data, validation, cfg, bool(hidden))

        # build ---------------------------------------------------------------
        angles = self._resolve_angles(names, data)
        torch.manual_seed(cfg.seed)
        model = self._build(names, observed, actions, dtype, angles)
        self._fit_normalizer(model, train)
        model.to(device=device)
        self.model_ = model
        self.state_names_ = names
        self.observed_names_ = observed
        self.action_names_ = actions
        self.angles_ = angles
        self.config_ = cfg
        self.history_ = History()
        trainer = Trainer(model, cfg)
        try:
            self.history_ = trainer.fit(windows, val_windows)
        finally:
            self.history_ = trainer.history
            model.eval()
        self.device = device
        self._warn_bounds()
        self._warn_untrained(self.history_)
        return self

    @staticmethod
    def _warn_untrained(history: History) -> None:
        """Warn when training ran but never beat the initial weights (so they were kept)."""
        if (
            len(history) > 1
            and history.best_epoch == 0
            and history.stop_reason
            not in (
                "nothing to train",
                "",
            )
        ):
            warnings.warn(
                f"Training ran {len(history) - 1} epochs (stopped: {history.stop_reason}) but "
                f"never improved the validation error of the initial weights, so the returned "
                f"model is the untrained one. Try a larger budget (epochs/max_time), a shorter "
                f"validation_horizon, a lower lr, or more data.",
                UserWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ adapt
    def adapt(
        self,
        data: TrajectorySet | Trajectory,
        config: TrainConfig | None = None,
        *,
        parts: str = "auto",
        validation: TrajectorySet | None = None,
    ) -> WorldModel:
        """Fine-tune the fitted model on a (small) record of a changed system.

        Recalibration after the system changed (a heavier load, a longer arm, more friction):
        a hybrid or physics model re-identifies its few interpretable physics coefficients
        from a short record, where a black-box network must relearn a whole function. The
        architecture, names and the normalization fitted on the original training data are kept
        (not refitted); only the chosen ``parts`` are trained, everything else is frozen.

        Args:
            data: episodes of the changed system, with the states and actions the model was
                fitted on.
            config: training settings. Default: ``TrainConfig(pinn_weight=0.0)``; see the
                notes on the PINN term below. Its ``dtype`` is replaced by the model's, and
                ``physics_lr=None`` means :data:`~hybridwm.training.ADAPT_PHYSICS_LR` (0.05):
                physics coefficients must move by whole units in a few hundred Adam steps.
            parts: what to train: ``"physics"`` (the physics coefficients of a discovered
                model, or the free parameters of a declared prior; the sparsity mask stays, so
                zero coefficients stay zero), ``"residual"`` (the learned networks: the residual
                or learned field, and the encoder of unobserved states), ``"all"``, or
                ``"auto"``: ``"physics"`` for physics and hybrid models, ``"all"`` for learned.
            validation: validation episodes; default: ``config.validation_fraction`` of
                ``data``'s episodes, held out by a seeded split.

        Returns:
            ``self``, adapted. ``adapt_history_`` holds the adaptation's :class:`History`,
            ``adapt_config_`` the effective config, ``adapted_parts_`` the trained parts. The
            physics of a physics/hybrid model fitted with frozen physics is frozen again after
            adaptation, with the adapted values: ``physics_model`` becomes the adapted
            equations (the original stays in ``physics_original_``), and :meth:`save` writes
            them to ``physics.json``.

        Notes:
            The PINN term compares the model with the physics; when the physics itself is
            being adapted, comparing with the physics as it was would pull it back to the old
            coefficients. So ``config=None`` gives ``pinn_weight=0``; a given config keeps its
            ``pinn_weight``, and its ``pinn_reference="auto"`` becomes ``"current"`` (the term
            then only keeps the residual small, wherever the physics goes; pass
            ``pinn_reference="initial"`` to tie the physics to its old values on purpose).
            When the residual is frozen (``parts="physics"``), the PINN and residual-norm terms
            cannot change anything and are switched off.

        Raises:
            NotFittedError: before ``fit``.
            UnknownNameError: ``parts`` is not a valid name.
            ConfigError: ``parts`` names something the model lacks (``"physics"`` of a learned
                model, ``"residual"`` of a physics model), or custom physics without
                trainable parameters.
            ShapeError: the data's names differ from the fitted model's.
            DataError: ``config.horizon`` is longer than the shortest episode.
            TrainingError: training stopped on NaN/inf or a solver failure (the best weights
                found are kept, the physics is frozen again).
        """
        model = self._require_fitted("adapt")
        if parts not in ADAPT_PARTS:
            raise UnknownNameError(
                f"Unknown adaptation part {parts!r} of WorldModel.adapt. Valid names: "
                f"{list(ADAPT_PARTS)}."
            )
        dyn = model.dynamics
        if parts == "auto":
            parts = "all" if dyn.physics is None else "physics"
        if parts == "physics" and dyn.physics is None:
            raise ConfigError(
                f"parts='physics' needs a physics term, but this {self.kind} WorldModel has "
                f"none: its dynamics are one neural network. Adapt it with parts='all' (or "
                f"'auto'), or build a hybrid model (WorldModel.hybrid) to recalibrate physics."
            )
        learned_modules = [m for m in (dyn.residual, model.encoder) if m is not None]
        if parts == "residual" and not learned_modules:
            raise ConfigError(
                f"parts='residual' needs a learned network, but this {self.kind} WorldModel has "
                f"none; adapt its physics with parts='physics' (or 'auto')."
            )
        data = self._check_data(data, "adapt")
        if validation is not None:
            validation = self._check_data(validation, "adapt")
        cfg = config if config is not None else TrainConfig(pinn_weight=0.0)
        if not isinstance(cfg, TrainConfig):
            raise ConfigError(f"`config` must be a TrainConfig. Got {type(cfg).__name__}.")
        dtype, device = self._dtype_device()
        changes: dict[str, Any] = {"dtype": str(dtype).replace("torch.", "")}
        train_physics = parts in ("physics", "all") and dyn.physics is not None
        train_learned = parts in ("residual", "all") and bool(learned_modules)
        if train_physics and cfg.pinn_reference == "auto":
            changes["pinn_reference"] = "current"
        if train_physics and cfg.physics_lr is None:
            changes["physics_lr"] = ADAPT_PHYSICS_LR
        if not train_learned:
            changes.update(pinn_weight=0.0, residual_weight=0.0)
        cfg = cfg.replace(**changes)
        if cfg.device is None:
            cfg = cfg.replace(device=str(device))
        if cfg.solver is not None:
            SOLVERS[cfg.solver]
        self._warn_constant(data)
        _, windows, val_windows = self._windows(data, validation, cfg, bool(model.hidden_names))

        # choose the trainable tensors ------------------------------------------
        rebuilt = False
        if train_physics:
            phys = dyn.physics
            if callable(getattr(phys, "to_physics_model", None)) and not getattr(
                phys, "trainable", True
            ):
                # a frozen PhysicsVectorField stores plain values; rebuild it trainable (with
                # its bounds' reparametrisation) from its current values
                dyn.physics = (
                    phys.to_physics_model()
                    .vector_field(trainable=True, dtype=dtype, device=device)
                    .train(phys.training)
                )
                rebuilt = True
            elif not list(phys.parameters()):
                raise ConfigError(
                    f"parts={parts!r} trains the physics, but the {type(phys).__name__} module "
                    f"has no parameters (its coefficients are buffers); build it with trainable "
                    f"coefficients, use a PhysicsModel, or adapt with parts='residual'."
                )
        flags = {id(p): p.requires_grad for p in model.parameters()}
        chosen: list[nn.Parameter] = []
        if train_physics:
            chosen += list(dyn.physics.parameters())
        if train_learned:
            chosen += [p for m in learned_modules for p in m.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        for p in chosen:
            p.requires_grad_(True)

        trainer = Trainer(model, cfg)
        try:
            trainer.fit(windows, val_windows)
        finally:
            self.adapt_history_ = trainer.history
            self.adapt_config_ = cfg
            self.adapted_parts_ = parts
            for p in model.parameters():
                if id(p) in flags:
                    p.requires_grad_(flags[id(p)])
            if rebuilt:
                self._refreeze_physics(dtype, device)
            elif train_physics:
                self._record_adapted_physics()
            model.eval()
        return self

    def _refreeze_physics(self, dtype: torch.dtype, device: torch.device) -> None:
        """After adapting a frozen physics: freeze it again with the adapted values."""
        dyn = self.model_.dynamics
        adapted = dyn.physics.to_physics_model()
        dyn.physics = adapted.vector_field(trainable=False, dtype=dtype, device=device).eval()
        self._record_adapted_physics()

    @property
    def physics_(self) -> Any:
        """The fitted model's current equations as a ``PhysicsModel`` (trained or adapted
        coefficients and parameter values included), or None for a purely learned model.

        Raises:
            NotFittedError: before ``fit``.
        """
        model = self._require_fitted("physics_")
        module = model.dynamics.physics
        if module is None:
            return None
        if callable(getattr(module, "to_physics_model", None)):
            return module.to_physics_model()
        return self.physics_model

    def _record_adapted_physics(self) -> None:
        """``physics_model`` becomes the adapted equations; the given ones stay in
        ``physics_original_`` (a later ``fit`` starts from those again)."""
        module = self.model_.dynamics.physics
        if not _is_physics_model(self.physics_model) or not callable(
            getattr(module, "to_physics_model", None)
        ):
            return
        if not hasattr(self, "physics_original_"):
            self.physics_original_ = self.physics_model
        self.physics_model = module.to_physics_model()

    def _check_data(self, data: Any, what: str) -> TrajectorySet:
        """``data`` as a TrajectorySet with the fitted model's state and action names."""
        if isinstance(data, Trajectory):
            data = TrajectorySet([data])
        if not isinstance(data, TrajectorySet):
            raise DataError(
                f"`data` of {what} must be a TrajectorySet (or Trajectory). Got "
                f"{type(data).__name__}."
            )
        if tuple(data.state_names) != tuple(self.observed_names_) or tuple(
            data.action_names
        ) != tuple(self.action_names_):
            raise ShapeError(
                f"The data given to {what} have states {list(data.state_names)} and actions "
                f"{list(data.action_names)}, but the model was fitted on states "
                f"{list(self.observed_names_)} and actions {list(self.action_names_)}. Map "
                f"the data columns to the model's names (ColumnMapping's state_names/action_names "
                f"when reading a file)."
            )
        return data

    def _windows(
        self,
        data: TrajectorySet,
        validation: TrajectorySet | None,
        cfg: TrainConfig,
        has_hidden: bool,
    ) -> tuple[TrajectorySet, Any, Any]:
        """Split off validation episodes (seeded) and cut training and validation windows.

        Returns:
            ``(train, windows, val_windows)``; ``val_windows`` is None without validation.
        """
        if validation is None and cfg.validation_fraction > 0 and len(data) >= 2:
            train, validation = data.split(
                (1 - cfg.validation_fraction, cfg.validation_fraction), seed=cfg.seed
            )
        else:
            train = data
        if validation is not None and (
            validation.state_names != data.state_names
            or validation.action_names != data.action_names
        ):
            raise ShapeError(
                f"Validation data have states {list(validation.state_names)}, actions "
                f"{list(validation.action_names)}; training data have {list(data.state_names)}, "
                f"{list(data.action_names)}."
            )
        windows = make_windows(train, cfg.horizon, stride=cfg.stride)
        if has_hidden and cfg.horizon + 1 < self.encoder_window:
            raise ConfigError(
                f"The encoder reads {self.encoder_window} observations but windows hold only "
                f"horizon+1 = {cfg.horizon + 1}; raise horizon or lower encoder_window."
            )
        val_windows = None
        if validation is not None:
            vh = cfg.validation_horizon or int(validation.lengths.min()) - 1
            if vh < 1:
                raise DataError("Validation episodes need at least 2 samples each.")
            val_windows = make_windows(validation, vh, stride=vh)
        return train, windows, val_windows

    @staticmethod
    def _warn_constant(data: TrajectorySet) -> None:
        """Warn about measured or action columns that never change (nothing to learn from)."""
        for kind, names, arrays in (
            ("state", data.state_names, [tr.x for tr in data]),
            ("action", data.action_names, [tr.u for tr in data]),
        ):
            if not names:
                continue
            a = np.concatenate(arrays)
            with np.errstate(all="ignore"):
                spread = np.nanmax(a, 0) - np.nanmin(a, 0)
            for j in np.flatnonzero(spread <= 1e-12 * np.maximum(1.0, np.abs(np.nanmax(a, 0)))):
                warnings.warn(
                    f"The {kind} column {names[j]!r} is constant (= {float(a[0, j])!r}) over all "
                    f"{len(data)} episodes: the model cannot learn how it moves or acts. Check the "
                    f"column mapping (is it the right column?) or drop it.",
                    UserWarning,
                    stacklevel=3,
                )

    def _warn_bounds(self) -> None:
        """Warn when a trained physical parameter ended at (within 1e-3 of) one of its bounds."""
        module = getattr(self.model_.dynamics, "physics", None)
        if module is None or not self.trainable_physics:
            return
        values = getattr(module, "parameter_values", None)
        bounds = getattr(module, "_bounds", None)
        free = getattr(module, "free_parameter_names", None)
        if not callable(values) or bounds is None or free is None:
            return
        vals = values()
        for name, (lo, hi) in zip(free, bounds, strict=False):
            v = vals[name]
            for side, b in (("lower", lo), ("upper", hi)):
                if np.isfinite(b) and abs(v - b) <= 1e-3 * max(abs(b), abs(v), 1e-12):
                    warnings.warn(
                        f"The fitted physical parameter {name!r} = {v:.6g} ended at its {side} "
                        f"bound {b:g}: the data push it out of the range you declared. Check the "
                        f"bound, the units, or the equation it appears in (a missing term is often "
                        f"absorbed by the nearest parameter).",
                        UserWarning,
                        stacklevel=3,
                    )

    @staticmethod
    def _fit_normalizer(model: ODEModel, data: TrajectorySet) -> None:
        x = np.concatenate([tr.x for tr in data])
        u = np.concatenate([tr.u for tr in data])
        rates = np.concatenate(
            [np.diff(tr.x, axis=0) / np.diff(tr.t)[:, None] for tr in data if len(tr) > 1]
        )
        dyn = model.dynamics
        names = dyn.state_names
        norm = dyn.normalizer
        observed = list(model.observed_names)
        direct = list(model.direct_names)
        idx = [names.index(n) for n in direct]
        cols = [observed.index(n) for n in direct]
        full = {
            k: getattr(norm, k).detach().cpu().numpy().copy()
            for k in ("x_mean", "x_std", "x_min", "x_max", "dx_scale")
        }
        full["x_mean"][idx] = x[:, cols].mean(0)
        full["x_std"][idx] = x[:, cols].std(0)
        full["x_min"][idx] = x[:, cols].min(0)
        full["x_max"][idx] = x[:, cols].max(0)
        full["dx_scale"][idx] = rates[:, cols].std(0)
        values: dict[str, Any] = dict(full)
        if u.shape[1]:
            values.update(u_mean=u.mean(0), u_std=u.std(0), u_min=u.min(0), u_max=u.max(0))
        norm.set(**values)
        if model.equation_names:
            std = x.std(0)
            model.obs_std.copy_(
                torch.as_tensor(np.where(std > 1e-12, std, 1.0), dtype=model.obs_std.dtype)
            )
        if model.encoder is not None:
            std = x.std(0)
            rstd = rates.std(0)
            model.encoder.set_scales(
                obs_mean=x.mean(0),
                obs_std=np.where(std > 1e-12, std, 1.0),
                rate_scale=np.where(rstd > 1e-12, rstd, 1.0),
                u_mean=norm.u_mean,
                u_std=norm.u_std,
            )

    # ------------------------------------------------------------------ inference
    def _require_fitted(self, what: str) -> ODEModel:
        model = getattr(self, "model_", None)
        if model is None:
            raise NotFittedError(
                f"This WorldModel ({self.kind}) is not fitted yet; call .fit(data) before "
                f".{what}(), or load a saved one with WorldModel.load(path)."
            )
        return model

    def _dtype_device(self) -> tuple[torch.dtype, torch.device]:
        buf = next(iter(self.model_.dynamics.normalizer.buffers()))
        return buf.dtype, buf.device

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
            us: (batch, T, n_u) actions; ``us[:, k]`` acts on ``[t[k], t[k+1])``.
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
        as_numpy = not isinstance(x0, torch.Tensor)
        dtype, device = self._dtype_device()
        x0_t = _to_tensor(x0, "x0", dtype, device)
        us_t = _to_tensor(us, "us", dtype, device)
        single = x0_t.ndim == 1
        if single:
            x0_t = x0_t[None]
            if us_t.ndim == 2:
                us_t = us_t[None]
        n_x, n_u = model.dynamics.n_x, model.dynamics.n_u
        if x0_t.ndim != 2 or x0_t.shape[1] != n_x:
            hint = ""
            if (
                x0_t.ndim == 2
                and x0_t.shape[1] == len(model.observed_names)
                and not model.fully_observed
            ):
                hint = (
                    f" The model has unobserved coordinates {list(model.hidden_names)}: give full "
                    f"states, or use predict(data) to start from observations."
                )
            raise ShapeError(
                f"`x0` must be (batch, n_x) = (batch, {n_x}) for states "
                f"{list(model.state_names)}; got shape {tuple(x0_t.shape)}.{hint}"
            )
        if us_t.ndim != 3 or us_t.shape[0] != x0_t.shape[0] or us_t.shape[2] != n_u:
            raise ShapeError(
                f"`us` must be (batch, T, n_u) = ({x0_t.shape[0]}, T, {n_u}) for actions "
                f"{list(model.action_names)}; got shape {tuple(us_t.shape)}."
            )
        if t is None:
            if dt is None:
                raise ConfigError("Give the sample times `t` (T+1,) or a step `dt`.")
            if not float(dt) > 0:
                raise ConfigError(f"`dt` must be > 0. Got {dt!r} instead.")
            t_t = float(dt) * torch.arange(us_t.shape[1] + 1, dtype=dtype, device=device)
        else:
            t_t = _to_tensor(t, "t", dtype, device)
            if t_t.ndim != 1 or t_t.shape[0] < 2:
                raise ShapeError(f"`t` must be (T+1,) with T >= 1; got shape {tuple(t_t.shape)}.")
            _check_finite(t_t, "t")
            steps = t_t[1:] - t_t[:-1]
            if not bool((steps > 0).all()):
                i = int(torch.nonzero(steps <= 0)[0]) + 1
                raise DataError(
                    f"`t` must be strictly increasing; t[{i}] = {float(t_t[i])!r} follows "
                    f"t[{i - 1}] = {float(t_t[i - 1])!r}. Sort the times and drop duplicates."
                )
        if us_t.shape[1] not in (t_t.shape[0] - 1, t_t.shape[0]):
            raise ShapeError(
                f"`us` has {us_t.shape[1]} time rows but `t` has {t_t.shape[0]} samples; give "
                f"T = {t_t.shape[0] - 1} actions for T+1 = {t_t.shape[0]} times."
            )
        _check_finite(x0_t, "x0")
        _check_finite(us_t, "us")
        if solver is not None:
            SOLVERS[solver]
        grad = x0_t.requires_grad or us_t.requires_grad
        with torch.set_grad_enabled(grad):
            xs = model.simulate(x0_t, us_t, t_t, solver=solver)
            out = xs if full_state else model.decode(xs)
        if single:
            out = out[0]
        if as_numpy:
            return out.detach().cpu().numpy()
        return out

    def step(self, x: Any, u: Any, dt: float) -> Any:
        """One step: x (batch, n_x), u (batch, n_u) held for ``dt`` > 0 → (batch, n_x)."""
        self._require_fitted("step")
        if not isinstance(dt, (int, float, np.floating, np.integer)) or not float(dt) > 0:
            raise ConfigError(f"`dt` must be a number > 0. Got {dt!r} instead.")
        is_torch = isinstance(x, torch.Tensor)
        u_arr = u[:, None] if is_torch else np.asarray(u, dtype=np.float64)[:, None]
        if not is_torch and np.asarray(u).ndim != 2:
            raise ShapeError(f"`u` must be (batch, n_u); got shape {np.shape(u)}.")
        out = self.rollout(x, u_arr, dt=float(dt), full_state=True)
        return out[:, 1]

    def predict(
        self,
        data: TrajectorySet | Trajectory,
        *,
        solver: str | None = None,
        on_diverge: str = "raise",
        init: str | None = None,
    ) -> TrajectorySet:
        """Open-loop rollouts of every episode from its first state(s) under its own actions.

        Fully observed models start from each episode's first sample; models with unobserved
        coordinates estimate them from the episode's first samples (``init``). Each prediction
        is on the episode's own time grid (jittered grids included); episodes sharing a grid,
        or sharing a length when their grids are irregular, are batched.

        Args:
            data: episodes with the model's observed state and action names.
            solver: solver override.
            on_diverge: what to do when a prediction blows up (NaN/inf): ``"raise"`` a
                DataError, or ``"nan"``: keep the diverged episodes with their NaN/inf values
                (``allow_nan=True`` trajectories, ``meta["diverged"] = True``) and warn once,
                so that an evaluation can count divergences.
            init: override the model's ``init`` (``"encoder"`` or ``"optimize"``) for the
                unobserved initial coordinates.

        Returns:
            A TrajectorySet of predicted observations (same times, actions, names; ``meta``
            gains ``"prediction": kind`` and ``"diverged"``).
        """
        model = self._require_fitted("predict")
        if on_diverge not in ON_DIVERGE:
            raise ConfigError(
                f"`on_diverge` must be one of {list(ON_DIVERGE)}. Got {on_diverge!r}."
            )
        init = self.init if init is None else init
        if init not in INITS:
            raise ConfigError(f"`init` must be one of {list(INITS)}. Got {init!r}.")
        if isinstance(data, Trajectory):
            data = TrajectorySet([data])
        if tuple(data.state_names) != tuple(self.observed_names_) or tuple(
            data.action_names
        ) != tuple(self.action_names_):
            raise ShapeError(
                f"The data have states {list(data.state_names)} and actions "
                f"{list(data.action_names)}, but the model was fitted on states "
                f"{list(self.observed_names_)} and actions {list(self.action_names_)}."
            )
        optimize = init == "optimize" and bool(model.hidden_names)
        k = max(model.encoder_window, int(self.init_window) if optimize else 1)
        short = [i for i, tr in enumerate(data) if len(tr) < max(2, model.encoder_window)]
        if short:
            need = max(2, model.encoder_window)
            raise DataError(
                f"Episodes {short} have fewer than {need} samples; predict needs at least "
                f"{need} per episode."
            )
        dtype, device = self._dtype_device()
        groups: dict[bytes, list[int]] = {}
        for i, tr in enumerate(data):
            if tr.is_uniform or len(tr) < 3:
                key = b"u" + np.round(tr.t - tr.t[0], 9).tobytes()
            else:
                key = b"n" + np.int64(len(tr)).tobytes()
            groups.setdefault(key, []).append(i)
        preds: list[np.ndarray | None] = [None] * len(data)
        model.eval()
        for key, idx in groups.items():
            if key.startswith(b"u"):
                tr0 = data[idx[0]]
                t = torch.as_tensor(tr0.t - tr0.t[0], dtype=dtype, device=device)
            else:
                t = torch.as_tensor(
                    np.stack([data[i].t - data[i].t[0] for i in idx]), dtype=dtype, device=device
                )
            x = torch.as_tensor(np.stack([data[i].x for i in idx]), dtype=dtype, device=device)
            u = torch.as_tensor(np.stack([data[i].u for i in idx]), dtype=dtype, device=device)
            hidden = None
            if optimize:
                hidden = self._optimize_initial(model, x, u, t, min(k, x.shape[1]), solver)
            with torch.no_grad():
                p = model(x, u, t, hidden=hidden, solver=solver).cpu().numpy()
            for j, i in enumerate(idx):
                preds[i] = p[j]
        out = []
        diverged = []
        for i, (tr, p) in enumerate(zip(data, preds, strict=False)):
            meta = dict(tr.meta)
            meta["prediction"] = self.kind
            bad = not np.isfinite(p).all()
            meta["diverged"] = bool(bad)
            if bad:
                diverged.append(i)
                if on_diverge == "raise":
                    raise DataError(
                        f"The {self.kind} model's prediction of episode {i} diverged (NaN/inf). "
                        f"The model is unstable on these inputs; check that they match its "
                        f"training data, or pass on_diverge='nan' to keep the diverged episodes "
                        f"and count them."
                    )
            out.append(tr.replace(x=p, meta=meta, allow_nan=bad or tr.allow_nan))
        if diverged:
            warnings.warn(
                f"The {self.kind} model's predictions of {len(diverged)} of {len(data)} episodes "
                f"diverged (NaN/inf): episodes {diverged[:10]}{' ...' if len(diverged) > 10 else ''}"
                f". They are kept with their NaN/inf values (meta['diverged'] = True).",
                UserWarning,
                stacklevel=2,
            )
        return TrajectorySet(out)

    def _optimize_initial(
        self,
        model: ODEModel,
        x: torch.Tensor,
        u: torch.Tensor,
        t: torch.Tensor,
        k: int,
        solver: str | None,
        iterations: int = 50,
    ) -> torch.Tensor:
        """Hidden initial coordinates fitted to the first ``k`` samples, the model frozen.

        Starts from the encoder's estimate and minimizes the normalized squared error of the
        predicted observations over the first ``k`` samples with L-BFGS.

        Returns:
            (batch, n_hidden) fitted hidden initial values.
        """
        with torch.no_grad():
            h0 = model.encoder(x, u, t) if model.encoder is not None else None
        if h0 is None:
            h0 = x.new_zeros((x.shape[0], len(model.hidden_names)))
        hidden = h0.detach().clone().requires_grad_(True)
        tk = t[..., :k]
        std = model.observation_scale()
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        opt = torch.optim.LBFGS(
            [hidden], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            pred = model(x[:, :k], u[:, :k], tk, hidden=hidden, solver=solver)
            loss = ((pred - x[:, :k]) / std).pow(2).sum()
            if torch.isfinite(loss):
                loss.backward()
            return loss

        try:
            opt.step(closure)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        out = hidden.detach()
        return out if bool(torch.isfinite(out).all()) else h0.detach()

    # ------------------------------------------------------------------ devices
    def to(self, device: str | torch.device) -> WorldModel:
        """Move the fitted model to ``device`` (``"cpu"``, ``"cuda"``, ...); returns ``self``."""
        self.device = torch.device(device)
        if hasattr(self, "model_"):
            self.model_.to(device=self.device)
        return self

    # ------------------------------------------------------------------ save / load
    def _params(self) -> dict[str, Any]:
        return {
            "residual": self.residual.to_dict() if isinstance(self.residual, MLP) else None,
            "trainable_physics": bool(self.trainable_physics),
            "latent_dim": int(self.latent_dim),
            "encoder": self.encoder.to_dict() if isinstance(self.encoder, MLP) else None,
            "encoder_window": int(self.encoder_window),
            "solver": self.solver,
            "substeps": int(self.substeps),
            "rtol": float(self.rtol),
            "atol": float(self.atol),
            "adjoint": bool(self.adjoint),
            "angles": list(getattr(self, "angles_", None) or ()),
            "init": self.init,
            "init_window": int(self.init_window),
        }

    def _trained_physics_json(self) -> str | None:
        phys = self.physics_model
        if phys is None or not _is_physics_model(phys):
            return None
        source = phys
        if self.trainable_physics:
            module = self.model_.dynamics.physics
            from_vf = getattr(type(phys), "from_vector_field", None)
            if from_vf is not None:
                source = from_vf(module)
            elif hasattr(module, "to_physics_model"):
                source = module.to_physics_model()
        text = source.to_json()
        return text if isinstance(text, str) else json.dumps(text, indent=2)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model as a run directory (atomically: a temp dir, then a rename).

        Files: ``config.json`` (format, kind, architecture, names, adapted parts), ``physics.json``
        (when the physics is a PhysicsModel; with trained or adapted coefficients),
        ``weights.safetensors`` (all weights and normalization buffers), ``history.json``,
        ``train_config.json``, and after :meth:`adapt` ``adapt_history.json`` and
        ``adapt_config.json``.

        Raises:
            NotFittedError: before ``fit``.
            FormatError: ``path`` exists and is not a hybridwm model directory.
        """
        from safetensors.torch import save_file

        model = self._require_fitted("save")
        path = Path(path)
        if path.exists() and not (
            path.is_dir() and (not any(path.iterdir()) or _is_model_dir(path))
        ):
            raise FormatError(
                f"Refusing to overwrite {str(path)!r}: it exists and is not a hybridwm model "
                f"directory. Choose another path or remove it."
            )
        from hybridwm import __version__

        phys = self.physics_model
        phys_json = self._trained_physics_json()
        physics_entry = None
        if phys is not None:
            physics_entry = "physics.json" if phys_json is not None else "custom"
        dtype, _ = self._dtype_device()
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hybridwm_version": __version__,
            "kind": self.kind,
            "params": self._params(),
            "state_names": list(self.state_names_),
            "observed_names": list(self.observed_names_),
            "action_names": list(self.action_names_),
            "dtype": str(dtype).replace("torch.", ""),
            "physics": physics_entry,
            "adapted": getattr(self, "adapted_parts_", None),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            atomic_write_json(tmp / "config.json", config)
            if phys_json is not None:
                atomic_write_text(tmp / "physics.json", phys_json)
            tensors = {
                k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
            }
            save_file(tensors, str(tmp / "weights.safetensors"), metadata={"format": FORMAT})
            self.history_.save(tmp / "history.json")
            cfg = getattr(self, "config_", None)
            if isinstance(cfg, Config):
                cfg.save(tmp / "train_config.json")
            adapt_history = getattr(self, "adapt_history_", None)
            if isinstance(adapt_history, History):
                adapt_history.save(tmp / "adapt_history.json")
            adapt_cfg = getattr(self, "adapt_config_", None)
            if isinstance(adapt_cfg, Config):
                adapt_cfg.save(tmp / "adapt_config.json")
            backup = None
            if path.exists():
                backup = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, backup)
            os.replace(tmp, path)
            if backup is not None:
                shutil.rmtree(backup, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        physics: Any = None,
        device: str | torch.device | None = None,
    ) -> WorldModel:
        """Load a run directory written by :meth:`save` (no pickles are read).

        Args:
            path: the directory.
            physics: the physics module, required only when the model was saved with a custom
                (non-PhysicsModel) physics module.
            device: where to put the model (default CPU).

        Raises:
            FormatError: ``path`` is not a hybridwm model directory or its files are damaged.
            IncompatibleVersionError: the directory comes from a newer format version.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        cfg_path = path / "config.json"
        if not path.is_dir() or not cfg_path.is_file():
            raise FormatError(
                f"{str(path)!r} is not a hybridwm model directory (no config.json). Give the "
                f"directory written by WorldModel.save(path)."
            )
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{str(cfg_path)!r} is not valid JSON: {exc}.") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise FormatError(
                f"{str(path)!r} is not a hybridwm model directory: config.json has format "
                f"{config.get('format') if isinstance(config, dict) else None!r}, expected {FORMAT!r}."
            )
        version = config.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise IncompatibleVersionError(
                f"{str(path)!r} has model format version {version!r}; this hybridwm reads "
                f"version {FORMAT_VERSION}. Upgrade hybridwm (pip install -U hybridwm) or re-save "
                f"the model with a matching version."
            )
        try:
            params = dict(config["params"])
            kind = config["kind"]
            names = tuple(config["state_names"])
            observed = tuple(config["observed_names"])
            actions = tuple(config["action_names"])
            dtype = _DTYPES[config.get("dtype", "float64")]
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{str(cfg_path)!r} is missing or has a bad entry: {exc}.") from None
        entry = config.get("physics")
        phys_obj = None
        if entry == "physics.json":
            from hybridwm.physics import PhysicsModel

            text = (path / "physics.json").read_text(encoding="utf-8")
            phys_obj = PhysicsModel.from_json(text)
        elif entry == "custom":
            if physics is None:
                raise FormatError(
                    f"{str(path)!r} was saved with a custom physics module, which cannot be "
                    f"stored as JSON; pass it again: WorldModel.load(path, physics=module)."
                )
            phys_obj = physics
        residual = MLP.from_dict(params["residual"]) if params.get("residual") else None
        encoder = MLP.from_dict(params["encoder"]) if params.get("encoder") else None
        wm = cls(
            kind,
            physics=phys_obj,
            residual=residual,
            trainable_physics=params.get("trainable_physics", False),
            state_names=[n for n in names if not _is_latent(n, params)],
            latent_dim=params.get("latent_dim", 0),
            encoder=encoder,
            encoder_window=params.get("encoder_window", 4),
            solver=params.get("solver", "rk4"),
            substeps=params.get("substeps", 1),
            rtol=params.get("rtol", 1e-7),
            atol=params.get("atol", 1e-9),
            adjoint=params.get("adjoint", False),
            angles=tuple(params.get("angles", ())),
            init=params.get("init", "encoder"),
            init_window=params.get("init_window", 20),
        )
        wm._check_params()
        model = wm._build(names, observed, actions, dtype, tuple(params.get("angles", ())))
        try:
            tensors = load_file(str(path / "weights.safetensors"))
        except (FileNotFoundError, SafetensorError, OSError) as exc:
            raise FormatError(
                f"Cannot read {str(path / 'weights.safetensors')!r}: {exc}."
            ) from None
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            raise FormatError(
                f"The weights in {str(path)!r} do not fit the architecture in config.json: {exc}"
            ) from None
        dev = torch.device(device or "cpu")
        wm.model_ = model.to(device=dev)
        wm.device = dev
        wm.state_names_, wm.observed_names_, wm.action_names_ = names, observed, actions
        wm.angles_ = tuple(params.get("angles", ()))
        wm.model_.eval()
        hist = path / "history.json"
        wm.history_ = (
            History.from_dict(json.loads(hist.read_text(encoding="utf-8")))
            if hist.is_file()
            else History()
        )
        tc = path / "train_config.json"
        if tc.is_file():
            with contextlib.suppress(Exception):
                wm.config_ = TrainConfig.from_file(tc)
        if config.get("adapted"):
            wm.adapted_parts_ = str(config["adapted"])
            hist = path / "adapt_history.json"
            if hist.is_file():
                wm.adapt_history_ = History.from_dict(json.loads(hist.read_text(encoding="utf-8")))
            tc = path / "adapt_config.json"
            if tc.is_file():
                with contextlib.suppress(Exception):
                    wm.adapt_config_ = TrainConfig.from_file(tc)
        return wm


def _is_latent(name: str, params: dict[str, Any]) -> bool:
    k = int(params.get("latent_dim", 0))
    return name in {f"z{i}" for i in range(k)}


def _is_model_dir(path: Path) -> bool:
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(cfg, dict) and cfg.get("format") == FORMAT
