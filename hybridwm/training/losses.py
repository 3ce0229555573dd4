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
import math
from dataclasses import dataclass

import numpy as np
import torch

from hybridwm.dynamics import HybridDynamics, ODEModel
from hybridwm.errors import ConfigError
from hybridwm.training.config import TrainConfig

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


@dataclass(frozen=True)
class Batch:
    """Windows as tensors, on one shared grid or on one grid per window.

    Attributes:
        t: (H+1,) relative times shared by the windows, or (b, H+1) per-window times.
        x: (b, H+1, n_obs) observations.
        u: (b, H+1, n_u) actions (row k held on ``[t[k], t[k+1])``).
        index: optional (b,) flat sample position of each window's first sample (episodes laid
            end to end); used by multiple shooting to look up learnable window starts.
        end: optional (b,) flat position of the last sample of each window's episode.
    """

    t: torch.Tensor
    x: torch.Tensor
    u: torch.Tensor
    index: torch.Tensor | None = None
    end: torch.Tensor | None = None

    def take(self, idx: torch.Tensor) -> Batch:
        """The windows at ``idx``."""
        return Batch(
            self.t[idx] if self.t.ndim == 2 else self.t,
            self.x[idx],
            self.u[idx],
            None if self.index is None else self.index[idx],
            None if self.end is None else self.end[idx],
        )


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
        **solver_kw,
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
        xs = model.simulate(x0, batch.u[:, :h], batch.t[..., : h + 1], **solver_kw)
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
        reference: with trainable physics, compare with the ``"initial"`` physics (frozen
            copy), the ``"current"`` one (penalize the residual only), or ``"auto"`` (current
            for declared priors with named parameters, initial otherwise).
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
        reference: str = "initial",
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
        if reference == "auto":
            reference = "current" if getattr(phys, "parameter_names", ()) else "initial"
        if trainable and reference == "initial":
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
        ``collocation_box`` entries overriding named coordinates.

        Angle states that the residual embeds periodically (``dynamics.embedding.angles``) are
        sampled over the full circle ``[-π, π]`` (unless ``collocation_box`` names them): the
        residual sees only ``(sin θ, cos θ)``, so this covers every angle it can ever meet,
        including the ones far from the data (a pendulum swinging over the top).
        """
        norm = dynamics.normalizer
        s = config.collocation_scale
        embedding = getattr(dynamics, "embedding", None)
        angles = set(embedding.angles) if embedding is not None else set()

        def box(lo: torch.Tensor, hi: torch.Tensor, names) -> tuple[torch.Tensor, torch.Tensor]:
            c, half = (lo + hi) / 2, (hi - lo) / 2 * s
            half = torch.where(half > 0, half, torch.ones_like(half))
            lo2, hi2 = c - half, c + half
            for i, n in enumerate(names):
                if n in angles:
                    lo2[i], hi2[i] = -math.pi, math.pi
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
        return cls(
            dynamics,
            xl,
            xh,
            ul,
            uh,
            config.n_collocation,
            generator,
            reference=config.pinn_reference,
        )


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

    def __init__(
        self,
        model: ODEModel,
        config: TrainConfig,
        solver: str | None = None,
        *,
        n_positions: int = 0,
    ) -> None:
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
        self.shooting: MultipleShooting | None = None
        if config.shooting == "multiple" and model.hidden_names and n_positions:
            self.shooting = MultipleShooting(model, n_positions)

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trainable tensors the objective owns (the multiple-shooting window starts)."""
        return [] if self.shooting is None else [self.shooting.starts]

    def __call__(
        self, model: ODEModel, batch: Batch, horizon: int | None = None
    ) -> tuple[torch.Tensor, Parts]:
        """Total loss and its parts (unweighted values, plus ``"total"``)."""
        cfg = self.config
        ms = self.shooting if (self.shooting is not None and batch.index is not None) else None
        hidden = ms.start_values(batch) if ms is not None else None
        value, parts, xs = self.rollout(model, batch, horizon, hidden=hidden, solver=self.solver)
        total = cfg.rollout_weight * value
        if ms is not None:
            c, e = ms.continuity(batch, xs), ms.encoder_match(model, batch)
            total = total + cfg.continuity_weight * c + e
            parts.update(continuity=c, encoder=e)
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


