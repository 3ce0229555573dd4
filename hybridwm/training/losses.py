"""Training losses. Each returns ``(value, parts)``: a scalar tensor and a dict name → tensor.

* :class:`RolloutLoss` — multiple shooting: open-loop rollouts over windows of the data, mean
  squared error normalized per state by the data std.
* :class:`PinnLoss` — PINN-style consistency with physics at collocation points drawn from a box
  that extends beyond the training data: ‖(f_model − f_phys⁰)/dx_scale‖², with ``f_phys⁰`` the
  physics as it was when training started (for a frozen physics this is exactly ‖f_nn‖²).
* :class:`ResidualNormLoss` — the APHYNITY-style minimum-norm penalty ‖f_nn/dx_scale‖² on the
  training states: the residual explains only what the physics cannot.
* :class:`Objective` — their weighted sum with the weights named in ``TrainConfig``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from hybridwm.dynamics import HybridDynamics, ODEModel
from hybridwm.errors import ConfigError
from hybridwm.training.config import TrainConfig

__all__ = ["Batch", "Objective", "PinnLoss", "ResidualNormLoss", "RolloutLoss"]

Parts = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Batch:
    """Windows on one shared grid, as tensors.

    Attributes:
        t: (H+1,) relative times.
        x: (b, H+1, n_obs) observations.
        u: (b, H+1, n_u) actions (row k held on ``[t[k], t[k+1])``).
    """

    t: torch.Tensor
    x: torch.Tensor
    u: torch.Tensor


class RolloutLoss:
    """Mean squared open-loop error over windows, normalized per observed state by its std.

    The initial state of each window is its first observation (or, for a latent model, the
    encoder's estimate from the window's first ``k`` observations); the model is integrated over
    the first ``horizon`` steps and compared with the observations.
    """

    def __call__(
        self, model: ODEModel, batch: Batch, horizon: int | None = None, **solver_kw
    ) -> tuple[torch.Tensor, Parts, torch.Tensor]:
        """Loss of ``model`` on ``batch`` over ``horizon`` steps (default: the whole window).

        Returns:
            ``(value, parts, states)`` where ``states`` (b, h+1, n_x) are the predicted full
            states (used by the residual penalty of latent models).
        """
        n = batch.t.shape[0] - 1
        h = n if horizon is None else max(1, min(int(horizon), n))
        x0 = model.initial_state(batch.x, batch.u, batch.t)
        xs = model.simulate(x0, batch.u[:, :h], batch.t[: h + 1], **solver_kw)
        pred = model.decode(xs)
        std = model.dynamics.normalizer.x_std.index_select(0, model.obs_index)
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


class PinnLoss:
    """Physics consistency at collocation points sampled uniformly in a box.

    Args:
        dynamics: the model's dynamics (must have a physics term).
        x_low: (n_x,) lower corner of the state box.
        x_high: (n_x,) upper corner.
        u_low: (n_u,) lower corner of the action box.
        u_high: (n_u,) upper corner.
        n_points: collocation points per call.
        generator: torch generator for reproducible sampling.
    """

    def __init__(
        self,
        dynamics: HybridDynamics,
        x_low: torch.Tensor,
        x_high: torch.Tensor,
        u_low: torch.Tensor,
        u_high: torch.Tensor,
        n_points: int,
        generator: torch.Generator | None = None,
    ) -> None:
        if not dynamics.has_physics:
            raise ConfigError("PinnLoss needs a model with a physics term.")
        self.x_low, self.x_span = x_low, x_high - x_low
        self.u_low, self.u_span = u_low, u_high - u_low
        self.n_points = int(n_points)
        self.generator = generator
        phys = dynamics.physics
        trainable = any(p.requires_grad for p in phys.parameters())
        # Reference: the physics as it was at the start, frozen. With frozen physics the
        # mismatch f_model - f_phys is exactly the residual, so no copy is needed.
        self.reference: HybridDynamics | None = None
        if trainable:
            ref_phys = copy.deepcopy(phys)
            for p in ref_phys.parameters():
                p.requires_grad_(False)
            self.reference = HybridDynamics(
                dynamics.state_names, dynamics.action_names, ref_phys, None, dynamics.normalizer
            )

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_points, n_x) states and (n_points, n_u) actions, uniform in the box."""
        dev, dt = self.x_low.device, self.x_low.dtype
        rx = torch.rand(self.n_points, self.x_low.shape[0], generator=self.generator, dtype=dt)
        ru = torch.rand(self.n_points, self.u_low.shape[0], generator=self.generator, dtype=dt)
        return (self.x_low + self.x_span * rx.to(dev)), (self.u_low + self.u_span * ru.to(dev))

    def __call__(self, dynamics: HybridDynamics) -> tuple[torch.Tensor, Parts]:
        """Mean squared normalized mismatch → (value, {"pinn": value})."""
        x, u = self.sample()
        if self.reference is None:
            mismatch = dynamics.residual_normalized(x, u)
        else:
            diff = dynamics.vector_field(x, u) - self.reference.physics_term(x, u)
            mismatch = diff / dynamics.normalizer.dx_scale
        value = mismatch.pow(2).mean()
        return value, {"pinn": value}

    @classmethod
    def from_config(
        cls, dynamics: HybridDynamics, config: TrainConfig, generator: torch.Generator | None
    ) -> PinnLoss:
        """Box = the data range (from the normalizer) scaled by ``collocation_scale``, with
        ``collocation_box`` entries overriding named coordinates."""
        norm = dynamics.normalizer
        s = config.collocation_scale

        def box(lo: torch.Tensor, hi: torch.Tensor, names) -> tuple[torch.Tensor, torch.Tensor]:
            c, half = (lo + hi) / 2, (hi - lo) / 2 * s
            half = torch.where(half > 0, half, torch.ones_like(half))
            lo2, hi2 = c - half, c + half
            for i, n in enumerate(names):
                if config.collocation_box and n in config.collocation_box:
                    a, b = config.collocation_box[n]
                    lo2[i], hi2[i] = a, b
            return lo2, hi2

        if config.collocation_box:
            known = set(dynamics.state_names) | set(dynamics.action_names)
            unknown = sorted(set(config.collocation_box) - known)
            if unknown:
                raise ConfigError(
                    f"TrainConfig.collocation_box names {unknown} are neither states "
                    f"{list(dynamics.state_names)} nor actions {list(dynamics.action_names)}."
                )
        xl, xh = box(norm.x_min.clone(), norm.x_max.clone(), dynamics.state_names)
        ul, uh = box(norm.u_min.clone(), norm.u_max.clone(), dynamics.action_names)
        return cls(dynamics, xl, xh, ul, uh, config.n_collocation, generator)


