"""Stacking: the members of an ensemble rolled out in one batched pass.

Members share one architecture (a :class:`~hybridwm.dynamics.HybridDynamics`: physics term plus
MLP residual, either optional), so one field evaluates all of them on a (M·batch, n_x) state,
member ``m`` owning rows ``m·batch .. (m+1)·batch``:

* the residual networks' weights are stacked into (M, in, out) tensors and applied with one
  batched matrix product per layer (``torch.baddbmm``), the normalizers' buffers into (M, 1, n);
* the physics term is computed once for all rows when the members' physics modules hold equal
  tensors (discovered, frozen equations); when they are discovered equations that differ only
  in their coefficients (trained, or drawn from an E-SINDy bag), the library features are
  computed once for all rows and each member's coefficients applied with one batched matrix
  product; member by member otherwise (declared priors with different parameters).

The ODE solver then runs once for the whole ensemble: one solver loop instead of M. Each row keeps
to its member for the whole rollout: trajectory sampling as in PETS (TS-∞). (``torch.func.vmap``
over ``functional_call`` was measured first: 4-6x the cost of one model for 5 members on the
CPU, its per-operation overhead dominating these small networks.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hybridwm.dynamics import HybridDynamics, ODEModel, integrate
from hybridwm.dynamics.support import gate_value
from hybridwm.errors import ConfigError

__all__ = ["StackedDynamics", "stackable", "stacked_rollout"]

_NORMALIZER = ("x_mean", "x_std", "u_mean", "u_std", "dx_scale")


def _equal_modules(a: nn.Module | None, b: nn.Module | None) -> bool:
    sa, sb = a.state_dict(), b.state_dict()  # type: ignore[union-attr]
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa
    )


def _coefficient_stack(fields: Sequence[HybridDynamics]) -> torch.Tensor | None:
    """(M, n_used, n_phys) used coefficients of members whose physics are discovered equations
    with one library and one sparsity mask (see ``PhysicsVectorField.features``), else None."""
    mods = [f.physics for f in fields]
    f0 = mods[0]
    if not callable(getattr(f0, "features", None)) or getattr(f0, "_declared", True):
        return None
    for m in mods[1:]:
        if (
            type(m) is not type(f0)
            or m._declared  # type: ignore[union-attr]
            or m.feature_names != f0.feature_names  # type: ignore[union-attr]
            or not torch.equal(m.mask, f0.mask)  # type: ignore[union-attr, arg-type]
        ):
            return None
    with torch.no_grad():
        coefs = [m.used_coefficients() for m in mods]  # type: ignore[union-attr]
    return torch.stack(coefs).detach()


class StackedDynamics(HybridDynamics):
    """The vector fields of ``M`` members of one architecture as one field of (M·batch, n_x).

    The members' tensors are copied (detached) when it is built; rebuild it after changing a
    member. Gradients reach the states and actions, not the members' weights.

    Args:
        fields: the members' fields (HybridDynamics with equal parameter names and shapes).

    Raises:
        ConfigError: fewer than two fields, a field that is not a HybridDynamics, or fields
            whose parameters differ in names or shapes.
    """

    def __init__(self, fields: Sequence[HybridDynamics]) -> None:
        if len(fields) < 2 or not all(type(f) is HybridDynamics for f in fields):
            raise ConfigError(
                f"Stacking needs at least 2 HybridDynamics fields. Got "
                f"{[type(f).__name__ for f in fields]}."
            )
        shapes = [{k: tuple(v.shape) for k, v in f.state_dict().items()} for f in fields]
        if any(s != shapes[0] for s in shapes[1:]):
            raise ConfigError(
                "The members' vector fields differ in their parameters' names or shapes, so "
                "they cannot be stacked; give every member the same architecture."
            )
        f0 = fields[0]
        columns = [
            None if f.residual_columns is None else f.residual_columns.tolist() for f in fields
        ]
        if any(c != columns[0] for c in columns[1:]):
            raise ConfigError(
                f"The members' residuals read different inputs (columns {columns}), so they "
                f"cannot be stacked; give every member the same residual_inputs."
            )
        super().__init__(
            f0.state_names, f0.action_names, f0.physics, f0.residual, f0.normalizer,
            angles=f0.embedding.angles, gate=f0.gate, residual_columns=f0.residual_columns,
        )  # fmt: skip
        self.n_members = len(fields)
        self.members = list(fields)
        self.shared_physics = f0.physics is None or all(
            _equal_modules(f0.physics, f.physics) for f in fields[1:]
        )
        self.coefficients = None if self.shared_physics else _coefficient_stack(fields)
        norms = [f.normalizer for f in fields]
        self.stacked = {
            n: torch.stack([getattr(x, n) for x in norms])[:, None].detach() for n in _NORMALIZER
        }
        self.gates: dict[str, torch.Tensor] | None = None
        if f0.gate is not None:
            gates = [f.gate for f in fields]
            self.gates = {
                k: torch.stack([getattr(g, k) for g in gates]).detach()
                for k in ("anchors", "cover", "width")
            }
            for k in ("cover", "width"):
                self.gates[k] = self.gates[k][:, None, None]
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | nn.Module] = []
        if f0.residual is not None:
            nets = [f.residual.net for f in fields]  # type: ignore[union-attr]
            for i, layer in enumerate(nets[0]):
                if isinstance(layer, nn.Linear):
                    w = torch.stack([net[i].weight.detach().transpose(0, 1) for net in nets])
                    b = torch.stack([net[i].bias.detach() for net in nets])[:, None]
                    self.layers.append((w, b))
                else:
                    self.layers.append(layer)

    def _physics(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """f_phys (M, batch, n_x) of (M, batch, n_x) states."""
        if self.shared_physics:
            flat = self.physics_term(x.reshape(-1, x.shape[-1]), u.reshape(-1, u.shape[-1]))
            return flat.reshape(x.shape)
        if self.coefficients is not None:
            feats, coef = self.physics.features, self.coefficients  # type: ignore[union-attr]

            def batched(xp: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
                return torch.bmm(feats(xp, up), coef)

            return self.physics_term(x, u, batched)
        return torch.stack(
            [f.physics_term(xm, um) for f, xm, um in zip(self.members, x, u, strict=True)]
        )

    def _residual(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """f_nn (M, batch, n_x) in physical units of (M, batch, n_x) states."""
        s = self.stacked
        z = self.embedding(x, (x - s["x_mean"]) / s["x_std"])
        if self.n_u:
            z = torch.cat((z, (u - s["u_mean"]) / s["u_std"]), -1)
        z = self.select_inputs(z)
        g = self.gates
        gate = None
        if g is not None and self.gate is not None:
            gate = gate_value(self.gate.select(z), g["anchors"], g["cover"], g["width"])
        for layer in self.layers:
            z = torch.baddbmm(layer[1], z, layer[0]) if isinstance(layer, tuple) else layer(z)
        return z * s["dx_scale"] if gate is None else z * gate * s["dx_scale"]

    def vector_field(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """dx/dt of (M·batch, n_x) states under (M·batch, n_u) actions, rows grouped by
        member; returns (M·batch, n_x)."""
        m = self.n_members
        xm, um = x.reshape(m, -1, x.shape[-1]), u.reshape(m, -1, u.shape[-1])
        out = self._physics(xm, um) if self.physics is not None else 0.0
        if self.residual is not None:
            out = out + self._residual(xm, um)
        return out.reshape(x.shape)  # type: ignore[union-attr]


def stackable(models: Sequence[ODEModel]) -> bool:
    """Whether the members can be rolled out in one pass: fully observed (their rollout is the
    integrated state), HybridDynamics fields and one solver setting."""
    first = models[0]
    settings = (first.solver, first.substeps, first.rtol, first.atol, first.intersample)
    return all(
        type(m.dynamics) is HybridDynamics
        and m.fully_observed
        and (m.solver, m.substeps, m.rtol, m.atol, m.intersample) == settings
        for m in models
    )


def stacked_rollout(
    field: StackedDynamics,
    model: ODEModel,
    x0: torch.Tensor,
    us: torch.Tensor,
    t: torch.Tensor,
    solver: str | None = None,
) -> torch.Tensor:
    """Every member's open-loop rollout from the same initial states, in one solver run.

    Args:
        field: the members' stacked fields.
        model: one member (its solver settings are every member's).
        x0: (batch, n_x) initial states.
        us: (batch, T, n_u) actions ((batch, T+1, n_u) with the one at ``t[T]``).
        t: (T+1,) or (batch, T+1) times.
        solver: solver override.

    Returns:
        (M, batch, T+1, n_x) rollouts; ``[m]`` is member ``m``'s.
    """
    m, b = field.n_members, x0.shape[0]
    t_all = t.repeat(m, 1) if t.ndim == 2 else t
    xs = integrate(
        field,
        x0.repeat(m, 1),
        us.repeat(m, 1, 1),
        t_all,
        solver=solver or model.solver,
        substeps=model.substeps,
        rtol=model.rtol,
        atol=model.atol,
        intersample=model.intersample,
    )
    return xs.reshape(m, b, *xs.shape[1:])