class MultipleShooting:
    """Learnable window starts for the hidden coordinates, tied together by continuity.

    One long record trains like many short episodes when each window starts from a state that
    agrees with where the previous windows ended. The hidden (unmeasured) coordinates of every
    sample position of the training episodes get a learnable start value ``s[p]`` (normalized
    units); a window starting at position ``p`` starts from ``s[p]``, and the continuity penalty
    ``mean ‖(x̂_hidden(p + j) - s[p + j]) / scale‖²`` over the window's predicted steps ``j``
    (within its episode) makes the starts consistent with the dynamics. The encoder is trained
    alongside to reproduce the starts from the observations (``"encoder"`` part), so it can
    estimate the hidden state of a new record.

    Args:
        model: the model (must have hidden coordinates).
        n_positions: total number of samples of the training episodes (laid end to end).
    """

    def __init__(self, model: ODEModel, n_positions: int) -> None:
        names = model.state_names
        self.hidden_index = torch.tensor(
            [names.index(n) for n in model.hidden_names], dtype=torch.long
        )
        norm = model.dynamics.normalizer
        ref = norm.x_std
        self.mean = norm.x_mean.index_select(0, self.hidden_index).detach().clone()
        self.scale = norm.x_std.index_select(0, self.hidden_index).detach().clone()
        self.starts = torch.nn.Parameter(
            torch.zeros(n_positions, len(model.hidden_names), dtype=ref.dtype, device=ref.device)
        )

    def to(self, device: torch.device, dtype: torch.dtype) -> MultipleShooting:
        """Move the starts (and scales) to ``device``/``dtype``."""
        self.starts.data = self.starts.data.to(device=device, dtype=dtype)
        self.mean = self.mean.to(device=device, dtype=dtype)
        self.scale = self.scale.to(device=device, dtype=dtype)
        self.hidden_index = self.hidden_index.to(device)
        return self

    def start_values(self, batch: Batch) -> torch.Tensor:
        """(b, n_hidden) physical start values of the batch's windows."""
        assert batch.index is not None
        return self.mean + self.scale * self.starts.index_select(0, batch.index)

    def continuity(self, batch: Batch, xs: torch.Tensor) -> torch.Tensor:
        """Mean squared normalized gap between predicted hidden states and later starts."""
        assert batch.index is not None and batch.end is not None
        h = xs.shape[1] - 1
        j = torch.arange(1, h + 1, device=batch.index.device)
        pos = batch.index[:, None] + j[None]
        valid = pos <= batch.end[:, None]
        pos = torch.where(valid, pos, batch.index[:, None])
        target = self.starts[pos]
        pred = (xs[:, 1:].index_select(-1, self.hidden_index) - self.mean) / self.scale
        gap = (pred - target).pow(2).sum(-1) * valid
        return gap.sum() / (valid.sum().clamp_min(1) * self.starts.shape[1])

    def encoder_match(self, model: ODEModel, batch: Batch) -> torch.Tensor:
        """Mean squared normalized error of the encoder against the (detached) starts."""
        if model.encoder is None:
            return self.starts.new_zeros(())
        enc = model.encoder(batch.x, batch.u, batch.t)
        target = self.starts.index_select(0, batch.index).detach()  # type: ignore[arg-type]
        return ((enc - self.mean) / self.scale - target).pow(2).mean()


def to_batch(
    t: np.ndarray,
    x: np.ndarray,
    u: np.ndarray,
    device: torch.device,
    dtype: torch.dtype,
    index: np.ndarray | None = None,
    end: np.ndarray | None = None,
) -> Batch:
    """Numpy window arrays → a :class:`Batch` on ``device`` with ``dtype``."""

    def as_long(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.as_tensor(a, dtype=torch.long, device=device)

    return Batch(
        torch.as_tensor(t, dtype=dtype, device=device),
        torch.as_tensor(x, dtype=dtype, device=device),
        torch.as_tensor(u, dtype=dtype, device=device),
        as_long(index),
        as_long(end),
    )
