"""Small closed-form physics fields with the ``PhysicsModel.vector_field()`` interface.

They serve as exact test systems (a linear field has a matrix-exponential solution) and as
examples of what a physics module passed to a hybrid model must provide: ``forward(x, u)``
mapping (..., n_x), (..., n_u) to dx/dt (..., n_x), and ``state_names`` / ``action_names``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hybridwm.data.trajectory import Trajectory, TrajectorySet

__all__ = ["LinearPhysics", "PendulumPhysics", "reference_dataset"]


def _param(value, trainable: bool, dtype: torch.dtype) -> torch.Tensor:
    # a copy: training a trainable field must never write into the caller's array
    t = torch.tensor(np.asarray(value, dtype=np.float64), dtype=dtype)
    return nn.Parameter(t) if trainable else t


class LinearPhysics(nn.Module):
    """``dx/dt = A x + B u``.

    Args:
        A: (n_x, n_x) state matrix.
        B: (n_x, n_u) input matrix (n_u may be 0).
        state_names: ``n_x`` names (default ``x0, x1, ...``).
        action_names: ``n_u`` names (default ``u0, ...``).
        trainable: make ``A`` and ``B`` parameters (else buffers).
        dtype: floating dtype of the coefficients.
    """

    def __init__(
        self,
        A: np.ndarray,
        B: np.ndarray,
        state_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        *,
        trainable: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        B = np.asarray(B, dtype=np.float64).reshape(A.shape[0], -1)
        self.state_names = tuple(state_names or [f"x{i}" for i in range(A.shape[0])])
        self.action_names = tuple(action_names or [f"u{i}" for i in range(B.shape[1])])
        if trainable:
            self.A = _param(A, True, dtype)
            self.B = _param(B, True, dtype)
        else:
            self.register_buffer("A", _param(A, False, dtype))
            self.register_buffer("B", _param(B, False, dtype))

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """x (..., n_x), u (..., n_u) → dx/dt (..., n_x)."""
        dx = x @ self.A.T
        if self.B.shape[1]:
            dx = dx + u @ self.B.T
        return dx


class PendulumPhysics(nn.Module):
    """Torque-driven pendulum ``dθ/dt = ω``, ``dω/dt = -w0² sin θ - c ω + g τ``.

    Args:
        w0: natural frequency (rad/s).
        damping: viscous damping rate ``c`` (1/s).
        gain: torque gain ``g`` (1 / (kg m²)).
        trainable: make the three coefficients parameters (else buffers).
        dtype: floating dtype of the coefficients.

    States ``("theta", "omega")``, action ``("torque",)``.
    """

    state_names = ("theta", "omega")
    action_names = ("torque",)

    def __init__(
        self,
        w0: float = 3.0,
        damping: float = 0.0,
        gain: float = 1.0,
        *,
        trainable: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        for name, v in (("w0sq", w0**2), ("damping", damping), ("gain", gain)):
            if trainable:
                setattr(self, name, _param(v, True, dtype))
            else:
                self.register_buffer(name, _param(v, False, dtype))

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """x (..., 2), u (..., 1) → dx/dt (..., 2)."""
        theta, omega = x[..., 0], x[..., 1]
        domega = -self.w0sq * torch.sin(theta) - self.damping * omega + self.gain * u[..., 0]
        return torch.stack((omega, domega), -1)


def reference_dataset(
    physics: nn.Module,
    n_trajectories: int = 8,
    n_steps: int = 100,
    dt: float = 0.02,
    *,
    x_scale: float | Sequence[float] = 1.0,
    u_scale: float | Sequence[float] = 1.0,
    hold: int = 5,
    substeps: int = 4,
    seed: int = 0,
) -> TrajectorySet:
    """Episodes of a closed-form field under random held actions (an exact, MuJoCo-free set).

    Args:
        physics: a module with ``forward(x, u)``, ``state_names``, ``action_names``.
        n_trajectories: number of episodes.
        n_steps: T; each episode has T+1 samples.
        dt: sample interval.
        x_scale: initial states are uniform in ``[-x_scale, x_scale]`` (per state or scalar).
        u_scale: actions are uniform in ``[-u_scale, u_scale]``, each held ``hold`` samples.
        hold: samples per action value.
        substeps: rk4 sub-steps per sample interval.
        seed: random seed.

    Returns:
        A TrajectorySet with the physics' state and action names.
    """
    from hybridwm.dynamics.fields import HybridDynamics
    from hybridwm.dynamics.integrate import integrate

    rng = np.random.default_rng(seed)
    names, anames = tuple(physics.state_names), tuple(physics.action_names)
    n_x, n_u = len(names), len(anames)
    x0 = rng.uniform(-1, 1, (n_trajectories, n_x)) * np.asarray(x_scale, dtype=np.float64)
    blocks = -(-(n_steps + 1) // hold)
    u = rng.uniform(-1, 1, (n_trajectories, blocks, n_u)) * np.asarray(u_scale, dtype=np.float64)
    u = np.repeat(u, hold, axis=1)[:, : n_steps + 1]
    t = np.arange(n_steps + 1) * dt
    field = HybridDynamics(names, anames, physics, None)
    with torch.no_grad():
        x = integrate(
            field,
            torch.as_tensor(x0, dtype=torch.float64),
            torch.as_tensor(u[:, :n_steps], dtype=torch.float64),
            torch.as_tensor(t, dtype=torch.float64),
            substeps=substeps,
        ).numpy()
    return TrajectorySet(
        Trajectory(t, x[i], u[i], names, anames, {"system": type(physics).__name__, "seed": seed})
        for i in range(n_trajectories)
    )
