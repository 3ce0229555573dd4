"""PinnLoss: physics consistency of the model's vector field at collocation points.

The points are drawn uniformly from a box that extends beyond the training data (the data range
scaled by ``collocation_scale``, angles over the full circle, ``collocation_box`` overrides), so
the residual is held near zero where an off-data rollout goes. With ``pinn_region="off-data"``
(the default) each point is weighted by how far it lies from the training data, so the term
speaks only where there are no data and leaves the residual free to correct the physics where
there are (:func:`support_weights`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Sequence

import torch

from hybridwm.dynamics import HybridDynamics
from hybridwm.errors import ConfigError
from hybridwm.training.config import TrainConfig

__all__ = ["MAX_SUPPORT_POINTS", "PinnLoss", "support_points", "support_weights"]

#: training samples kept (evenly spaced) as the data support of the off-data PINN weighting
MAX_SUPPORT_POINTS = 2048

Parts = dict[str, torch.Tensor]


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
        support: optional (m, n_embed + n_u) training samples in the residual's input
            coordinates (:func:`support_points`); each collocation point is then weighted by
            its distance from them (:func:`support_weights`). ``None``: every point weighs 1.
        radius: the distance (in those normalized coordinates) at which a point's weight
            reaches ``1 - 1/e``.

    It holds no trained state (the frozen reference is a copy made here), so it is a plain
    callable, not a module.
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
        support: torch.Tensor | None = None,
        radius: float = 0.5,
    ) -> None:
        if not dynamics.has_physics:
            raise ConfigError("PinnLoss needs a model with a physics term.")
        self.x_low, self.x_span = x_low, x_high - x_low
        self.u_low, self.u_span = u_low, u_high - u_low
        self.n_points = int(n_points)
        self.generator = generator
        self.support, self.radius = support, float(radius)
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None
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
        """(n_points, n_x) states and (n_points, n_u) actions, uniform in the box.

        Inside :meth:`fixed_sample` this is the one sample drawn on entering the block.
        """
        if self._fixed is not None:
            return self._fixed
        dev, dt = self.x_low.device, self.x_low.dtype
        rx = torch.rand(self.n_points, self.x_low.shape[0], generator=self.generator, dtype=dt)
        ru = torch.rand(self.n_points, self.u_low.shape[0], generator=self.generator, dtype=dt)
        return (self.x_low + self.x_span * rx.to(dev)), (self.u_low + self.u_span * ru.to(dev))

    @contextlib.contextmanager
    def fixed_sample(self) -> Iterator[None]:
        """Draw one sample on entry and use it for every call inside the block.

        L-BFGS evaluates the loss several times per step and needs the same function each time.
        """
        self._fixed = self.sample()
        try:
            yield
        finally:
            self._fixed = None

    def __call__(self, dynamics: HybridDynamics) -> tuple[torch.Tensor, Parts]:
        """Mean squared normalized mismatch → (value, {"pinn": value})."""
        x, u = self.sample()
        if self.reference is None:
            mismatch = dynamics.residual_normalized(x, u)
        else:
            diff = dynamics.vector_field(x, u) - self.reference.physics_term(x, u)
            mismatch = diff / dynamics.normalizer.dx_scale
        sq = mismatch.pow(2)
        if self.support is not None:
            w = support_weights(dynamics, x, u, self.support, self.radius)
            sq = sq * w.unsqueeze(-1)
        value = sq.mean()
        return value, {"pinn": value}

    @classmethod
    def from_config(
        cls,
        dynamics: HybridDynamics,
        config: TrainConfig,
        generator: torch.Generator | None,
        support: torch.Tensor | None = None,
    ) -> PinnLoss:
        """Box = the data range (from the normalizer) scaled by ``collocation_scale``, with
        ``collocation_box`` entries overriding named coordinates; with ``pinn_region=
        "off-data"`` and a ``support`` (:func:`support_points` of the training samples), the
        points are weighted by their distance from it.

        Angle states that the residual embeds periodically (``dynamics.embedding.angles``) are
        sampled over the full circle ``[-π, π]`` (unless ``collocation_box`` names them): the
        residual sees only ``(sin θ, cos θ)``, so this covers every angle it can ever meet,
        including the ones far from the data (a pendulum swinging over the top).

        Raises:
            ConfigError: ``collocation_box`` names a coordinate the model does not have.
        """
        loss = config.loss
        known = set(dynamics.state_names) | set(dynamics.action_names)
        unknown = sorted(set(loss.collocation_box or {}) - known)
        if unknown:
            raise ConfigError(
                f"TrainConfig.collocation_box names {unknown} are neither states "
                f"{list(dynamics.state_names)} nor actions {list(dynamics.action_names)}."
            )
        norm = dynamics.normalizer
        angles = set(dynamics.embedding.angles)
        box = _Box(loss.collocation_scale, angles, loss.collocation_box or {})
        xl, xh = box(norm.x_min.clone(), norm.x_max.clone(), dynamics.state_names)
        ul, uh = box(norm.u_min.clone(), norm.u_max.clone(), dynamics.action_names)
        if loss.pinn_region == "box":
            support = None
        return cls(
            dynamics,
            *(xl, xh, ul, uh),
            loss.n_collocation,
            generator,
            reference=loss.pinn_reference,
            support=support,
            radius=loss.support_radius,
        )


@torch.no_grad()
def support_points(dynamics: HybridDynamics, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The training samples as the data support: at most :data:`MAX_SUPPORT_POINTS`, evenly
    spaced, in the residual's input coordinates.

    Args:
        dynamics: the model's dynamics (its normalizer and angle embedding).
        x: (m, n_x) training states.
        u: (m, n_u) the actions held at them.

    Returns:
        (k, n_embed + n_u) points, k <= :data:`MAX_SUPPORT_POINTS`.
    """
    m = x.shape[0]
    if m > MAX_SUPPORT_POINTS:
        idx = torch.linspace(0, m - 1, MAX_SUPPORT_POINTS, device=x.device).round().long()
        x, u = x.index_select(0, idx), u.index_select(0, idx)
    return dynamics.residual_inputs(x, u)


