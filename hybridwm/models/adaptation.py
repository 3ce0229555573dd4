"""Adaptation: fine-tuning chosen parts of a fitted model on a short record of a changed system.

Recalibration after the system changed (a heavier load, a longer arm, more friction): a hybrid
or physics model re-identifies its few interpretable physics coefficients from a short record,
where a black-box network must relearn a whole function. The architecture, names and the
normalization fitted on the original training data are kept (not refitted); only the chosen
parts are trained, everything else is frozen. When the residual is trained, a hybrid's support
gate is widened to the new record, so the residual can act where it is now taught.

The PINN term compares the model with the physics; when the physics itself is being adapted,
comparing with the physics as it was would pull it back to the old coefficients. So the default
config has ``pinn_weight=0``; a given config keeps its ``pinn_weight``, and its
``pinn_reference="auto"`` becomes ``"current"`` (the term then only keeps the residual small,
wherever the physics goes; pass ``pinn_reference="initial"`` to tie the physics to its old values
on purpose). When the residual is frozen (``parts="physics"``), the PINN and residual-norm terms
cannot change anything and are switched off. ``physics_lr=None`` becomes
:data:`~hybridwm.training.ADAPT_PHYSICS_LR`: physics coefficients must move by whole units in a
few hundred Adam steps.

Discovered coefficients are recalibrated *relative to their size*: each is trained as
``c = c0 + |c0| s`` with ``s`` starting at 0 (:class:`RelativeChange`), so a step moves every
coefficient by the same fraction of itself. A changed mass or length scales the coefficients it
enters by factors; a small term that discovery kept (``0.0035 sin(theta) cos(theta)`` beside
``-14.7 sin(theta)`` on the pendulum) stays small instead of absorbing what a few seconds of
new data cannot tell apart from the large one: trained in absolute steps, that pair, nearly
collinear at small angles, went to ``-13.2`` and ``+1.44`` and the recalibrated pendulum scored
an nRMSE of 0.15; in relative steps the same equations recalibrate to 0.0002
(``benchmarks/bench_adapt_relative.py``).

A hybrid's residual was fitted to the original system, on top of the original physics; after
the physics is recalibrated it may correct what is no longer wrong. So ``parts="auto"`` on a
hybrid recalibrates the physics twice from the same start, with the residual kept and with it
switched off (its output layer zeroed: the hybrid becomes its physics), each with the config's
full budget, and keeps the one with the lower validation error (``adapted_parts_`` is then
``"physics"`` or ``"physics, residual off"``). On the exact pendulum the kept residual made the
recalibrated hybrid 3.4-4.5x its recalibrated physics; the residual of a pendulum rig with
unmodelled friction is kept where it validates better (``benchmarks/RESULTS.md``, "Session 9").
``parts="physics"`` always keeps the residual.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import ODEModel
from hybridwm.errors import ConfigError, TrainingError, UnknownNameError
from hybridwm.models.building import dtype_device
from hybridwm.models.fitting import check_train_config, training_windows, warn_constant
from hybridwm.models.normalization import extend_gate
from hybridwm.models.spec import is_physics_model
from hybridwm.training import ADAPT_PHYSICS_LR, History, TrainConfig, Trainer
from hybridwm.training.checkpoint import weights

__all__ = ["ADAPT_PARTS", "Adaptation", "RelativeChange"]

#: what ``WorldModel.adapt`` can train
ADAPT_PARTS = ("auto", "physics", "residual", "all")


class RelativeChange(nn.Module):
    """The parametrization ``c = c0 + |c0| s`` of a coefficient tensor (``s`` trained from 0):
    every coefficient moves in units of its own size, and a zero one stays zero.

    Args:
        start: the coefficients ``c0`` (any shape).
    """

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("start", start.detach().clone())
        self.register_buffer("scale", start.detach().abs())

    def forward(self, change: torch.Tensor) -> torch.Tensor:
        return self.start + self.scale * change

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        safe = torch.where(self.scale > 0, self.scale, torch.ones_like(self.scale))
        return torch.where(self.scale > 0, (value - self.start) / safe, torch.zeros_like(value))


def _relative_coefficients(physics: nn.Module) -> bool:
    """Train a discovered field's coefficients relative to their size (see the module
    docstring); True when it did (a declared prior's named parameters are left as they are)."""
    coef = getattr(physics, "coef", None)
    if getattr(physics, "_declared", True) or not isinstance(coef, nn.Parameter):
        return False
    flag = coef.requires_grad
    parametrize.register_parametrization(physics, "coef", RelativeChange(coef))
    physics.parametrizations.coef.original.requires_grad_(flag)
    return True


def _absolute_coefficients(physics: nn.Module) -> None:
    """Back to a plain coefficient parameter holding the adapted values."""
    flag = physics.parametrizations.coef.original.requires_grad
    parametrize.remove_parametrizations(physics, "coef", leave_parametrized=True)
    physics.coef.requires_grad_(flag)


def _learned_modules(model: ODEModel) -> list[nn.Module]:
    return [m for m in (model.dynamics.residual, model.encoder) if m is not None]


def _output_layer(model: ODEModel) -> nn.Linear | None:
    """The output layer of a hybrid's residual MLP (None without physics or residual)."""
    residual = model.dynamics.residual if model.dynamics.physics is not None else None
    net = getattr(residual, "net", None)
    last = net[-1] if isinstance(net, nn.Sequential) and len(net) else None
    return last if isinstance(last, nn.Linear) else None


def _resolve_parts(model: ODEModel, kind: str, parts: str) -> str:
    """``parts`` checked against the model, with ``"auto"`` resolved."""
    if parts not in ADAPT_PARTS:
        raise UnknownNameError(
            f"Unknown adaptation part {parts!r} of WorldModel.adapt. Valid names: "
            f"{list(ADAPT_PARTS)}."
        )
    has_physics = model.dynamics.physics is not None
    if parts == "auto":
        parts = "physics" if has_physics else "all"
    if parts == "physics" and not has_physics:
        raise ConfigError(
            f"parts='physics' needs a physics term, but this {kind} WorldModel has "
            f"none: its dynamics are one neural network. Adapt it with parts='all' (or "
            f"'auto'), or build a hybrid model (WorldModel.hybrid) to recalibrate physics."
        )
    if parts == "residual" and not _learned_modules(model):
        raise ConfigError(
            f"parts='residual' needs a learned network, but this {kind} WorldModel has "
            f"none; adapt its physics with parts='physics' (or 'auto')."
        )
    return parts


class Adaptation:
    """One run of ``WorldModel.adapt``: the checked plan, its config, and the training.

    Args:
        model: the fitted model, adapted in place.
        kind: the WorldModel kind (for messages).
        parts: ``"physics"``, ``"residual"``, ``"all"`` or ``"auto"`` (``"physics"`` when the
            model has a physics term, else ``"all"``).
        config: training settings, or None for ``TrainConfig(pinn_weight=0.0)``; changed as
            the module docstring says, with the model's dtype and (when unset) device.

    Attributes:
        parts: the resolved parts. adapted: what was adapted (``parts``, or ``"physics,
        residual off"``, see the module docstring). config: the effective TrainConfig.
        history: the kept adaptation's History (empty until :meth:`fit` runs).
        train_physics, train_learned: which groups of parameters are trained. compare: whether
        :meth:`fit` also tries the hybrid with its residual switched off.

    Raises:
        UnknownNameError: ``parts`` is not a valid name.
        ConfigError: ``parts`` names something the model lacks, or ``config`` is no TrainConfig.
    """

    def __init__(self, model: ODEModel, kind: str, parts: str, config: Any) -> None:
        self.model = model
        self.parts = self.adapted = _resolve_parts(model, kind, parts)
        out = _output_layer(model)  # a residual that is zero already has nothing to switch off
        nonzero = out is not None and bool(out.weight.any() or out.bias.any())
        self.compare = parts == "auto" and self.parts == "physics" and nonzero
        self.train_physics = self.parts in ("physics", "all") and model.dynamics.physics is not None
        self.train_learned = self.parts in ("residual", "all") and bool(_learned_modules(model))
        self.dtype, self.device = dtype_device(model)
        self.config = self._config(config)
        self.history = History()
        self._rebuilt = False
        self._relative = False
        self._flags: dict[int, bool] = {}

    def _config(self, config: Any) -> TrainConfig:
        cfg = check_train_config(config if config is not None else TrainConfig(pinn_weight=0.0))
        changes: dict[str, Any] = {"dtype": str(self.dtype).replace("torch.", "")}
        if self.train_physics and cfg.pinn_reference == "auto":
            changes["pinn_reference"] = "current"
        if self.train_physics and cfg.physics_lr is None:
            changes["physics_lr"] = ADAPT_PHYSICS_LR
        if not self.train_learned:
            changes.update(pinn_weight=0.0, residual_weight=0.0)
        cfg = cfg.replace(**changes)
        return cfg if cfg.device is not None else cfg.replace(device=str(self.device))

    def windows(self, data: TrajectorySet, validation: TrajectorySet | None) -> tuple[Any, Any]:
        """Training and validation windows of the (checked) episodes, see
        :func:`~hybridwm.models.fitting.training_windows`; warns about constant columns."""
        warn_constant(data)
        window = self.model.encoder_window if self.model.hidden_names else None
        _, _, windows, val_windows = training_windows(data, validation, self.config, window)
        if self.train_learned:
            extend_gate(self.model, data if validation is None else data + validation)
        return windows, val_windows

    def select(self) -> None:
        """Make the chosen parts trainable and freeze everything else.

        A frozen PhysicsVectorField (plain values) is rebuilt trainable, with its bounds'
        reparametrisation, from its current values.

        Raises:
            ConfigError: the physics is trained but is a module without parameters.
        """
        dyn = self.model.dynamics
        if self.train_physics:
            phys = dyn.physics
            if callable(getattr(phys, "to_physics_model", None)) and not getattr(
                phys, "trainable", True
            ):
                dyn.physics = (
                    phys.to_physics_model()
                    .vector_field(trainable=True, dtype=self.dtype, device=self.device)
                    .train(phys.training)
                )
                self._rebuilt = True
            elif not list(phys.parameters()):
                raise ConfigError(
                    f"parts={self.parts!r} trains the physics, but the {type(phys).__name__} "
                    f"module has no parameters (its coefficients are buffers); build it with "
                    f"trainable coefficients, use a PhysicsModel, or adapt with "
                    f"parts='residual'."
                )
        if self.train_physics:
            self._relative = _relative_coefficients(dyn.physics)
        self._flags = {id(p): p.requires_grad for p in self.model.parameters()}
        chosen: list[nn.Parameter] = []
        if self.train_physics:
            chosen += list(dyn.physics.parameters())
        if self.train_learned:
            chosen += [p for m in _learned_modules(self.model) for p in m.parameters()]
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in chosen:
            p.requires_grad_(True)

    def fit(self, windows: Any, val_windows: Any) -> None:
        """Train the selected parts (after :meth:`select`; with :attr:`compare`, twice: see
        :meth:`without_residual`); then restore every parameter's ``requires_grad``, freeze a
        rebuilt physics again with its adapted values, and put the model in eval mode, also
        when training fails."""
        try:
            start = weights(self.model) if self.compare else None
            self._train(windows, val_windows)
            if start is not None:
                self.without_residual(start, windows, val_windows)
        finally:
            for p in self.model.parameters():
                if id(p) in self._flags:
                    p.requires_grad_(self._flags[id(p)])
            if self._relative:
                _absolute_coefficients(self.model.dynamics.physics)
            if self._rebuilt:
                dyn = self.model.dynamics
                adapted = dyn.physics.to_physics_model()
                dyn.physics = adapted.vector_field(
                    trainable=False, dtype=self.dtype, device=self.device
                ).eval()
            self.model.eval()

    def _train(self, windows: Any, val_windows: Any) -> None:
        trainer = Trainer(self.model, self.config)
        try:
            trainer.fit(windows, val_windows)
        finally:
            self.history = trainer.history

    def without_residual(
        self, start: dict[str, torch.Tensor], windows: Any, val_windows: Any
    ) -> None:
        """The second candidate of ``parts="auto"`` on a hybrid: from the weights ``start``,
        the physics recalibrated with the residual's output layer zeroed, with the same config;
        kept (and :attr:`adapted` set to ``"physics, residual off"``) when its validation error
        (``History.best_score``) is lower than the residual-kept run's, else that run's weights
        and history are restored. A candidate that fails to train is dropped; an interrupt
        restores the residual-kept run's weights before it propagates."""
        kept, kept_history = weights(self.model), self.history
        self.model.load_state_dict(start)
        layer = _output_layer(self.model)
        with torch.no_grad():
            layer.weight.zero_()  # type: ignore[union-attr]
            layer.bias.zero_()  # type: ignore[union-attr]
        try:
            self._train(windows, val_windows)
            better = self.history.best_score < kept_history.best_score
        except TrainingError:
            better = False
        except BaseException:  # KeyboardInterrupt: keep the finished candidate, not a partial one
            self.model.load_state_dict(kept)
            self.history = kept_history
            raise
        if better:
            self.adapted = "physics, residual off"
        else:
            self.model.load_state_dict(kept)
            self.history = kept_history

    def adapted_physics(self, physics: Any) -> Any:
        """The adapted equations as a PhysicsModel, when the physics was trained and both the
        given ``physics`` and the model's physics term are (or convert to) PhysicsModels;
        else None."""
        module = self.model.dynamics.physics
        if not self.train_physics or not is_physics_model(physics):
            return None
        to_model = getattr(module, "to_physics_model", None)
        return to_model() if callable(to_model) else None


def with_physics_parameters(model: Any, **values: float) -> Any:
    """``WorldModel.with_parameters``: a deep copy of the fitted WorldModel ``model`` whose declared prior has the named
    parameters set to ``values``; the residual (if any) and everything else stay as fitted.
    ``physics_model`` of the copy is the changed equations (the given ones stay in
    ``physics_original_``), which ``save`` writes.

    >>> heavy = hybrid.with_parameters(mass=1.5 * hybrid.physics_.parameter_values["mass"])

    Raises:
        NotFittedError: before ``fit``.
        ConfigError: a learned model, physics given as a torch module, discovered physics
            (coefficients, not named parameters), or no values.
        UnknownNameError: a name is not a parameter of the prior (the valid names listed).
    """
    module = model._require_fitted("with_parameters").dynamics.physics
    if module is None or not hasattr(module, "set_parameter_values"):
        raise ConfigError(
            f"with_parameters needs a physics or hybrid model whose physics is declared in "
            f"named parameters (hybridwm.physics.declare); this {model.kind} model has "
            f"{'no physics' if module is None else 'physics without named parameters'}. "
            "Retrain it with a declared prior, or adapt it to data of the changed system "
            "(WorldModel.adapt)."
        )
    if not values:
        raise ConfigError(
            "with_parameters needs at least one parameter, e.g. with_parameters(mass=2.0); "
            f"this model's parameters: {list(model.physics_.parameters)}."
        )
    changed = copy.deepcopy(model)
    changed.model_.dynamics.physics.set_parameter_values(**values)
    changed.physics_original_ = getattr(model, "physics_original_", model.physics_model)
    changed.physics_model = changed.physics_
    return changed
