"""Saturations (``min``, ``max``, ``clip``) and ``sqrt`` as generated code runs them.

numpy code is always exact. torch code evaluates ``min``/``max``/``clip`` smoothly inside
:func:`smooth_saturation` (``PhysicsVectorField`` enters it in training mode), so gradients
flow through the kinks, and exactly outside it. The smoothing scale ``1/k`` is in the units of
the arguments of each call; it is

* the call's own ``sharpness``, written in the equation: ``max(q, 0, sharpness=50)``,
  ``clip(u, -2, 2, sharpness=5)`` (parsed into :class:`SharpMax` / :class:`SharpMin`), so a
  saturation of a flow in m^3/s and one of a torque in N*m each get a scale of their own;
* otherwise the model's default ``sharpness`` (a declared prior's ``sharpness`` key);
* otherwise none: that call stays exact, in training too.

``sqrt`` in torch code has a finite gradient at 0 (see :func:`torch_safe_sqrt`), so
``sqrt(max(x, 0))`` trains without NaN where the smooth max underflows to 0.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import sympy as sp

__all__ = [
    "SharpMax",
    "SharpMin",
    "np_maximum",
    "np_minimum",
    "saturation_state",
    "smooth_saturation",
    "torch_binary",
    "torch_safe_sqrt",
]


class _SharpSaturation(sp.Function):
    """``max``/``min`` with its own sharpness ``k``: ``SharpMax(k, a, b, ...)`` prints (and
    parses) as ``max(a, b, ..., sharpness=k)``. Exact on numbers, in numpy and in evaluation."""

    _exact: Any = sp.Max
    _word = "max"

    @classmethod
    def eval(cls, k: sp.Expr, *args: sp.Expr) -> sp.Expr | None:
        if all(a.is_number for a in args):
            return cls._exact(*args)  # type: ignore[no-any-return]
        return None

    def _eval_is_real(self) -> bool | None:
        return all(a.is_real for a in self.args[1:]) or None

    def _sympystr(self, printer: Any) -> str:
        k, *args = self.args
        inner = ", ".join(printer._print(a) for a in args)
        return f"{self._word}({inner}, sharpness={float(k)!r})"

    def _latex(self, printer: Any) -> str:
        k, *args = self.args
        inner = ", ".join(printer._print(a) for a in args)
        return rf"\{self._word}_{{k={float(k):g}}}\left({inner}\right)"


class SharpMax(_SharpSaturation):
    """``max(a, b, ..., sharpness=k)``."""

    _exact = sp.Max
    _word = "max"


class SharpMin(_SharpSaturation):
    """``min(a, b, ..., sharpness=k)``."""

    _exact = sp.Min
    _word = "min"


def np_minimum(a: Any, b: Any, k: float | None = None) -> Any:
    """Exact ``min`` (numpy code is never smoothed; ``k`` is ignored)."""
    return np.minimum(a, b)


def np_maximum(a: Any, b: Any, k: float | None = None) -> Any:
    """Exact ``max`` (numpy code is never smoothed; ``k`` is ignored)."""
    return np.maximum(a, b)


#: (smoothing on, default sharpness) of the torch code run in this context
_SMOOTH: contextvars.ContextVar[tuple[bool, float | None]] = contextvars.ContextVar(
    "hybridwm_saturation_sharpness", default=(False, None)
)


@contextlib.contextmanager
def smooth_saturation(sharpness: float | None, *, enabled: bool = True) -> Iterator[None]:
    """Within this context, torch code generated here evaluates ``min``/``max``/``clip`` smoothly.

    The smooth forms (softplus-based, ``k`` = the call's own ``sharpness`` if it has one, else
    ``sharpness`` here, in 1/units of the arguments) are

    * ``smooth_max(a, b) = b + softplus(k (a - b)) / k``
    * ``smooth_min(a, b) = a - softplus(k (a - b)) / k``

    They are infinitely differentiable, always lie on the safe side of the exact value
    (``smooth_max >= max``, ``smooth_min <= min``) and differ from it by at most
    ``log(2) / k`` (at the kink ``a = b``), decaying like ``exp(-k |a - b|) / k`` away from it.
    ``PhysicsVectorField`` enters this context in training mode (``enabled=self.training``);
    numpy code is always exact.

    Args:
        sharpness: the default ``k``; None: calls without their own sharpness stay exact.
        enabled: False: every call is exact (evaluation mode).
    """
    token = _SMOOTH.set((bool(enabled), None if sharpness is None else float(sharpness)))
    try:
        yield
    finally:
        _SMOOTH.reset(token)


def saturation_state() -> tuple[bool, float | None]:
    """``(smoothing on, default sharpness)`` of torch code run here (see
    :func:`smooth_saturation`)."""
    return _SMOOTH.get()


def torch_binary(name: str) -> Callable[..., Any]:
    """``_minimum(a, b[, k])`` / ``_maximum(a, b[, k])`` of generated torch code."""

    def f(a: Any, b: Any, k: float | None = None) -> Any:
        import torch

        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = torch.as_tensor(a, dtype=torch.float64)
        if not isinstance(a, torch.Tensor):
            a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
        if not isinstance(b, torch.Tensor):
            b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
        enabled, default = _SMOOTH.get()
        sharp = (k if k is not None else default) if enabled else None
        if sharp is not None:
            soft = torch.nn.functional.softplus(sharp * (a - b)) / sharp
            return b + soft if name == "maximum" else a - soft
        return getattr(torch, name)(a, b)

    return f


def torch_safe_sqrt() -> Callable[[Any], Any]:
    """``torch.sqrt`` with a finite gradient at 0: the forward value is exactly ``sqrt(a)``;
    the gradient is ``1 / (2 sqrt(max(a, eps)))`` (``eps`` the dtype's machine epsilon), i.e.
    clipped at ``1 / (2 sqrt(eps))`` where the exact one is unbounded. So ``sqrt(max(x, 0))``
    (whose smooth max underflows to 0 far on the negative side, where its own gradient is 0)
    gets a gradient 0 there instead of ``inf * 0 = nan``; above ``eps`` it is exact."""
    import torch

    class SafeSqrt(torch.autograd.Function):
        generate_vmap_rule = True  # usable inside torch.func transforms (vmap, jacrev, ...)

        @staticmethod
        def forward(a: Any) -> Any:
            return torch.sqrt(a)

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (a,) = ctx.saved_tensors
            eps = torch.finfo(a.dtype).eps
            return grad * 0.5 / torch.sqrt(a.clamp(min=eps))

    def safe_sqrt(a: Any) -> Any:
        if not isinstance(a, torch.Tensor):
            return torch.sqrt(torch.as_tensor(a, dtype=torch.float64))
        return SafeSqrt.apply(a)

    return safe_sqrt
