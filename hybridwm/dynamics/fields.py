"""Vector fields: learned (MLP), physics, and their hybrid sum, with per-state normalization.

Every dynamics object here is an ``nn.Module`` with torchdiffeq's contract ``forward(t, x)``;
the actions are a zero-order-hold signal (:class:`~hybridwm.dynamics.actions.HeldActions`) that
the field closes over while it is integrated. The time-independent part, ``vector_field(x, u)``,
is what losses evaluate at collocation points.

Units: the state ``x`` and the derivative ``dx/dt`` are always in physical units at the module
boundary. The physics term works in physical units; the neural network sees normalized inputs
``(x - x_mean) / x_std`` and ``(u - u_mean) / u_std`` and predicts in normalized derivative units,
which :class:`Normalizer` scales back with ``dx_scale``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import AfterValidator, Field, field_validator
from torch import nn

from hybridwm.config import Config
from hybridwm.data.names import NamedSignals
from hybridwm.dynamics.actions import HeldActions
from hybridwm.dynamics.support import SupportGate
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.registry import Registry

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "AngleEmbedding",
    "Dynamics",
    "HybridDynamics",
    "MLPField",
    "Normalizer",
]

#: elements from which :class:`Tanh` computes ``2 sigmoid(2x) - 1`` outside autograd: float64
#: from 2048 (measured on 2 CPU cores, one thread: 9.2 against 11.1 us at 2048 elements, 13.7
#: against 26.9 at 5120, 6.0 against 7.7 the other way at 1024), other dtypes from 8192 (float32:
#: 11.8 against 11.5 at 4096, 14.0 against 21.8 at 8192)
FAST_TANH_MIN = 8192
FAST_TANH_MIN_FLOAT64 = 2048


class Tanh(nn.Tanh):
    """``nn.Tanh`` that evaluates large batches outside autograd as ``2 sigmoid(2x) - 1``.

    On the CPU builds of torch measured here, ``torch.tanh`` is not vectorized the way
    ``torch.sigmoid`` is: on a (1000, 64) batch it took 280-320 us against 60-100 us for the
    identity's three kernels (float32; float64 520 against 200), and a planner's rollouts are
    such batches (``benchmarks/bench_planner.py``). The identity agrees with ``torch.tanh`` to
    3.3e-16 (float64) and 1.8e-7 (float32) in absolute terms over [-30, 30]. Inputs that
    autograd tracks (training) and small batches (where three kernels cost more than one) use
    ``torch.tanh``, so training is unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Elementwise tanh of ``x`` (any shape)."""
        least = FAST_TANH_MIN_FLOAT64 if x.dtype == torch.float64 else FAST_TANH_MIN
        if x.numel() >= least and not (torch.is_grad_enabled() and x.requires_grad):
            return torch.sigmoid(x * 2).mul_(2).sub_(1)
        return torch.tanh(x)


ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation", "activation")
for _name, _cls in {
    "tanh": Tanh,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}.items():
    ACTIVATIONS.register(_name, _cls)


class MLP(Config):
    """Architecture of a multilayer perceptron, stored until the data fix its sizes.

    Args:
        hidden: widths of the hidden layers, e.g. ``(64, 64)``; each an integer > 0.
        activation: name in :data:`ACTIVATIONS` (``"tanh"``, ``"silu"``, ``"softplus"``, ...).
        init_scale: factor (>= 0) on the default initialization of the output layer. The
            default 0 starts the output layer at zero, so a hybrid's residual outputs exactly
            zero at initialization: epoch 0 of a hybrid is its physics-only model, and early
            stopping (which keeps the best epoch, 0 included) never returns a hybrid worse than
            its physics on the validation data. The hidden layers keep their random
            initialization, so the gradient reaches them from the second step on.
    """

    hidden: tuple[Annotated[int, Field(gt=0)], ...] = (64, 64)
    activation: Annotated[str, AfterValidator(ACTIVATIONS.check)] = "tanh"
    init_scale: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @field_validator("hidden", mode="before")
    @classmethod
    def _widths_are_a_sequence(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            raise ConfigError(
                f"MLP.hidden must be a sequence of layer widths, e.g. ({value},) for one hidden "
                f"layer or (64, 64) for two. Got {value!r}."
            )
        return value

    def build(self, n_in: int, n_out: int) -> MLPField:
        """An :class:`MLPField` with ``n_in`` inputs and ``n_out`` outputs."""
        return MLPField(n_in, n_out, self.hidden, self.activation, self.init_scale)


class MLPField(nn.Module):
    """A plain MLP ``y = W_L σ(... σ(W_1 z + b_1) ...) + b_L`` on concatenated inputs.

    Args:
        n_in: number of input features (``n_x + n_u`` for a vector field).
        n_out: number of outputs.
        hidden: hidden layer widths.
        activation: activation name (see :data:`ACTIVATIONS`).
        init_scale: factor on the output layer's default initial weights; its bias starts at 0.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        out = nn.Linear(width, n_out)
        with torch.no_grad():
            out.weight.mul_(init_scale)
            out.bias.zero_()
        layers.append(out)
        self.net = nn.Sequential(*layers)
        self.n_in = n_in
        self.n_out = n_out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(..., n_in) → (..., n_out)."""
        return self.net(z)


def _std_floor(std: np.ndarray) -> np.ndarray:
    """Replace zero or non-finite spreads by 1 so that a constant column does not divide by 0."""
    std = np.asarray(std, dtype=np.float64)
    return np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)


class Normalizer(nn.Module):
    """Per-column location/scale of states, actions and state derivatives (torch buffers).

    Buffers (all 1-D): ``x_mean``, ``x_std``, ``x_min``, ``x_max`` (n_x); ``u_mean``, ``u_std``,
    ``u_min``, ``u_max`` (n_u); ``dx_scale`` (n_x), the spread of dx/dt. They are saved with the
    model's weights. Unfitted, the normalizer is the identity.
    """

    def __init__(self, n_x: int, n_u: int) -> None:
        super().__init__()
        for name, n, fill in (
            ("x_mean", n_x, 0.0),
            ("x_std", n_x, 1.0),
            ("x_min", n_x, -1.0),
            ("x_max", n_x, 1.0),
            ("u_mean", n_u, 0.0),
            ("u_std", n_u, 1.0),
            ("u_min", n_u, -1.0),
            ("u_max", n_u, 1.0),
            ("dx_scale", n_x, 1.0),
        ):
            self.register_buffer(name, torch.full((n,), fill, dtype=torch.float64))
        self.n_x = n_x
        self.n_u = n_u

    @torch.no_grad()
    def set(self, **values: np.ndarray | Sequence[float] | torch.Tensor) -> Normalizer:
        """Set some buffers from arrays (zero/non-finite spreads are replaced by 1)."""
        for name, value in values.items():
            buf = getattr(self, name)
            arr = np.asarray(
                value.detach().cpu() if isinstance(value, torch.Tensor) else value, np.float64
            )
            if name in ("x_std", "u_std", "dx_scale"):
                arr = _std_floor(arr)
            if arr.shape != tuple(buf.shape):
                raise ShapeError(
                    f"Normalizer.{name} needs shape {tuple(buf.shape)}; got {arr.shape}."
                )
            buf.copy_(torch.as_tensor(arr, dtype=buf.dtype))
        return self

    def normalize_x(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_x) physical → normalized states."""
        return (x - self.x_mean) / self.x_std

    def normalize_u(self, u: torch.Tensor) -> torch.Tensor:
        """(..., n_u) physical → normalized actions."""
        return (u - self.u_mean) / self.u_std


