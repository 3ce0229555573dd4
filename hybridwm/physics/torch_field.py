"""The equations of a PhysicsModel as a differentiable torch module.

Contract (relied on by ``hybridwm.dynamics``):

* ``forward(x, u)``: ``x`` (..., n_x), ``u`` (..., n_u) (``None`` or (..., 0) when n_u = 0)
  -> dx/dt (..., n_x); same dtype/device as the module.
* attributes ``state_names``, ``action_names``, ``feature_names``, ``parameter_names``.
* the sparsity mask is a fixed buffer: ``C = coef * mask``, so terms that are zero stay zero
  even when the coefficients are trained.
* ``trainable=False``: no parameter requires grad, and the values are used as they are
  (no reparametrisation), so the module equals ``PhysicsModel.predict`` to float64 precision.
* ``trainable=True``: a discovered model trains its nonzero coefficients (``coef``); a declared
  prior trains its non-fixed parameters (``raw_parameters``), with bounds enforced by
  reparametrisation: ``(lo, hi)`` -> ``lo + (hi - lo) * sigmoid(r)``, ``(lo, None)`` ->
  ``lo + softplus(r)``, ``(None, hi)`` -> ``hi - softplus(r)``, unbounded -> ``r``.
  The parameters therefore never leave their bounds during gradient descent.
* ``observation_names`` and :meth:`observe`: the model's observation equations
  ``y = h(x, p)`` (sharing the parameters), empty when it has none.
* ``min``/``max``/``clip`` in the equations are smooth in training mode (``module.train()``)
  when the model's ``info["sharpness"]`` is set, exact in evaluation mode (``module.eval()``);
  see :func:`hybridwm.physics.expressions.smooth_saturation`.
* :meth:`to_physics_model` (or ``PhysicsModel.from_vector_field(module)``) gives back a
  PhysicsModel with the module's current values.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hybridwm.data.names import NamedSignals
from hybridwm.errors import ShapeError
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import compile_expressions, smooth_saturation

__all__ = ["PhysicsVectorField"]


def _softplus_inv(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class PhysicsVectorField(nn.Module, NamedSignals):
    """dx/dt = Theta(x, u; p) @ (C(p) * mask).T as an ``nn.Module``.

    Args:
        model: the PhysicsModel (or other :class:`~hybridwm.physics.equations.Equations`) whose
            equations the module computes.
        trainable: make the coefficients (discovered) or parameters (declared) trainable.
        dtype: floating dtype of the coefficients (inputs must have the same dtype).
        device: device of the buffers and parameters.
    """

    def __init__(
        self,
        model: Equations,
        *,
        trainable: bool = False,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self._template = model
        self.state_names: tuple[str, ...] = model.state_names
        self.action_names: tuple[str, ...] = model.action_names
        self.feature_names: tuple[str, ...] = tuple(model.feature_names)
        self.trainable = bool(trainable)
        self._features = model.library.torch_function()
        sharp = model.info.get("sharpness") if isinstance(model.info, dict) else None
        self.sharpness: float | None = None if sharp is None else float(sharp)
        self.observation_names: tuple[str, ...] = tuple(model.observations)
        self._observe_fn = self._compile_observations(model)
        mask = torch.as_tensor(model.mask, dtype=dtype, device=device)
        self.register_buffer("mask", mask)
        params = list(model.parameters.values())
        self.parameter_names: tuple[str, ...] = tuple(p.name for p in params)
        self._free = [i for i, p in enumerate(params) if not p.fixed]
        self._fixed = [i for i, p in enumerate(params) if p.fixed]
        self.free_parameter_names: tuple[str, ...] = tuple(params[i].name for i in self._free)
        if params:
            exprs = [e for row in model.coef_expressions for e in row]
            self._coef_fn = compile_expressions(exprs, (self.parameter_names,), backend="torch")
            self._bounds = [params[i].bounds_tuple() for i in self._free]
            raw = [
                self._to_raw(params[i].value, b) if self.trainable else params[i].value
                for i, b in zip(self._free, self._bounds, strict=False)
            ]
            self.raw_parameters = nn.Parameter(
                torch.tensor(raw, dtype=dtype, device=device), requires_grad=self.trainable
            )
            self.register_buffer(
                "fixed_values",
                torch.tensor([params[i].value for i in self._fixed], dtype=dtype, device=device),
            )
            self.coef = None
        else:
            self._coef_fn = None
            self.coef = nn.Parameter(
                torch.as_tensor(model.coef_array, dtype=dtype, device=device).clone(),
                requires_grad=self.trainable,
            )

    def _compile_observations(self, model: Equations) -> Any:
        if not model.observations:
            return None
        return compile_expressions(
            list(model.observations.values()),
            (model.state_names, (), tuple(model.parameters)),
            backend="torch",
        )

    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """Observation equations at states ``x`` (..., n_x) → (..., n_y) (n_y may be 0)."""
        if self._observe_fn is None:
            return x[..., :0]
        with smooth_saturation(self.sharpness, enabled=self.training):
            return self._observe_fn(x, x[..., :0], self.parameter_tensor())

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _to_raw(value: float, bounds: tuple[float, float]) -> float:
        lo, hi = bounds
        if math.isfinite(lo) and math.isfinite(hi):
            f = min(max((value - lo) / (hi - lo), 1e-12), 1 - 1e-12)
            return math.log(f / (1 - f))
        if math.isfinite(lo):
            return _softplus_inv(max(value - lo, 1e-12))
        if math.isfinite(hi):
            return _softplus_inv(max(hi - value, 1e-12))
        return value

    def _free_values(self) -> list[torch.Tensor]:
        out = []
        for j, (lo, hi) in enumerate(self._bounds):
            r = self.raw_parameters[j]
            if not self.trainable:
                out.append(r)
            elif math.isfinite(lo) and math.isfinite(hi):
                out.append(lo + (hi - lo) * torch.sigmoid(r))
            elif math.isfinite(lo):
                out.append(lo + nn.functional.softplus(r))
            elif math.isfinite(hi):
                out.append(hi - nn.functional.softplus(r))
            else:
                out.append(r)
        return out

    def parameter_tensor(self) -> torch.Tensor:
        """(n_p,) current parameter values in ``parameter_names`` order (empty if none)."""
        if self._coef_fn is None:
            return self.mask.new_zeros(0)
        vals: list[torch.Tensor | None] = [None] * len(self.parameter_names)
        for i, v in zip(self._free, self._free_values(), strict=False):
            vals[i] = v
        for j, i in enumerate(self._fixed):
            vals[i] = self.fixed_values[j]
        return torch.stack(vals)  # type: ignore[arg-type]

    def parameter_values(self) -> dict[str, float]:
        """Current parameter values as floats."""
        p = self.parameter_tensor().detach().cpu().tolist()
        return dict(zip(self.parameter_names, p, strict=False))

    def coefficient_matrix(self) -> torch.Tensor:
        """(n_x, n_features) current coefficients (masked)."""
        if self._coef_fn is None:
            return self.coef * self.mask  # type: ignore[operator]
        c = self._coef_fn(self.parameter_tensor())
        return c.reshape(self.n_x, -1) * self.mask

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """dx/dt at states ``x`` (..., n_x) under actions ``u`` (..., n_u); returns (..., n_x)."""
        if x.shape[-1] != self.n_x:
            raise ShapeError(
                f"x must have shape (..., {self.n_x}) for states {list(self.state_names)}. "
                f"Got {tuple(x.shape)}."
            )
        if self.n_u == 0:
            if u is not None and u.shape[-1] != 0:
                raise ShapeError(f"This model has no actions; got u of shape {tuple(u.shape)}.")
            u = x.new_zeros((*x.shape[:-1], 0))
        elif u is None or u.shape[-1] != self.n_u:
            got = None if u is None else tuple(u.shape)
            raise ShapeError(
                f"u must have shape (..., {self.n_u}) for actions {list(self.action_names)}. "
                f"Got {got}."
            )
        with smooth_saturation(self.sharpness, enabled=self.training):
            p = self.parameter_tensor()
            theta = self._features(x, u, p)
            return theta @ self.coefficient_matrix().transpose(0, 1)

    def to_physics_model(self) -> Equations:
        """A copy of the module's model (a PhysicsModel for one made by
        ``PhysicsModel.vector_field``) with the module's current coefficients / parameter values."""
        if self._coef_fn is None:
            c = self.coefficient_matrix().detach().cpu().double().numpy()
            return self._template.with_coefficients(c)
        return self._template.with_parameters(**self.parameter_values())

    def extra_repr(self) -> str:
        return (
            f"states={list(self.state_names)}, actions={list(self.action_names)}, "
            f"features={len(self.feature_names)}, trainable={self.trainable}"
        )

    def __getstate__(self) -> dict[str, Any]:  # generated functions are rebuilt, not pickled
        state = self.__dict__.copy()
        state["_features"] = None
        state["_observe_fn"] = None
        state["_coef_fn"] = None if state.get("_coef_fn") is None else "rebuild"
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._features = self._template.library.torch_function()
        self._observe_fn = self._compile_observations(self._template)
        if self._coef_fn == "rebuild":
            exprs = [e for row in self._template.coef_expressions for e in row]
            self._coef_fn = compile_expressions(exprs, (self.parameter_names,), backend="torch")
