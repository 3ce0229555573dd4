"""The terms of a physics vector field that depend on its trained tensor alone, shared by calls.

A solver evaluates a vector field at every stage of every step (80 calls for an rk4 rollout of
20 steps), always with the same parameters. What depends on them alone — a declared prior's
reparametrisation, its coefficients and the subterms of its features in the parameters alone
(``J*Mt``, ``-fmax``), or a discovered model's masked coefficients — is computed once per
parameter values by a :class:`TermProgram` and shared by every call through one autograd node
(:func:`shared_terms`), instead of being rebuilt, and differentiated, at each call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hybridwm.errors import TrainingError
from hybridwm.physics.saturation import smooth_saturation

__all__ = [
    "INTERVAL",
    "LOWER",
    "UNBOUNDED",
    "UPPER",
    "BoundGroup",
    "TermProgram",
    "bound_kind",
    "cache_key",
    "shared_terms",
    "transform_active",
]

#: how a free parameter's bounds map its raw value ``r`` to its value
INTERVAL, LOWER, UPPER, UNBOUNDED = "interval", "lower", "upper", "unbounded"


def bound_kind(bounds: tuple[float, float]) -> str:
    """The kind of ``(lo, hi)`` (``-inf``/``inf`` for a missing side): ``interval`` (both
    finite: ``lo + (hi - lo) sigmoid(r)``), ``lower`` (``lo + softplus(r)``), ``upper``
    (``hi - softplus(r)``) or ``unbounded`` (``r``)."""
    lo, hi = bounds
    if math.isfinite(lo) and math.isfinite(hi):
        return INTERVAL
    if math.isfinite(lo):
        return LOWER
    return UPPER if math.isfinite(hi) else UNBOUNDED


@dataclasses.dataclass(frozen=True)
class BoundGroup:
    """The free parameters whose bounds are of one kind.

    Attributes:
        kind: see :func:`bound_kind`.
        index: (k,) their positions among the free parameters; None when they are all of them,
            in order.
        low: (k,) lower bounds (``interval``, ``lower``).
        high: (k,) upper bounds (``upper``).
        width: (k,) ``high - low`` (``interval``).
    """

    kind: str
    index: torch.Tensor | None
    low: torch.Tensor | None = None
    high: torch.Tensor | None = None
    width: torch.Tensor | None = None

    def values(self, raw: torch.Tensor) -> torch.Tensor:
        """The values of the group's parameters from the (n_free,) raw values."""
        r = raw if self.index is None else raw.index_select(0, self.index)
        if self.kind == INTERVAL:
            return self.low + self.width * torch.sigmoid(r)  # type: ignore[operator]
        if self.kind == LOWER:
            return self.low + nn.functional.softplus(r)  # type: ignore[operator]
        if self.kind == UPPER:
            return self.high - nn.functional.softplus(r)  # type: ignore[operator]
        return r


