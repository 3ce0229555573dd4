"""A policy trained entirely inside a world model ("dreaming"), then run on the real system.

As PILCO and analytic-gradient methods do, the policy is optimised by backpropagation through
the differentiable model: from a batch of start states, the policy acts, the model predicts the
next state (the model's own solver, one step per control period), the task's reward is summed
over ``horizon_seconds``, and Adam follows the gradient of that sum through every predicted
step. No real data is used beyond what the model was fitted on.

The start states cover where the policy must act, not only where the data were: each angle
state uniform on ``[-pi, pi]``, every other state uniform on its training range (the model's
normalizer ``x_min``/``x_max``) widened ``start_spread`` times about its middle. The policy is an
MLP of ``(sin, cos)`` of the angle states and the other states divided by their training
spread, squashed by ``tanh`` into the action bounds.

:class:`DreamController` runs it with the planners' interface (``reset``, ``act``, ``timings``,
``name``), so :func:`~hybridwm.control.run_episode` and the report treat it as one more
controller beside MPC.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from pydantic import Field
from torch import nn

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.control.rollouts import ModelRollout
from hybridwm.control.tasks import Task
from hybridwm.dynamics import MLPField
from hybridwm.errors import ShapeError
from hybridwm.models import WorldModel

__all__ = ["DreamConfig", "DreamController", "DreamPolicy", "train_dream_policy"]


class DreamConfig(Config):
    """Settings of :func:`train_dream_policy`.

    Attributes:
        hidden: widths of the policy's tanh MLP.
        horizon_seconds: length of each imagined rollout the reward is summed over.
        steps: Adam steps (one batch of imagined rollouts each).
        batch: start states per step.
        lr: Adam's learning rate.
        clip: the gradient's largest norm (imagined rollouts through unstable swings can give
            huge gradients).
        start_spread: how far beyond the training range the non-angle start states reach (1:
            exactly the range).
        seed: seeds the policy's initial weights and the start states.
    """

    hidden: tuple[int, ...] = (64, 64)
    horizon_seconds: PositiveFloat = 2.0
    steps: Integer = Field(400, ge=1)
    batch: Integer = Field(64, ge=1)
    lr: PositiveFloat = 3e-3
    clip: PositiveFloat = 1.0
    start_spread: PositiveFloat = 1.5
    seed: Integer = 0


class DreamPolicy(nn.Module):
    """``u = middle + half * tanh(MLP(features(x)))``: states (batch, n_x) → actions (batch, n_u)
    within the action bounds.

    Args:
        n_x: state width. angles: positions of the angle states (embedded as sin, cos).
        scale: (n_x,) spread the other states are divided by. low, high: (n_u,) action bounds.
        hidden: MLP widths.
    """

    def __init__(
        self,
        n_x: int,
        angles: list[int],
        scale: torch.Tensor,
        low: torch.Tensor,
        high: torch.Tensor,
        hidden: tuple[int, ...],
    ) -> None:
        super().__init__()
        others = [i for i in range(n_x) if i not in angles]
        self.register_buffer("angle_index", torch.tensor(angles, dtype=torch.long))
        self.register_buffer("other_index", torch.tensor(others, dtype=torch.long))
        self.register_buffer("scale", scale[others].clone())
        self.register_buffer("u_middle", (low + high) / 2)
        self.register_buffer("u_half", (high - low) / 2)
        self.net = MLPField(2 * len(angles) + len(others), low.shape[0], hidden, "tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_x) states → (batch, n_u) actions."""
        a = x.index_select(-1, self.angle_index)
        rest = x.index_select(-1, self.other_index) / self.scale
        z = torch.cat((torch.sin(a), torch.cos(a), rest), -1)
        return self.u_middle + self.u_half * torch.tanh(self.net(z))


def _starts(
    model: WorldModel, task: Task, config: DreamConfig, generator: torch.Generator
) -> torch.Tensor:
    """(batch, n_x) start states (see the module docstring)."""
    norm = model.model_.dynamics.normalizer
    lo, hi = norm.x_min.detach(), norm.x_max.detach()
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * config.start_spread
    angles = [task.get_system().state_names.index(a) for a in task.get_system().angle_names]
    mid[angles], half[angles] = 0.0, math.pi
    unit = torch.rand(config.batch, lo.shape[0], generator=generator, dtype=lo.dtype) * 2 - 1
    return mid + half * unit.to(lo.device)


def train_dream_policy(
    model: WorldModel, task: Task, config: DreamConfig | None = None
) -> tuple[DreamPolicy, list[float]]:
    """Train a policy for ``task`` inside ``model`` only (see the module docstring).

    Args:
        model: a fitted, fully observed world model of the task's system.
        task: the task whose reward the policy maximises.
        config: the settings (default ``DreamConfig()``).

    Returns:
        The policy (on the model's device and dtype) and the loss of every step (minus the mean
        reward per step of the imagined rollouts).

    Raises:
        NotFittedError, ShapeError, ConfigError: as :class:`~hybridwm.control.ModelRollout`
            (the model must be fitted, fully observed, on the task's states and actions).
    """
    cfg = config or DreamConfig()
    ModelRollout(model, task)  # the same checks as planning with it
    system = task.get_system()
    ode = model.model_
    x_std = ode.dynamics.normalizer.x_std.detach()
    kw = {"dtype": x_std.dtype, "device": x_std.device}
    bounds = torch.as_tensor(system.action_bounds, **kw)
    angles = [system.state_names.index(a) for a in system.angle_names]
    torch.manual_seed(cfg.seed)
    policy = DreamPolicy(system.n_x, angles, x_std, bounds[:, 0], bounds[:, 1], cfg.hidden)
    policy.to(**kw)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, round(cfg.horizon_seconds / task.dt))
    t = torch.tensor([0.0, task.dt], **kw)
    losses: list[float] = []
    for _ in range(cfg.steps):
        x = _starts(model, task, cfg, generator)
        total = x.new_zeros(())
        for _ in range(steps):
            u = policy(x)
            x = ode.simulate(x, u[:, None], t)[:, 1]
            total = total + task.reward(x, u).mean()
        loss = -total / steps
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), cfg.clip)
        opt.step()
        losses.append(float(loss.detach()))
    return policy.eval(), losses


class DreamController:
    """A trained :class:`DreamPolicy` with the planners' interface, for
    :func:`~hybridwm.control.run_episode`.

    Args:
        policy: the policy. name: how episodes name the controller (e.g. ``"dream-hybrid"``).

    Attributes: ``timings`` seconds per :meth:`act` call.
    """

    def __init__(self, policy: DreamPolicy, name: str = "dream") -> None:
        self.policy, self.name = policy, name
        self.timings: list[float] = []

    def reset(self) -> None:
        """Forget the timings (the policy has no state)."""
        self.timings = []

    def act(self, state: np.ndarray) -> np.ndarray:
        """The action (n_u,) for the measured ``state`` (n_x,)."""
        arr = np.asarray(state, dtype=np.float64)
        n_x = self.policy.angle_index.numel() + self.policy.other_index.numel()
        if arr.shape != (n_x,) or not np.isfinite(arr).all():
            raise ShapeError(
                f"`state` of DreamController.act must be {n_x} finite values. Got "
                f"{arr.tolist() if arr.size < 10 else arr.shape}."
            )
        start = time.perf_counter()
        with torch.no_grad():
            x = torch.as_tensor(
                arr, dtype=self.policy.u_middle.dtype, device=self.policy.u_middle.device
            )
            u = self.policy(x[None])[0].cpu().numpy()
        self.timings.append(time.perf_counter() - start)
        return u
