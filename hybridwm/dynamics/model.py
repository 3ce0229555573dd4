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


class ODEModel(nn.Module):
    """A controlled neural/hybrid ODE with an observation model.

    Args:
        dynamics: the vector field over the full model state.
        observed_names: names of the measured coordinates, a subset of
            ``dynamics.state_names`` (default: all of them).
        encoder: an :class:`Encoder` giving the unobserved initial coordinates, required when
            some coordinates are unobserved.
        solver: default solver name; ``substeps``, ``rtol``, ``atol``, ``adjoint`` likewise.
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
    ) -> None:
        super().__init__()
        self.dynamics = dynamics
        names = tuple(dynamics.state_names)
        obs = names if observed_names is None else tuple(observed_names)
        unknown = [n for n in obs if n not in names]
        if unknown:
            raise ShapeError(
                f"Observed coordinates {unknown} are not model states {list(names)}; the model's "
                f"state names must include every measured column."
            )
        self.observed_names = obs
        self.hidden_names = tuple(n for n in names if n not in obs)
        self.fully_observed = obs == names
        if not self.fully_observed and self.hidden_names and encoder is None:
            raise ShapeError(
                f"States {list(self.hidden_names)} are not observed, so an Encoder is needed to "
                f"give their initial values."
            )
        self.encoder = encoder if self.hidden_names else None
        obs_idx = [names.index(n) for n in obs]
        hid_idx = [names.index(n) for n in self.hidden_names]
        # full = cat(observed, hidden)[:, perm] puts every coordinate at its place.
        order = obs_idx + hid_idx
        perm = [order.index(i) for i in range(len(names))]
        self.register_buffer("obs_index", torch.tensor(obs_idx, dtype=torch.long), False)
        self.register_buffer("perm", torch.tensor(perm, dtype=torch.long), False)
        self.solver, self.substeps, self.rtol, self.atol = solver, int(substeps), rtol, atol
        self.adjoint = adjoint

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

    def initial_state(
        self, obs: torch.Tensor, us: torch.Tensor | None = None, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Full initial state from the leading observations.

        Args:
            obs: (batch, k', n_obs) observations, k' >= ``encoder_window``; or (batch, n_obs)
                when there is no encoder.
            us: (batch, k', n_u) actions at those samples (needed with an encoder).
            t: (k',) their times (needed with an encoder).

        Returns:
            (batch, n_x) full state at the first sample time.
        """
        if obs.ndim == 2:
            obs = obs[:, None]
        if self.encoder is None:
            return obs[:, 0]
        if us is None or t is None:
            raise ShapeError(
                "This model has unobserved states, so its initial state needs the first "
                f"{self.encoder.window} observations with their actions and times."
            )
        hidden = self.encoder(obs, us, t)
        return torch.cat((obs[:, 0], hidden), -1).index_select(-1, self.perm)

    def decode(self, xs: torch.Tensor) -> torch.Tensor:
        """(..., n_x) full states → (..., n_obs) observations (identity when fully observed)."""
        if self.fully_observed:
            return xs
        return xs.index_select(-1, self.obs_index)

    def simulate(
        self, x0: torch.Tensor, us: torch.Tensor, t: torch.Tensor, **solver_kw
    ) -> torch.Tensor:
        """Integrate the full state: x0 (batch, n_x), us (batch, T, n_u), t (T+1,) → (batch, T+1, n_x).

        Keyword arguments override the model's solver settings (see :func:`integrate`).
        """
        kw = dict(
            solver=self.solver,
            substeps=self.substeps,
            rtol=self.rtol,
            atol=self.atol,
            adjoint=self.adjoint,
        )
        kw.update({k: v for k, v in solver_kw.items() if v is not None})
        return integrate(self.dynamics, x0, us, t, **kw)

    def forward(
        self, obs: torch.Tensor, us: torch.Tensor, t: torch.Tensor, **solver_kw
    ) -> torch.Tensor:
        """Open-loop prediction of observations from the leading observations of a window.

        Args:
            obs: (batch, k', n_obs) observed window (only the first ``encoder_window`` rows are
                read).
            us: (batch, T, n_u) or (batch, T+1, n_u) actions.
            t: (T+1,) times.

        Returns:
            (batch, T+1, n_obs) predicted observations.
        """
        x0 = self.initial_state(obs, us, t)
        return self.decode(self.simulate(x0, us, t, **solver_kw))