@dataclasses.dataclass(frozen=True)
class TermProgram:
    """Computes the terms of the trained tensor alone from it. It holds the vector field's
    buffers and generated functions, never the field itself (whose cache holds the terms).

    Attributes:
        n_x: number of states.
        mask: (n_x, n_features) the sparsity mask.
        used: (n_used,) the features some equation uses; None when all are.
        sharpness: the default sharpness of smooth ``min``/``max`` (None: exact).
        groups: a declared prior's free parameters by kind of bounds (empty when discovered).
        fixed: (n_fixed,) the values of its fixed parameters.
        order: (n_p,) the permutation of ``cat(groups, fixed)`` into parameter order; None
            when it is the identity.
        entries: ``entries(p)`` → (n_entries,) its coefficients that are not identically zero.
        entry_index: (n_entries,) their positions in the flattened (n_x, n_used) matrix.
        prepare: ``prepare(p)`` → ``q``, the parameters and subterms its features read (see
            :func:`~hybridwm.physics.codegen.compile_hoisted`).
    """

    n_x: int
    mask: torch.Tensor
    used: torch.Tensor | None
    sharpness: float | None = None
    groups: tuple[BoundGroup, ...] = ()
    fixed: torch.Tensor | None = None
    order: torch.Tensor | None = None
    entries: Callable[[torch.Tensor], torch.Tensor] | None = None
    entry_index: torch.Tensor | None = None
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None

    def values(self, raw: torch.Tensor) -> torch.Tensor:
        """(n_p,) a declared prior's parameter values, in parameter order, from its (n_free,)
        raw values: one vectorised reparametrisation per group."""
        parts = [g.values(raw) for g in self.groups]
        if self.fixed is not None and self.fixed.numel():
            parts.append(self.fixed)
        values = parts[0] if len(parts) == 1 else torch.cat(parts)
        return values if self.order is None else values.index_select(0, self.order)

    def __call__(self, trained: torch.Tensor, smooth: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``q`` (n_q,) (empty for a discovered model) and the (n_x, n_used) masked
        coefficients of the used features, at the values ``trained``: the (n_free,) raw
        parameters of a declared prior or the (n_x, n_features) coefficients of a discovered
        model; ``smooth``: evaluate ``min``/``max`` smoothly (training mode)."""
        if self.entries is None:
            c = trained * self.mask
            return self.mask.new_zeros(0), c if self.used is None else c.index_select(1, self.used)
        with smooth_saturation(self.sharpness, enabled=smooth):
            p = self.values(trained)
            values = self.entries(p)
            q = self.prepare(p)  # type: ignore[misc]
        mask = self.mask if self.used is None else self.mask.index_select(1, self.used)
        flat = values.new_zeros(mask.numel()).index_copy(0, self.entry_index, values)  # type: ignore[arg-type]
        return q, flat.view(mask.shape) * mask


class _SharedTerms(torch.autograd.Function):
    """The terms as one autograd node that every call shares while the values stay the same.

    The forward computes them without a graph; the backward recomputes them with one and
    differentiates it (with ``create_graph``, from the trained tensor itself, so second
    derivatives are right). It keeps no saved tensors, so it can run once for each loss that
    used the shared terms (a graph of plain operations is freed by its first backward).
    """

    @staticmethod
    def forward(ctx: Any, program: TermProgram, smooth: bool, trained: torch.Tensor) -> Any:
        # the trained tensor is kept as an attribute, not saved: see the docstring
        ctx.program, ctx.smooth, ctx.trained, ctx.version = (
            program,
            smooth,
            trained,
            trained._version,
        )
        return program(trained, smooth)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        if ctx.trained._version != ctx.version:
            raise TrainingError(
                "The parameters of a physics vector field were modified in place (e.g. by an "
                "optimizer step) after the forward pass this gradient goes through, so the "
                "gradient would be that of other values. Compute the loss again after the step."
            )
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            trained = ctx.trained if create_graph else ctx.trained.detach().requires_grad_()
            outs = ctx.program(trained, ctx.smooth)
            pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if o.requires_grad]
            if not pairs:
                return None, None, None
            (grad,) = torch.autograd.grad(
                [o for o, _ in pairs],
                trained,
                [g for _, g in pairs],
                allow_unused=True,
                create_graph=create_graph,
            )
        return None, None, grad


def transform_active() -> bool:
    """True inside a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev``, ...), which the
    shared node does not support: the terms are then computed with plain operations."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


def cache_key(trained: torch.Tensor, buffers: tuple[torch.Tensor, ...], *extra: Any) -> tuple:
    """What the shared terms depend on: the values (version counters and storage) of the
    trained tensor and the buffers, their type and device, the grad and inference modes, and
    ``extra`` (the module's mode and sharpness); None inside a ``torch.func`` transform (whose
    tensors have no storage: nothing is shared there)."""
    if transform_active():
        return None  # type: ignore[return-value]
    return (
        *((t._version, t.data_ptr()) for t in (trained, *buffers)),
        trained.dtype,
        trained.device,
        torch.is_grad_enabled() and trained.requires_grad,
        torch.is_inference_mode_enabled(),
        *extra,
    )


def shared_terms(
    program: TermProgram, trained: torch.Tensor, smooth: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The terms of :class:`TermProgram` as a shared node when a gradient is needed (see
    :class:`_SharedTerms`), else computed directly."""
    if torch.is_grad_enabled() and trained.requires_grad and not transform_active():
        return _SharedTerms.apply(program, smooth, trained)  # type: ignore[no-any-return]
    return program(trained, smooth)
