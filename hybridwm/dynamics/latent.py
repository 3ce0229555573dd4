"""Initial-state encoder for partially observed systems.

When the data measure only some of the model's state coordinates, the unmeasured ones (hidden
physical states such as a velocity, or free latent coordinates) need initial values. The
:class:`Encoder` maps the first ``k`` observations and actions of an episode to them. Its inputs
are normalized observations, finite-difference rates of the observations (normalized by the
spread of dx/dt, so that a velocity is close to a linear function of them) and normalized actions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hybridwm.dynamics.fields import MLPField

__all__ = ["Encoder"]


class Encoder(nn.Module):
    """MLP from a window of ``k`` observations and actions to the unobserved initial state.

    Args:
        n_obs: number of observed coordinates.
        n_u: number of actions.
        n_hidden: number of unobserved coordinates to produce.
        window: ``k``, the number of leading samples read (>= 1; >= 2 gives rate features).
        hidden: hidden layer widths of the MLP.
        activation: activation name.
        angle_index: positions (among the observations) of angle coordinates; the encoder reads
            them as ``(sin θ, cos θ)`` (their rates stay as they are).

    Buffers ``obs_mean``, ``obs_std``, ``rate_scale`` (n_obs), ``u_mean``, ``u_std`` (n_u) and
    ``out_mean``, ``out_std`` (n_hidden) are set by the owner (see :meth:`set_scales`).
    """

    def __init__(
        self,
        n_obs: int,
        n_u: int,
        n_hidden: int,
        window: int = 2,
        hidden: Sequence[int] = (64,),
        activation: str = "tanh",
        angle_index: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.n_obs, self.n_u, self.n_hidden, self.window = n_obs, n_u, n_hidden, int(window)
        ang = sorted({int(i) for i in angle_index})
        self.n_angles = len(ang)
        self.register_buffer("angle_index", torch.tensor(ang, dtype=torch.long), False)
        lin = [i for i in range(n_obs) if i not in ang]
        self.register_buffer("linear_index", torch.tensor(lin, dtype=torch.long), False)
        n_in = window * (n_obs + len(ang)) + (window - 1) * n_obs + window * n_u
        self.net = MLPField(n_in, n_hidden, hidden, activation, init_scale=1.0)
        for name, n, fill in (
            ("obs_mean", n_obs, 0.0),
            ("obs_std", n_obs, 1.0),
            ("rate_scale", n_obs, 1.0),
            ("u_mean", n_u, 0.0),
            ("u_std", n_u, 1.0),
            ("out_mean", n_hidden, 0.0),
            ("out_std", n_hidden, 1.0),
        ):
            self.register_buffer(name, torch.full((n,), fill, dtype=torch.float64))

    @torch.no_grad()
    def set_scales(self, **values: torch.Tensor) -> None:
        """Copy normalization buffers (any of the names above) from tensors."""
        for name, v in values.items():
            getattr(self, name).copy_(torch.as_tensor(v, dtype=getattr(self, name).dtype))

    def forward(self, obs: torch.Tensor, us: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Unobserved initial state.

        Args:
            obs: (batch, >=k, n_obs) observations; the first ``k`` rows are read.
            us: (batch, >=k, n_u) actions; the first ``k`` rows are read.
            t: (>=k,) sample times of those rows, or (batch, >=k) per-sample times.

        Returns:
            (batch, n_hidden) values of the unobserved coordinates at ``t[0]``.
        """
        k = self.window
        o = obs[:, :k]
        zo = (o - self.obs_mean) / self.obs_std
        if self.n_angles:
            a = o.index_select(-1, self.angle_index)
            zo = torch.cat((zo.index_select(-1, self.linear_index), torch.sin(a), torch.cos(a)), -1)
        feats = [zo.flatten(1)]
        if k > 1:
            if t.ndim == 1:
                dt = (t[1:k] - t[: k - 1]).to(o.dtype)[None, :, None]
            else:
                dt = (t[:, 1:k] - t[:, : k - 1]).to(o.dtype)[:, :, None]
            rates = (o[:, 1:] - o[:, :-1]) / dt
            feats.append((rates / self.rate_scale).flatten(1))
        if self.n_u:
            feats.append(((us[:, :k] - self.u_mean) / self.u_std).flatten(1))
        return self.out_mean + self.out_std * self.net(torch.cat(feats, -1))
