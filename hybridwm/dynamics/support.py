"""SupportGate: a hybrid's residual switched off where the training data never went.

A residual network is trained only where there are data; off them it extrapolates, and on a
system whose physics is right there (a pendulum started near upright when the data only
swung low) that extrapolation is pure error. The gate multiplies the residual by

    g(z) = exp(-(max(d(z) - cover, 0) / width)²)

where ``z`` are the residual's inputs (states normalized, angles as ``(sin θ, cos θ)``, and
optionally the normalized actions), ``d(z)`` is the distance to the nearest of ``k`` anchor
points chosen from the training samples by farthest-point sampling, and ``cover`` is the
largest distance from its nearest anchor of a training sample or of a held-out validation
sample. So ``g = 1`` on every training sample and on new episodes of the training
distribution (the validation samples measure how far those lie from the training ones), and
the hybrid falls back to its physics alone within a few ``width`` beyond that.
``g`` is continuously differentiable in ``z``.

The anchors are buffers, fitted with the normalizer from the training episodes and saved with
the weights; ``k`` is fixed by the architecture, so a saved model loads into the same shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hybridwm.errors import ConfigError, ShapeError

__all__ = ["MAX_FIT_SAMPLES", "SupportGate", "gate_value"]

#: training samples (evenly spaced) among which the anchors are chosen and the cover measured
MAX_FIT_SAMPLES = 8192


def gate_value(
    z: torch.Tensor, anchors: torch.Tensor, cover: torch.Tensor, width: torch.Tensor
) -> torch.Tensor:
    """The gate at gate coordinates ``z`` (..., d) for ``anchors`` (k, d) → (..., 1).

    Works batched too: ``z`` (M, n, d) with ``anchors`` (M, k, d) and ``cover``/``width`` of
    shape (M, 1, 1) give (M, n, 1), one gate per member of a stacked ensemble.
    """
    d = _nearest(z, anchors)
    excess = torch.clamp(d - cover, min=0.0) / width
    return torch.exp(-excess.pow(2)).reshape(*z.shape[:-1], 1)


def _nearest(z: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Distance of each ``z`` row to its nearest anchor, (n, 1) (or (M, n, 1) batched)."""
    flat = z.reshape(-1, z.shape[-1]) if anchors.ndim == 2 else z
    # squared distances |z|² - 2 z·a + |a|²: the last two from one fused matrix product, so the
    # only (n, k) temporary is its result (cheaper to differentiate than torch.cdist, and 5-10x
    # faster than building the sum in separate (n, k) passes: bench_planner.py)
    a2 = anchors.pow(2).sum(-1).unsqueeze(-2)
    at = anchors.transpose(-1, -2)
    cross = (
        torch.addmm(a2, flat, at, alpha=-2)
        if anchors.ndim == 2
        else torch.baddbmm(a2, flat, at, alpha=-2)
    )
    sq = cross.amin(-1, keepdim=True) + flat.pow(2).sum(-1, keepdim=True)
    return sq.clamp_min(1e-24).sqrt()


