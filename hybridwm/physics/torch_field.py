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
* speed: a call evaluates only the features some equation uses. What depends on the trained
  tensor alone (a declared prior's reparametrisation, coefficients and subterms such as
  ``J*Mt``; a discovered model's masked coefficients) is computed once and shared by every
  call (see :mod:`hybridwm.physics.shared_terms`) until the values change (in place, e.g. an
  optimizer step, or replaced), or the mode or grad mode does. The values are the same to the
  last bit as those of the full ``Theta @ (C * mask).T``. When a gradient is recorded on the
  CPU, a declared prior's features with enough operations are one autograd node whose forward
  and backward passes are generated numpy code (:mod:`hybridwm.physics.adjoint`): the same
  values, the same derivative rounded differently, at about half the cost of torch's graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from hybridwm.data.names import NamedSignals
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.physics.adjoint import features_with_adjoint
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import compile_expressions, smooth_saturation
from hybridwm.physics.kinematics import pinned_rows
from hybridwm.physics.shared_terms import (
    INTERVAL,
    LOWER,
    UNBOUNDED,
    UPPER,
    BoundGroup,
    TermProgram,
    bound_kind,
    cache_key,
    shared_terms,
)

__all__ = ["PhysicsVectorField"]


def _softplus_inv(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class PhysicsVectorField(nn.Module, NamedSignals):
    """dx/dt = Theta(x, u; p) @ (C(p) * mask).T as an ``nn.Module``.

    The forward pass evaluates only the features some equation uses (the columns of ``mask``
    with a nonzero entry). What depends on the trained tensor alone (the masked coefficients;
    for a declared prior also the reparametrisation of its parameters and the subterms of its
    features in the parameters alone, see :func:`~hybridwm.physics.codegen.compile_hoisted`) is
    computed once per values and shared by every call (every solver stage) until they change;
    the values are those of the full ``Theta @ (C * mask).T``, with far fewer autograd nodes.

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
        sharp = model.info.get("sharpness") if isinstance(model.info, dict) else None
        self.sharpness: float | None = None if sharp is None else float(sharp)
        self.observation_names: tuple[str, ...] = tuple(model.observations)
        mask = torch.as_tensor(model.mask, dtype=dtype, device=device)
        self.register_buffer("mask", mask)
        # the used features, and the positions of the nonzero entries of (C * mask)[:, used]
        used = np.flatnonzero(model.mask.any(0))
        self._used: tuple[int, ...] = tuple(used.tolist())
        self._all_used = len(used) == len(self.feature_names)
        self.register_buffer("used_features", torch.as_tensor(used, device=device), False)
        rows, cols = np.nonzero(model.mask[:, used])
        self._entries = (tuple(rows.tolist()), tuple(used[cols].tolist()))
        index = torch.as_tensor(rows * len(used) + cols, device=device)
        self.register_buffer("entry_index", index, False)
        params = list(model.parameters.values())
        self.parameter_names: tuple[str, ...] = tuple(p.name for p in params)
        self._free = [i for i, p in enumerate(params) if not p.fixed]
        self._fixed = [i for i, p in enumerate(params) if p.fixed]
        self.free_parameter_names: tuple[str, ...] = tuple(params[i].name for i in self._free)
        self._declared = bool(params)
        self._shared: tuple[Any, ...] | None = None
        self._compile()
        if params:
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
            self._reparametrisation(dtype, device)
            self.coef = None
        else:
            self.coef = nn.Parameter(
                torch.as_tensor(model.coef_array, dtype=dtype, device=device).clone(),
                requires_grad=self.trainable,
            )
        # rows pinned by discovery (d(position)/dt = velocity, hybridwm.physics.kinematics)
        # are held at their values: no gradient reaches them, whatever trains the coefficients
        info = model.info if isinstance(model.info, dict) else {}
        held = pinned_rows(info, self.state_names)[:, None] & np.ones_like(model.mask)
        self._holds = bool(held.any()) and not self._declared
        if self._holds:
            values = torch.as_tensor(model.coef_array * held, dtype=dtype, device=device)
            self.register_buffer("held_mask", torch.as_tensor(held, device=device), False)
            self.register_buffer("held_values", values, False)

    def _compile(self) -> None:
        """Generate the torch functions of the template's features, coefficients and
        observation equations (rebuilt, never pickled)."""
        model = self._template
        columns = None if self._all_used else self._used
        self._features = model.library.torch_function(columns)
        self._observe_fn = self._coef_fn = self._entry_fn = self._prepare = None
        self._adjoint = None
        if model.observations:
            self._observe_fn = compile_expressions(
                list(model.observations.values()),
                (model.state_names, (), tuple(model.parameters)),
                backend="torch",
            )
        if self._declared:
            hoisted = model.library.torch_hoisted(columns)
            self._features, self._prepare = hoisted.evaluate, hoisted.prepare
            self._adjoint = hoisted.adjoint
            names = (self.parameter_names,)
            exprs = model.coef_expressions
            flat = [e for row in exprs for e in row]
            self._coef_fn = compile_expressions(flat, names, backend="torch")
            nonzero = [exprs[i][j] for i, j in zip(*self._entries, strict=True)]
            self._entry_fn = compile_expressions(nonzero, names, backend="torch")

    def _reparametrisation(self, dtype: torch.dtype, device: torch.device | str | None) -> None:
        """Group the free parameters by the kind of their bounds (all ``unbounded`` when the
        values are not trained) and store, as buffers, each group's positions and bounds, and
        the permutation that puts ``cat(groups, fixed values)`` in parameter order."""
        kinds = [bound_kind(b) if self.trainable else UNBOUNDED for b in self._bounds]
        self._groups: list[tuple[str, bool]] = []
        order: list[int] = []
        for kind in (INTERVAL, LOWER, UPPER, UNBOUNDED):
            members = [j for j, k in enumerate(kinds) if k == kind]
            if not members:
                continue
            self._groups.append((kind, members == list(range(len(kinds)))))
            self.register_buffer(f"{kind}_index", torch.tensor(members, device=device), False)
            lo, hi = (list(b) for b in zip(*(self._bounds[j] for j in members), strict=True))
            width = [h - low for low, h in zip(lo, hi, strict=True)]
            for name, values in {"low": lo, "high": hi, "width": width}.items():
                if kind != UNBOUNDED:
                    buffer = torch.tensor(values, dtype=dtype, device=device)
                    self.register_buffer(f"{kind}_{name}", buffer, False)
            order += [self._free[j] for j in members]
        order += self._fixed
        perm = [order.index(i) for i in range(len(order))]
        self._in_order = perm == list(range(len(order)))
        self.register_buffer("parameter_order", torch.tensor(perm, device=device), False)

    def _program(self) -> TermProgram:
        """The :class:`~hybridwm.physics.shared_terms.TermProgram` of the current buffers."""
        used = None if self._all_used else self.used_features
        if not self._declared:
            return TermProgram(self.n_x, self.mask, used)
        groups = tuple(
            BoundGroup(
                kind,
                None if whole else getattr(self, f"{kind}_index"),
                *(getattr(self, f"{kind}_{name}", None) for name in ("low", "high", "width")),
            )
            for kind, whole in self._groups
        )
        return TermProgram(
            self.n_x,
            self.mask,
            used,
            self.sharpness,
            groups,
            self.fixed_values,
            None if self._in_order else self.parameter_order,
            self._entry_fn,
            self.entry_index,
            self._prepare,
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

    def parameter_tensor(self) -> torch.Tensor:
        """(n_p,) current parameter values in ``parameter_names`` order (empty if none)."""
        if not self._declared:
            return self.mask.new_zeros(0)
        return self._program().values(self.raw_parameters)

    def parameter_values(self) -> dict[str, float]:
        """Current parameter values as floats."""
        p = self.parameter_tensor().detach().cpu().tolist()
        return dict(zip(self.parameter_names, p, strict=False))

    def set_parameter_values(self, **values: float) -> None:
        """Set some parameters of a declared prior to new values, in place.

        The names are checked as :meth:`Equations.with_parameters` checks them; a trainable
        prior's free parameters must stay inside their bounds (its reparametrisation maps
        onto them); fixed parameters can be set to any value. Gradients
        and the module's trainability are unchanged.

        Raises:
            ConfigError: the module holds discovered coefficients, not named parameters, or a
                value lies outside the bounds of a trainable parameter.
            UnknownNameError: a name is not a parameter (the valid names are listed).
        """
        if not self._declared:
            raise ConfigError(
                "set_parameter_values needs physics declared in named parameters (a prior made "
                "with hybridwm.physics.declare); this module holds discovered coefficients. "
                "Change discovered equations with PhysicsModel.with_coefficients instead."
            )
        checked = self.to_physics_model().with_parameters(**values).parameters
        params = [checked[name] for name in self.parameter_names]
        for i, (lo, hi) in zip(self._free, self._bounds, strict=True):
            v = params[i].value
            if self.trainable and not lo <= v <= hi:  # the reparametrisation cannot hold it
                raise ConfigError(
                    f"Parameter {params[i].name!r} = {v:g} lies outside its bounds [{lo:g}, "
                    f"{hi:g}], which a trainable prior cannot represent. Pass a value inside "
                    "them, or declare the prior with wider bounds."
                )
        with torch.no_grad():
            for j, (i, bounds) in enumerate(zip(self._free, self._bounds, strict=True)):
                v = params[i].value
                self.raw_parameters[j] = self._to_raw(v, bounds) if self.trainable else v
            for k, i in enumerate(self._fixed):
                self.fixed_values[k] = params[i].value
        self._shared = None

    def _discovered_coefficients(self) -> torch.Tensor:
        """(n_x, n_features) the trained coefficients of discovered equations, the pinned
        rows (``info["kinematics"]``) held at their values."""
        if not self._holds:
            return self.coef  # type: ignore[return-value]
        return torch.where(self.held_mask, self.held_values, self.coef)  # type: ignore[arg-type]

    def coefficient_matrix(self) -> torch.Tensor:
        """(n_x, n_features) current coefficients (masked)."""
        if self._coef_fn is None:
            return self._discovered_coefficients() * self.mask
        c = self._coef_fn(self.parameter_tensor())
        return c.reshape(self.n_x, -1) * self.mask

    def _shared_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``q`` and the transposed used coefficients (see
        :class:`~hybridwm.physics.shared_terms.TermProgram`), computed once and kept while the
        trained tensor, the buffers, the mode and the grad mode stay the same."""
        trained = self.raw_parameters if self._declared else self.coef
        buffers = (self.mask, self.fixed_values) if self._declared else (self.mask,)
        key = cache_key(trained, buffers, self.training, self.sharpness)  # type: ignore[arg-type]
        shared = self._shared
        if key is not None and shared is not None and shared[0] is trained and shared[1] == key:
            return shared[2]  # type: ignore[no-any-return]
        values = trained if self._declared else self._discovered_coefficients()
        q, c = shared_terms(self._program(), values, self.training)  # type: ignore[arg-type]
        terms = (q, c.transpose(0, 1))
        self._shared = None if key is None else (trained, key, terms)
        return terms

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """dx/dt at states ``x`` (..., n_x) under actions ``u`` (..., n_u); returns (..., n_x)."""
        u = self._checked(x, u)
        with smooth_saturation(self.sharpness, enabled=self.training):
            q, coef = self._shared_terms()
            return features_with_adjoint(self._features, self._adjoint, x, u, q) @ coef

    def features(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """The library features the equations use, (..., n_used), at states ``x`` (..., n_x)
        under actions ``u`` (..., n_u): ``forward(x, u) == features(x, u) @
        used_coefficients()``. Ensembles whose members differ only in their coefficients
        evaluate these once for all members (:mod:`hybridwm.models.stacking`)."""
        u = self._checked(x, u)
        with smooth_saturation(self.sharpness, enabled=self.training):
            q = self._shared_terms()[0]
            return features_with_adjoint(self._features, self._adjoint, x, u, q)

    @torch.no_grad()
    def frozen(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The module's current equations as a plain function ``f(x, u) -> dx/dt`` of
        (..., n_x) states and (..., n_u) actions, for inference: evaluation mode (exact min/max),
        no autograd, the coefficients fixed at their values now. It holds no context manager or
        cache, so ``torch.compile`` traces it in one graph (:mod:`hybridwm.control.compiled`).
        """
        trained = self.raw_parameters if self._declared else self._discovered_coefficients()
        with smooth_saturation(self.sharpness, enabled=False):
            q, coef = shared_terms(self._program(), trained, False)  # type: ignore[arg-type]
        coef = coef.transpose(0, 1)
        features = self._features

        def field(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            return features(x, u, q) @ coef

        return field

    def used_coefficients(self) -> torch.Tensor:
        """(n_used, n_x): the masked coefficients of the used features, transposed (see
        :meth:`features`)."""
        return self._shared_terms()[1]

    def _checked(self, x: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """``u`` checked against ``x`` and the action names ((..., 0) zeros when n_u = 0)."""
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
        return u

    def to_physics_model(self) -> Equations:
        """A copy of the module's model (a PhysicsModel for one made by
        ``PhysicsModel.vector_field``) with the module's current coefficients / parameter values."""
        if not self._declared:
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
        state.update(_features=None, _observe_fn=None, _coef_fn=None, _entry_fn=None)
        state.update(_prepare=None, _shared=None, _adjoint=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compile()