@torch.no_grad()
def support_weights(
    dynamics: HybridDynamics,
    x: torch.Tensor,
    u: torch.Tensor,
    support: torch.Tensor,
    radius: float,
) -> torch.Tensor:
    """Weight of each point by its distance ``d`` to the nearest support point:
    ``1 - exp(-(d / radius)²)``: 0 on the data, 1 far from them.

    Args:
        dynamics: the model's dynamics.
        x: (n, n_x) states.
        u: (n, n_u) actions.
        support: (k, n_embed + n_u) from :func:`support_points`.
        radius: the length scale in the normalized input coordinates (> 0).

    Returns:
        (n,) weights in [0, 1).
    """
    d = torch.cdist(dynamics.residual_inputs(x, u), support).min(dim=1).values
    return -torch.expm1(-(d / radius).pow(2))


class _Box:
    """The collocation box of some coordinates: their data range scaled about its center."""

    def __init__(
        self, scale: float, angles: set[str], overrides: dict[str, tuple[float, float]]
    ) -> None:
        self.scale, self.angles, self.overrides = scale, angles, overrides

    def __call__(
        self, lo: torch.Tensor, hi: torch.Tensor, names: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) data minimum and maximum of the coordinates ``names`` → (n,) box corners."""
        c, half = (lo + hi) / 2, (hi - lo) / 2 * self.scale
        half = torch.where(half > 0, half, torch.ones_like(half))
        lo2, hi2 = c - half, c + half
        for i, n in enumerate(names):
            if n in self.angles:
                lo2[i], hi2[i] = -math.pi, math.pi
            if n in self.overrides:
                lo2[i], hi2[i] = self.overrides[n]
        return lo2, hi2
