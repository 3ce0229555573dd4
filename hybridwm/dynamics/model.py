"""ODEModel: dynamics + (optional) encoder/decoder, the torch module that is trained and saved.

Fully observed data (the observed names are exactly the model's state names) build no encoder
and pay nothing for it: the initial state is the first observation and decoding is the identity.
Partially observed data (observed names ⊂ model state names, or extra latent coordinates) get an
:class:`~hybridwm.dynamics.latent.Encoder` for the unobserved initial values and a decoder that
selects the observed coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hybridwm.dynamics.fields import HybridDynamics
from hybridwm.dynamics.integrate import integrate
from hybridwm.dynamics.latent import Encoder
from hybridwm.errors import ShapeError

__all__ = ["ODEModel"]

#: the solver settings an ODEModel stores and passes to :func:`integrate`
_SOLVER_SETTINGS = ("solver", "substeps", "rtol", "atol", "adjoint", "intersample")


class ODEModel(nn.Module):
    """A controlled neural/hybrid ODE with an observation model.

    The measured columns (``observed_names``) are of two kinds: model states measured directly
    (their name is a state name), and outputs of the physics' observation equations
    ``y = h(x, p)`` (e.g. a sensor with an offset, ``theta_meas = theta + offset``), when the
    physics declares them. Every state that is not measured directly is *hidden*: its initial
    value comes from the encoder (or is given, see :meth:`initial_state`).

    Args:
        dynamics: the vector field over the full model state.
        observed_names: names of the measured columns: states and/or observation-equation
            outputs of ``dynamics.physics`` (default: all states).
        encoder: an :class:`Encoder` giving the hidden initial coordinates, required when some
            coordinates are hidden.
        solver: default solver name; ``substeps``, ``rtol``, ``atol``, ``adjoint`` likewise.
        intersample: the actions between samples, ``"zoh"`` (held) or ``"foh"`` (linear); see
            :func:`~hybridwm.dynamics.integrate`.
    """

    def __init__(
        self,
        dynamics: HybridDynamics,
        observed_names: Sequence[str] | None = None,
        encoder: Encoder | None = None,
        *,
        solver: str = "rk4",
        substeps: int = 1,
        rtol: float = 1e-7,
        atol: float = 1e-9,
        adjoint: bool = False,
        intersample: str = "zoh",
    ) -> None:
        super().__init__()
        self.dynamics = dynamics
        names = tuple(dynamics.state_names)
        eqs = tuple(getattr(dynamics, "observation_names", ()))
        obs = names if observed_names is None else tuple(observed_names)
        unknown = [n for n in obs if n not in names and n not in eqs]
        if unknown:
            more = f" or observation equations {list(eqs)}" if eqs else ""
            raise ShapeError(
                f"Observed coordinates {unknown} are not model states {list(names)}{more}; the "
                f"model's state names must include every measured column (or declare an "
                f"observation equation for it)."
            )
        self.observed_names = obs
        self.equation_names = tuple(n for n in obs if n in eqs)
        direct = tuple(n for n in obs if n not in eqs)
        self.direct_names = direct
        self.hidden_names = tuple(n for n in names if n not in direct)
        self.fully_observed = obs == names
        if self.hidden_names and encoder is None:
            raise ShapeError(
                f"States {list(self.hidden_names)} are not observed, so an Encoder is needed to "
                f"give their initial values."
            )
        self.encoder = encoder if self.hidden_names else None
        dir_idx = [names.index(n) for n in direct]
        hid_idx = [names.index(n) for n in self.hidden_names]
        # full = cat(direct, hidden)[:, perm] puts every coordinate at its place.
        order = dir_idx + hid_idx
        perm = [order.index(i) for i in range(len(names))]
        self.register_buffer("obs_index", torch.tensor(dir_idx, dtype=torch.long), False)
        self.register_buffer(
            "direct_columns", torch.tensor([obs.index(n) for n in direct], dtype=torch.long), False
        )
        self.register_buffer("perm", torch.tensor(perm, dtype=torch.long), False)
        # decode: cat(direct states, equation outputs)[:, obs_perm] gives the observed order
        eq_pos = [eqs.index(n) for n in self.equation_names]
        self.register_buffer("eq_index", torch.tensor(eq_pos, dtype=torch.long), False)
        out_order = [obs.index(n) for n in direct] + [obs.index(n) for n in self.equation_names]
        self.register_buffer(
            "obs_perm",
            torch.tensor([out_order.index(i) for i in range(len(obs))], dtype=torch.long),
            False,
        )
        if self.equation_names:
            # spread of each measured column, for the normalized rollout loss (set by the owner)
            self.register_buffer("obs_std", torch.ones(len(obs), dtype=torch.float64))
        self.solver, self.substeps, self.rtol, self.atol = solver, int(substeps), rtol, atol
        self.adjoint = adjoint
        self.intersample = intersample

    @property
    def state_names(self) -> tuple[str, ...]:
        """All model state coordinates."""
        return self.dynamics.state_names

    @property
    def action_names(self) -> tuple[str, ...]:
        """Action inputs."""
        return self.dynamics.action_names

    @property
    def encoder_window(self) -> int:
        """Number of leading observations the initial state is computed from (1 if no encoder)."""
        return 1 if self.encoder is None else self.encoder.window

    def observation_scale(self) -> torch.Tensor:
        """(n_obs,) spread of each measured column (the rollout loss divides errors by it)."""
        if self.equation_names:
            return self.obs_std
        return self.dynamics.normalizer.x_std.index_select(0, self.obs_index)

    def initial_state(
        self,
        obs: torch.Tensor,
        us: torch.Tensor | None = None,
        t: torch.Tensor | None = None,
        *,
        hidden: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Full initial state from the leading observations.

        Args:
            obs: (batch, k', n_obs) observations, k' >= ``encoder_window``; or (batch, n_obs)
                when there is no encoder.
            us: (batch, k', n_u) actions at those samples (needed with an encoder).
            t: (k',) or (batch, k') their times (needed with an encoder).
            hidden: (batch, n_hidden) values of the hidden coordinates to use instead of the
                encoder's estimate (multiple shooting, or values fitted with ``init="optimize"``).

        Returns:
            (batch, n_x) full state at the first sample time.
        """
        if obs.ndim == 2:
            obs = obs[:, None]
        if self.fully_observed:
            return obs[:, 0]
        if not self.hidden_names:  # every state measured, in another column order
            return obs[:, 0].index_select(-1, self.direct_columns).index_select(-1, self.perm)
        if hidden is None:
            if self.encoder is None or us is None or t is None:
                raise ShapeError(
                    "This model has unobserved states, so its initial state needs the first "
                    f"{self.encoder_window} observations with their actions and times."
                )
            hidden = self.encoder(obs, us, t)
        direct = obs[:, 0].index_select(-1, self.direct_columns)
        return torch.cat((direct, hidden), -1).index_select(-1, self.perm)

    def decode(self, xs: torch.Tensor) -> torch.Tensor:
        """(..., n_x) full states → (..., n_obs) observations (identity when fully observed)."""
        if self.fully_observed:
            return xs
        direct = xs.index_select(-1, self.obs_index)
        if not self.equation_names:
            return direct
        ys = self.dynamics.observe(xs).index_select(-1, self.eq_index)
        return torch.cat((direct, ys), -1).index_select(-1, self.obs_perm)

    def simulate(
        self, x0: torch.Tensor, us: torch.Tensor, t: torch.Tensor, **solver_kw
    ) -> torch.Tensor:
        """Integrate the full state: x0 (batch, n_x), us (batch, T, n_u) or (batch, T+1, n_u)
        (the last row is the action at ``t[T]``, read under the first-order hold only), t (T+1,)
        or (batch, T+1) → (batch, T+1, n_x).

        Keyword arguments override the model's solver settings (see :func:`integrate`).
        """
        kw = {name: getattr(self, name) for name in _SOLVER_SETTINGS}
        kw.update({k: v for k, v in solver_kw.items() if v is not None})
        return integrate(self.dynamics, x0, us, t, **kw)

    def forward(
        self,
        obs: torch.Tensor,
        us: torch.Tensor,
        t: torch.Tensor,
        *,
        hidden: torch.Tensor | None = None,
        **solver_kw,
    ) -> torch.Tensor:
        """Open-loop prediction of observations from the leading observations of a window.

        Args:
            obs: (batch, k', n_obs) observed window (only the first ``encoder_window`` rows are
                read).
            us: (batch, T, n_u) or (batch, T+1, n_u) actions.
            t: (T+1,) times, or (batch, T+1) per-sample times.
            hidden: optional (batch, n_hidden) hidden initial values (see :meth:`initial_state`).

        Returns:
            (batch, T+1, n_obs) predicted observations.
        """
        x0 = self.initial_state(obs, us, t, hidden=hidden)
        return self.decode(self.simulate(x0, us, t, **solver_kw))