class AngleEmbedding(nn.Module):
    """The periodic input embedding of angle states for learned networks.

    Non-angle coordinates pass through (normalized, as given); each angle ``θ`` is replaced by
    ``(sin θ, cos θ)`` computed from the raw angle in radians. Output columns: the non-angle
    coordinates in state order, then ``sin`` of every angle, then ``cos`` of every angle.

    Args:
        state_names: the ``n_x`` state coordinates.
        angles: the names among them that are angles (radians).
    """

    def __init__(self, state_names: Sequence[str], angles: Sequence[str] = ()) -> None:
        super().__init__()
        names = tuple(state_names)
        unknown = [a for a in angles if a not in names]
        if unknown:
            raise ShapeError(
                f"Angles {unknown} are not states {list(names)}; name angle states that exist."
            )
        self.angles: tuple[str, ...] = tuple(n for n in names if n in set(angles))
        ang = [names.index(n) for n in self.angles]
        lin = [i for i in range(len(names)) if i not in ang]
        self.register_buffer("angle_index", torch.tensor(ang, dtype=torch.long), False)
        self.register_buffer("linear_index", torch.tensor(lin, dtype=torch.long), False)
        self.n_in = len(names)
        self.n_out = len(names) + len(ang)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Embed: raw states ``x`` (..., n_x) and their normalized form ``z`` (..., n_x) →
        (..., n_out)."""
        if not self.angles:
            return z
        a = x.index_select(-1, self.angle_index)
        return torch.cat((z.index_select(-1, self.linear_index), torch.sin(a), torch.cos(a)), -1)


class Dynamics(nn.Module, NamedSignals):
    """Base class: a controlled vector field ``dx/dt = f(x, u(t))`` in torchdiffeq's form.

    Subclasses implement :meth:`vector_field`. ``forward(t, x)`` looks the held action up in
    :attr:`actions` (set by :meth:`hold` or by :func:`~hybridwm.dynamics.integrate`).

    Attributes:
        state_names: names of the ``n_x`` state coordinates the field evolves.
        action_names: names of the ``n_u`` action inputs.
        actions: the :class:`HeldActions` currently held, or ``None``.
    """

    def __init__(self, state_names: Sequence[str], action_names: Sequence[str]) -> None:
        super().__init__()
        self.state_names = tuple(state_names)
        self.action_names = tuple(action_names)
        self.actions: HeldActions | None = None

    def vector_field(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """dx/dt at states ``x`` (..., n_x) under actions ``u`` (..., n_u); returns (..., n_x)."""
        raise NotImplementedError

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """torchdiffeq's contract: dx/dt (batch, n_x) at time ``t`` (0-d) and state ``x``.

        torchdiffeq's ``perturb`` option is applied by its own wrapper (it nudges ``t`` with
        ``nextafter`` before calling this method), so the held action switches exactly at the
        sample times when integrating on the sample grid with ``perturb=True``.
        """
        actions = self.actions
        if actions is None:
            raise RuntimeError(
                "This vector field holds no actions. Integrate it with "
                "hybridwm.dynamics.integrate(field, x0, us, t) or wrap the call in "
                "`with field.hold(HeldActions(us, t)):`."
            )
        return self.vector_field(x, actions(t))

    @contextlib.contextmanager
    def hold(self, actions: HeldActions) -> Iterator[Dynamics]:
        """Context manager that holds ``actions`` while the field is integrated."""
        previous = self.actions
        self.actions = actions
        try:
            yield self
        finally:
            self.actions = previous


class HybridDynamics(Dynamics):
    """``dx/dt = f_phys(x, u) + f_nn(x, u)``; either part may be absent.

    With ``residual=None`` this is the physics-only model; with ``physics=None`` it is a purely
    learned neural ODE. The physics module acts on the coordinates it is declared over, looked up
    by name in ``state_names`` (and on its actions, by name); coordinates it does not mention
    (extra latent states) get only the learned term.

    Args:
        state_names: the model's state coordinates (observed, unobserved and latent).
        action_names: the action inputs.
        physics: a module whose ``forward(x, u)`` maps (..., n_phys_x), (..., n_phys_u) to
            dx/dt (..., n_phys_x), with attributes ``state_names`` and ``action_names``
            (e.g. ``PhysicsModel.vector_field()``), or ``None``.
        residual: an :class:`MLPField` with ``n_embed + n_u`` inputs (see :attr:`n_embed`; as
            many as ``residual_columns`` when given) and
            ``n_x`` outputs working in normalized units, or ``None``.
        normalizer: the :class:`Normalizer` of states, actions and derivatives.
        angles: names of the angle states. The residual sees each of them through the periodic
            embedding ``(sin θ, cos θ)`` instead of ``θ`` itself, so it is 2π-periodic in the
            angle and never meets an input outside the range it was trained on, however far
            an angle winds up (e.g. ±9 rad on a spinning pendulum). Default: none.
        gate: a :class:`~hybridwm.dynamics.support.SupportGate` that multiplies the residual,
            closing it off the training data (a hybrid then falls back to its physics there),
            or ``None`` (default): the residual acts everywhere.
        residual_columns: the positions, in the full input vector (``n_embed + n_u``: the
            embedded states, then the actions), of the inputs the residual reads, or ``None``
            (default): all of them. A residual that reads only the velocities and actions
            (a friction, a drag, an actuator effect) is a function of those alone, so it keeps
            acting, and its gate stays open, at configurations the data never reached.
    """

    def __init__(
        self,
        state_names: Sequence[str],
        action_names: Sequence[str],
        physics: nn.Module | None,
        residual: MLPField | None,
        normalizer: Normalizer | None = None,
        *,
        angles: Sequence[str] = (),
        gate: SupportGate | None = None,
        residual_columns: Sequence[int] | None = None,
    ) -> None:
        super().__init__(state_names, action_names)
        if physics is None and residual is None:
            raise ConfigError("A HybridDynamics needs a physics module, a residual, or both.")
        if gate is not None and residual is None:
            raise ConfigError("A support gate needs a residual to gate; got residual=None.")
        self.physics = physics
        self.residual = residual
        self.gate = gate
        self.normalizer = normalizer or Normalizer(self.n_x, self.n_u)
        self.embedding = AngleEmbedding(self.state_names, angles)
        n_full = self.embedding.n_out + self.n_u
        self.register_buffer("residual_columns", None, persistent=False)
        if residual_columns is not None:
            cols = sorted(set(int(c) for c in residual_columns))
            if not cols or cols[0] < 0 or cols[-1] >= n_full:
                raise ShapeError(
                    f"`residual_columns` must be positions in the residual's {n_full} full "
                    f"inputs (the embedded states, then the actions), at least one; got "
                    f"{list(residual_columns)}."
                )
            self.residual_columns = torch.tensor(cols)
        n_in = n_full if self.residual_columns is None else len(self.residual_columns)
        if residual is not None and getattr(residual, "n_in", None) not in (None, n_in):
            raise ShapeError(
                f"The residual takes {residual.n_in} inputs, but states {list(self.state_names)} "
                f"with angles {list(self.embedding.angles)} embed to {self.embedding.n_out} "
                f"columns plus {self.n_u} actions = {n_full}, of which it reads {n_in}."
            )
        self._phys_x: torch.Tensor | None = None
        self._phys_u: torch.Tensor | None = None
        if physics is not None:
            px = tuple(getattr(physics, "state_names", self.state_names))
            pu = tuple(getattr(physics, "action_names", self.action_names))
            missing_x = [n for n in px if n not in self.state_names]
            missing_u = [n for n in pu if n not in self.action_names]
            if missing_x or missing_u:
                raise ShapeError(
                    f"The physics is declared over states {list(px)} and actions {list(pu)}, "
                    f"but the model has states {list(self.state_names)} and actions "
                    f"{list(self.action_names)}; missing states {missing_x}, actions "
                    f"{missing_u}. Rename the data columns or the physics variables so they match."
                )
            self._phys_x = self._subset_index("phys_x_index", px, self.state_names)
            self._phys_u = self._subset_index("phys_u_index", pu, self.action_names)

    def _subset_index(
        self, buffer: str, subset: tuple[str, ...], names: tuple[str, ...]
    ) -> torch.Tensor | None:
        """Register the positions of ``subset`` in ``names`` as the (len(subset),) buffer
        ``buffer`` and return it; ``None`` (no buffer) when the two name lists are equal."""
        if subset == names:
            return None
        index = torch.tensor([names.index(n) for n in subset], dtype=torch.long)
        self.register_buffer(buffer, index, persistent=False)
        return getattr(self, buffer)

    @property
    def observation_names(self) -> tuple[str, ...]:
        """Names of the physics' observation equations ``y = h(x, p)`` (empty if none)."""
        if self.physics is None:
            return ()
        return tuple(getattr(self.physics, "observation_names", ()) or ())

    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """The physics' observation equations at full states ``x`` (..., n_x) → (..., n_y)."""
        if not self.observation_names:
            return x[..., :0]
        xp = x if self._phys_x is None else x.index_select(-1, self._phys_x)
        return self.physics.observe(xp)  # type: ignore[union-attr]

    @property
    def has_physics(self) -> bool:
        """True if a physics term is present."""
        return self.physics is not None

    @property
    def has_residual(self) -> bool:
        """True if a learned term is present."""
        return self.residual is not None

    def _apply(self, fn, recurse=True):  # keep the cached index views in sync after .to()
        out = super()._apply(fn, recurse)
        if self._phys_x is not None:
            self._phys_x = self.phys_x_index
        if self._phys_u is not None:
            self._phys_u = self.phys_u_index
        return out

    def physics_term(self, x: torch.Tensor, u: torch.Tensor, physics: Any = None) -> torch.Tensor:
        """f_phys (..., n_x) in physical units; zero where the physics declares no equation.
        ``physics``: a callable used in place of the physics module on its states and actions
        (an ensemble's batched coefficients, :mod:`hybridwm.models.stacking`)."""
        if self.physics is None:
            return torch.zeros_like(x)
        physics = self.physics if physics is None else physics
        if self._phys_x is None and self._phys_u is None:
            return physics(x, u)
        xp = x if self._phys_x is None else x.index_select(-1, self._phys_x)
        up = u if self._phys_u is None else u.index_select(-1, self._phys_u)
        fp = physics(xp, up)
        if self._phys_x is None:
            return fp
        out = torch.zeros_like(x)
        return out.index_copy(-1, self._phys_x, fp)

    def residual_inputs(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The residual's inputs (..., n_in): normalized states with angles as
        ``(sin θ, cos θ)``, then normalized actions (n_in = n_embed + n_u), or the
        ``residual_columns`` of them."""
        norm = self.normalizer
        zx = self.embedding(x, (x - norm.x_mean) / norm.x_std)
        z = torch.cat((zx, (u - norm.u_mean) / norm.u_std), -1) if self.n_u else zx
        return self.select_inputs(z)

    def select_inputs(self, z: torch.Tensor) -> torch.Tensor:
        """The columns (..., n_in) the residual reads of full inputs ``z`` (..., n_embed +
        n_u); ``z`` itself when it reads them all."""
        cols = self.residual_columns
        return z if cols is None else z.index_select(-1, cols)

    def residual_normalized(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """f_nn (..., n_x) in normalized derivative units (divided by ``dx_scale``), times the
        support gate when there is one."""
        if self.residual is None:
            return torch.zeros_like(x)
        z = self.residual_inputs(x, u)
        out = self.residual(z)
        return out if self.gate is None else out * self.gate(z)

    @property
    def n_embed(self) -> int:
        """Width of the residual's state input: ``n_x`` plus one per angle state."""
        return self.embedding.n_out

    def residual_term(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """f_nn (..., n_x) in physical units."""
        if self.residual is None:
            return torch.zeros_like(x)
        return self.residual_normalized(x, u) * self.normalizer.dx_scale

    def vector_field(self, x: torch.Tensor, u: torch.Tensor, physics: Any = None) -> torch.Tensor:
        """dx/dt = f_phys(x, u) + f_nn(x, u); x (..., n_x), u (..., n_u) → (..., n_x).
        ``physics``: a callable used in place of the physics module (see
        :meth:`physics_term`)."""
        if self.residual is None:
            return self.physics_term(x, u, physics)
        if self.physics is None:
            return self.residual_term(x, u)
        return self.physics_term(x, u, physics) + self.residual_term(x, u)