class Objective:
    """Weighted sum of the rollout, PINN and residual-norm losses.

    Args:
        model: the model being trained.
        config: supplies ``rollout_weight``, ``pinn_weight``, ``residual_weight``,
            ``n_collocation``, ``collocation_scale``/``collocation_box`` and ``seed``.
        solver: solver name for the rollouts (``None``: the model's).

    The PINN term is active only when the model has physics and ``pinn_weight > 0``; the
    residual term only when it has a learned residual and ``residual_weight > 0``.
    """

    def __init__(self, model: ODEModel, config: TrainConfig, solver: str | None = None) -> None:
        self.config = config
        self.solver = solver
        self.rollout = RolloutLoss()
        self.residual = ResidualNormLoss()
        dyn = model.dynamics
        self.use_residual = dyn.has_residual and config.residual_weight > 0
        self.pinn: PinnLoss | None = None
        if dyn.has_physics and dyn.has_residual and config.pinn_weight > 0 and config.n_collocation:
            gen = torch.Generator().manual_seed(int(config.seed) + 7919)
            self.pinn = PinnLoss.from_config(dyn, config, gen)

    def __call__(
        self, model: ODEModel, batch: Batch, horizon: int | None = None
    ) -> tuple[torch.Tensor, Parts]:
        """Total loss and its parts (unweighted values, plus ``"total"``)."""
        cfg = self.config
        value, parts, xs = self.rollout(model, batch, horizon, solver=self.solver)
        total = cfg.rollout_weight * value
        if self.use_residual:
            if model.fully_observed:
                h = xs.shape[1]
                x_states, u_states = batch.x[:, :h], batch.u[:, :h]
            else:
                x_states, u_states = xs.detach(), batch.u[:, : xs.shape[1]]
            r, rp = self.residual(model.dynamics, x_states, u_states)
            total = total + cfg.residual_weight * r
            parts.update(rp)
        if self.pinn is not None:
            p, pp = self.pinn(model.dynamics)
            total = total + cfg.pinn_weight * p
            parts.update(pp)
        parts["total"] = total
        return total, parts


def to_batch(
    t: np.ndarray, x: np.ndarray, u: np.ndarray, device: torch.device, dtype: torch.dtype
) -> Batch:
    """Numpy window arrays → a :class:`Batch` on ``device`` with ``dtype``."""
    return Batch(
        torch.as_tensor(t, dtype=dtype, device=device),
        torch.as_tensor(x, dtype=dtype, device=device),
        torch.as_tensor(u, dtype=dtype, device=device),
    )
