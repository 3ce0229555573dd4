"""A planner's rollouts with each control period's solve compiled by ``torch.compile``.

An MPPI step of 1,000 samples over 50 periods makes 200 calls of the vector field (RK4), each
some 60 small tensor operations (normalization, angle embedding, the residual MLP, the support
gate, the physics features). On CPU most of the time then goes to launching them, not to the
arithmetic: a 32x32 residual plans barely faster than a 64x64 one. Compiling one control period
(its ``substeps`` solver steps, every stage) with inductor fuses those operations into a few
loops: measured on the pendulum hybrid (``benchmarks/bench_planner.py --compile``,
``benchmarks/RESULTS.md``, session 11).

What is compiled is the model's own fixed-step solve: the same stage arithmetic
(:func:`~hybridwm.dynamics.integrate.fixed_step`) on the same sub-step sizes
(:func:`~hybridwm.dynamics.integrate.step_sizes`), and the same field with its physics frozen
at its current values (:meth:`~hybridwm.physics.torch_field.PhysicsVectorField.frozen`), so the
states agree with :meth:`WorldModel.rollout` to round-off (the compiler may reorder sums). The
first call of a batch shape compiles (seconds to tens of seconds; inductor caches the result on
disk for later processes); a new shape compiles again. On a CUDA device the compiled period
is captured as a CUDA graph (``mode="reduce-overhead"``): there the cost of an uncompiled
rollout is almost all kernel launches.
"""

from __future__ import annotations

from typing import Any

import torch

from hybridwm.dynamics.integrate import SOLVERS, fixed_step, step_sizes
from hybridwm.errors import ConfigError
from hybridwm.models.building import dtype_device

__all__ = ["CompiledSolve"]


class CompiledSolve:
    """``solve(x0, us, dt) -> xs``: a fitted, fully observed model's open-loop states with each
    control period compiled.

    Args:
        ode: the model's :class:`~hybridwm.dynamics.model.ODEModel` (``WorldModel.model_``), in
            the dtype and on the device to plan in; its solver must be fixed-step without the
            adjoint.

    The physics is frozen at its values when the solve is built (the residual network's weights
    are read at every call): after refitting or adapting the model, build a new one
    (``make_rollout(..., compile=True)``).

    Raises:
        ConfigError: an adaptive solver, the adjoint, or a model that interpolates its actions
            (``intersample`` other than ``"zoh"``; a compiled rollout holds each period's action).
    """

    def __init__(self, ode: Any) -> None:
        spec = SOLVERS[ode.solver]
        if spec.adaptive or ode.adjoint:
            raise ConfigError(
                f"A compiled rollout needs a fixed-step solver without the adjoint (rk4, "
                f"midpoint, euler); this model uses {ode.solver!r}"
                f"{' with the adjoint' if ode.adjoint else ''}. Plan without compile=True."
            )
        if getattr(ode, "intersample", "zoh") != "zoh":
            raise ConfigError(
                f"A compiled rollout holds each control period's action, but this model "
                f"interpolates its actions between samples (intersample={ode.intersample!r}). "
                f"Plan without compile=True, or fit the model with intersample='zoh' for control."
            )
        self.ode = ode
        self.substeps = int(ode.substeps)
        dyn = ode.dynamics
        physics = getattr(dyn, "physics", None)
        frozen = physics.frozen() if callable(getattr(physics, "frozen", None)) else None
        stage = fixed_step(ode.solver)
        field = dyn.vector_field

        def period(y: torch.Tensor, u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            def g(x: torch.Tensor) -> torch.Tensor:
                return field(x, u) if frozen is None else field(x, u, frozen)

            for j in range(h.shape[0]):
                y = y + stage(g, y, h[j])
            return y

        # on a GPU the many small kernels cost their launches: CUDA graphs replay them at once
        self.cuda_graphs = dtype_device(ode)[1].type == "cuda"
        mode = "reduce-overhead" if self.cuda_graphs else None
        self._period = torch.compile(period, dynamic=False, mode=mode)

    def __call__(self, x0: torch.Tensor, us: torch.Tensor, dt: float) -> torch.Tensor:
        """(K, n_x) states, (K, H, n_u) actions held ``dt`` each → (K, H+1, n_x) states."""
        dtype, device = x0.dtype, x0.device
        t = float(dt) * torch.arange(us.shape[1] + 1, dtype=dtype, device=device)
        h = step_sizes(t, self.substeps).reshape(us.shape[1], self.substeps)
        y, xs = x0, [x0]
        with torch.inference_mode():
            for k in range(us.shape[1]):
                y = self._period(y, us[:, k], h[k])
                if self.cuda_graphs:  # the next replay reuses the graph's output memory
                    y = y.clone()
                xs.append(y)
            return self.ode.decode(torch.stack(xs, 1))