class SupportGate(nn.Module):
    """The support gate of a hybrid's residual (see the module docstring).

    Args:
        columns: positions, in the residual's input vector, of the coordinates the gate
            measures distance in (e.g. the embedded measured states, and the actions).
        n_anchors: anchor points kept (k > 0).
        width: how fast the gate closes beyond the data (> 0), in the normalized units of the
            residual's inputs: ``g = 1/e`` at ``cover + width`` from the nearest anchor.

    Buffers: ``anchors`` (k, d), ``cover`` and ``width`` (0-d), ``column_index`` (d,).
    """

    def __init__(self, columns: Sequence[int], n_anchors: int = 128, width: float = 0.5) -> None:
        super().__init__()
        if not columns:
            raise ConfigError(
                "SupportGate needs at least one input column to measure the distance from the "
                "data in; got none (a model without measured states cannot be gated)."
            )
        if n_anchors < 1 or not width > 0:
            raise ConfigError(
                f"SupportGate needs n_anchors >= 1 and width > 0; got n_anchors={n_anchors}, "
                f"width={width}."
            )
        cols = torch.tensor(list(columns), dtype=torch.long)
        self.register_buffer("column_index", cols)
        self.register_buffer("anchors", torch.zeros(n_anchors, len(cols), dtype=torch.float64))
        self.register_buffer("cover", torch.zeros((), dtype=torch.float64))
        self.register_buffer("width", torch.tensor(float(width), dtype=torch.float64))

    @property
    def n_anchors(self) -> int:
        """Number of anchor points k."""
        return int(self.anchors.shape[0])

    def select(self, z: torch.Tensor) -> torch.Tensor:
        """The gate's coordinates (..., d) of residual inputs ``z`` (..., n_in)."""
        return z.index_select(-1, self.column_index)

    @torch.no_grad()
    def fit(self, z: torch.Tensor, held: torch.Tensor | None = None) -> SupportGate:
        """Choose the anchors among training samples and measure the cover.

        Args:
            z: (m, n_in) training samples in the residual's input coordinates, m >= 1.
            held: optional (h, n_in) held-out samples of the same distribution (validation
                episodes): the cover then also reaches each of them, so it measures how far
                new in-distribution samples lie from the training ones, not only the spacing
                of the anchors.

        Returns:
            self, fitted. Deterministic: the same samples give the same anchors.

        Raises:
            ShapeError: ``z`` is not (m, n_in) with m >= 1 and every gate column present.
        """
        pts = self._samples(z, "fit", "training sample")
        self._place(pts)
        if held is not None and held.shape[0]:
            h = self.select(held).to(self.anchors.dtype)
            h = h[torch.isfinite(h).all(-1)]
            if h.shape[0]:
                far = torch.cdist(h, self.anchors).amin(-1).max()
                self.cover.copy_(torch.maximum(self.cover, far))
        return self

    @torch.no_grad()
    def extend(self, z: torch.Tensor) -> SupportGate:
        """Widen a fitted gate to new samples (``WorldModel.adapt`` training the residual on
        a new record): the anchors are chosen again among the old anchors and ``z``, and the
        cover keeps at least its old value.

        Args:
            z: (m, n_in) new samples in the residual's input coordinates, m >= 1.

        Raises:
            ShapeError: as :meth:`fit`.
        """
        new = self._samples(z, "extend", "new sample")
        old_cover = self.cover.clone()
        self._place(torch.cat((self.anchors, new)))
        self.cover.copy_(torch.maximum(self.cover, old_cover))
        return self

    def _samples(self, z: torch.Tensor, method: str, what: str) -> torch.Tensor:
        """The gate coordinates (m', d) of the finite rows of ``z`` (m, n_in), at most
        :data:`MAX_FIT_SAMPLES` of them, evenly spaced.

        Raises:
            ShapeError: ``z`` is not (m, n_in) with m >= 1 and every gate column present, or
                no row is finite.
        """
        if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] <= int(self.column_index.max()):
            raise ShapeError(
                f"SupportGate.{method} needs (m, n_in) samples with m >= 1 and n_in > "
                f"{int(self.column_index.max())}; got shape {tuple(z.shape)}."
            )
        pts = self.select(z).to(self.anchors.dtype)
        pts = pts[torch.isfinite(pts).all(-1)]
        if pts.shape[0] == 0:
            raise ShapeError(f"SupportGate got no finite {what}.")
        if pts.shape[0] > MAX_FIT_SAMPLES:
            idx = torch.linspace(0, pts.shape[0] - 1, MAX_FIT_SAMPLES).round().long()
            pts = pts.index_select(0, idx.to(pts.device))
        return pts

    def _place(self, pts: torch.Tensor) -> None:
        """Farthest-point sampling of the anchors among (m, d) ``pts``; cover: the largest
        distance of a point from its nearest anchor."""
        chosen = [0]
        nearest = torch.linalg.vector_norm(pts - pts[0], dim=-1)
        for _ in range(1, self.n_anchors):
            i = int(torch.argmax(nearest))
            chosen.append(i)  # repeats the farthest point when every sample is an anchor
            nearest = torch.minimum(nearest, torch.linalg.vector_norm(pts - pts[i], dim=-1))
        self.anchors.copy_(pts[chosen])
        self.cover.copy_(nearest.max())

    def relative_distance(self, z: torch.Tensor) -> torch.Tensor:
        """Distance (...,) of residual inputs ``z`` (..., n_in) to the nearest anchor, in units
        of ``cover``: at most 1 on the training and validation samples, above 1 off them (an
        out-of-distribution score, :mod:`hybridwm.evaluation.detection`)."""
        d = _nearest(self.select(z), self.anchors).reshape(z.shape[:-1])
        return d / self.cover.clamp_min(1e-12)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The gate (..., 1) in (0, 1] at residual inputs ``z`` (..., n_in)."""
        return gate_value(self.select(z), self.anchors, self.cover, self.width)
