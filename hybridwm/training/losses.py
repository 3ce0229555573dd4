"""Training losses. Each returns ``(value, parts)``: a scalar tensor and a dict name → tensor.

* :class:`RolloutLoss` — multiple shooting: open-loop rollouts over windows of the data, mean
  squared error normalized per state by the data std.
* :class:`~hybridwm.training.pinn.PinnLoss` — PINN-style consistency with physics at
  collocation points drawn from a box that extends beyond the training data.
* :class:`ResidualNormLoss` — the APHYNITY-style minimum-norm penalty ‖f_nn/dx_scale‖² on the
  training states: the residual explains only what the physics cannot.
* :class:`Objective` — their weighted sum with the weights of ``TrainConfig.loss``; a module
  whose parameters are the multiple-shooting window starts, if any.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from hybridwm.dynamics import HybridDynamics, ODEModel
from hybridwm.training.batch import Batch, to_batch
from hybridwm.training.config import TrainConfig
from hybridwm.training.pinn import PinnLoss
from hybridwm.training.shooting import MultipleShooting

__all__ = [
    "Batch",
    "MultipleShooting",
    "Objective",
    "PinnLoss",
    "ResidualNormLoss",
    "RolloutLoss",
    "to_batch",
]

Parts = dict[str, torch.Tensor]
PINN_SEED_OFFSET = 7919  # the collocation generator's seed is TrainConfig.seed + this


class RolloutLoss:
    """Mean squared open-loop error over windows, normalized per observed state by its std.

    The initial state of each window is its first observation (or, for a latent model, the
    encoder's estimate from the window's first ``k`` observations); the model is integrated over
    the first ``horizon`` steps and compared with the observations.
    """

    def __call__(
        self,
        model: ODEModel,
        batch: Batch,
        horizon: int | None = None,
        *,
        hidden: torch.Tensor | None = None,
        **solver_kw: Any,
    ) -> tuple[torch.Tensor, Parts, torch.Tensor]:
        """Loss of ``model`` on ``batch`` over ``horizon`` steps (default: the whole window).

        Args:
            model: the model.
            batch: the windows.
            horizon: steps to roll out.
            hidden: optional (b, n_hidden) initial values of the hidden coordinates (multiple
                shooting) instead of the encoder's.
            **solver_kw: solver overrides.

        Returns:
            ``(value, parts, states)`` where ``states`` (b, h+1, n_x) are the predicted full
            states (used by the residual penalty of latent models).
        """
        n = batch.t.shape[-1] - 1
        h = n if horizon is None else max(1, min(int(horizon), n))
        x0 = model.initial_state(batch.x, batch.u, batch.t, hidden=hidden)
        xs = model.simulate(x0, batch.u[:, : h + 1], batch.t[..., : h + 1], **solver_kw)
        pred = model.decode(xs)
        std = model.observation_scale()
        err = (pred[:, 1:] - batch.x[:, 1 : h + 1]) / std
        value = err.pow(2).mean()
        return value, {"rollout": value}, xs


class ResidualNormLoss:
    """‖f_nn(x, u)‖² in normalized derivative units, averaged over the given states."""

    def __call__(
        self, dynamics: HybridDynamics, x: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, Parts]:
        """x (..., n_x) states, u (..., n_u) actions → (value, {"residual": value})."""
        if not dynamics.has_residual:
            z = x.new_zeros(())
            return z, {"residual": z}
        value = dynamics.residual_normalized(x, u).pow(2).mean()
        return value, {"residual": value}


class Objective(nn.Module):
    """Weighted sum of the rollout, PINN and residual-norm losses (and multiple shooting).

    Args:
        model: the model being trained.
        config: supplies the weights and collocation settings of ``config.loss`` and
            ``config.seed`` (the collocation generator is seeded with ``seed + 7919``).
        solver: solver name for the rollouts (``None``: the model's).
        n_positions: number of samples of the training episodes laid end to end; with
            ``shooting="multiple"`` and hidden coordinates, each gets a learnable start.
        support: optional (k, n_embed + n_u) training samples in the residual's input
            coordinates (:func:`~hybridwm.training.pinn.support_points`), for the PINN term's
            ``pinn_region="off-data"`` weighting (``None``: the whole box weighs alike).

    The PINN term is active only when the model has physics and ``pinn_weight > 0``; the
    residual term only when it has both physics and a learned residual (a hybrid) and
    ``residual_weight > 0``. The module's
    parameters are the multiple-shooting starts (none otherwise), so an optimizer trains them
    and ``state_dict`` saves them.
    """

    def __init__(
        self,
        model: ODEModel,
        config: TrainConfig,
        solver: str | None = None,
        *,
        n_positions: int = 0,
        support: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.solver = solver
        self.rollout = RolloutLoss()
        self.residual = ResidualNormLoss()
        loss = config.loss
        dyn = model.dynamics
        # the minimum-norm penalty splits a hybrid's field between physics and residual; a
        # purely learned model has nothing to split (its network is the whole field)
        self.use_residual = dyn.has_physics and dyn.has_residual and loss.residual_weight > 0
        self.pinn: PinnLoss | None = None
        if dyn.has_physics and dyn.has_residual and loss.pinn_weight > 0 and loss.n_collocation:
            gen = torch.Generator().manual_seed(int(config.run.seed) + PINN_SEED_OFFSET)
            self.pinn = PinnLoss.from_config(dyn, config, gen, support)
        self.shooting: MultipleShooting | None = None
        if loss.shooting == "multiple" and model.hidden_names and n_positions:
            self.shooting = MultipleShooting(model, n_positions)
        # APHYNITY's trajectory multiplier λ and the reference loss of each horizon (0: not
        # seen yet); buffers, so checkpoints carry them and a resumed run continues exactly
        self.adaptive = self.use_residual and loss.multiplier == "adaptive"
        self.register_buffer("multiplier", torch.ones((), dtype=torch.float64))
        horizons = config.windows.horizon + 1
        self.register_buffer("reference", torch.zeros(horizons, dtype=torch.float64))

    def fixed_collocation(self) -> contextlib.AbstractContextManager[None]:
        """A block in which the PINN term reuses one sample of collocation points (L-BFGS)."""
        return self.pinn.fixed_sample() if self.pinn is not None else contextlib.nullcontext()

    def forward(
        self, model: ODEModel, batch: Batch, horizon: int | None = None
    ) -> tuple[torch.Tensor, Parts]:
        """Total loss and its parts (unweighted values, plus ``"total"``).

        Args:
            model: the model.
            batch: the windows (with ``index``/``end`` for multiple shooting).
            horizon: steps to roll out (default: the whole windows).
        """
        w = self.config.loss
        ms = self.shooting if (self.shooting is not None and batch.index is not None) else None
        hidden = ms.start_values(batch) if ms is not None else None
        value, parts, xs = self.rollout(model, batch, horizon, hidden=hidden, solver=self.solver)
        total = w.rollout_weight * value
        if ms is not None:
            c, e = ms.continuity(batch, xs), ms.encoder_match(model, batch)
            total = total + w.continuity_weight * c + e
            parts.update(continuity=c, encoder=e)
        if self.use_residual:
            weight = w.residual_weight / self.multiplier.to(value.dtype)
            if model.fully_observed:
                h = xs.shape[1]
                x_states, u_states = batch.x[:, :h], batch.u[:, :h]
            else:
                x_states, u_states = xs.detach(), batch.u[:, : xs.shape[1]]
            r, rp = self.residual(model.dynamics, x_states, u_states)
            total = total + weight * r
            parts.update(rp)
        if self.pinn is not None:
            p, pp = self.pinn(model.dynamics)
            total = total + w.pinn_weight * p
            parts.update(pp)
        if self.adaptive:
            parts["multiplier"] = self.multiplier.detach().clone()
        parts["total"] = total
        return total, parts

    @torch.no_grad()
    def after_step(self, parts: Parts, horizon: int) -> None:
        """The dual ascent of APHYNITY after an optimizer step that gave ``parts`` at
        ``horizon``: ``λ += multiplier_rate · rollout / reference(horizon)`` (no-op unless the
        multiplier is adaptive)."""
        if not self.adaptive:
            return
        h = min(max(int(horizon), 0), self.reference.numel() - 1)
        loss = parts["rollout"].detach().to(self.reference.dtype)
        if self.reference[h] <= 0:
            self.reference[h] = torch.clamp(loss, min=torch.finfo(loss.dtype).tiny)
        rate = self.config.loss.multiplier_rate
        self.multiplier += rate * loss / self.reference[h]
