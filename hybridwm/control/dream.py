"""A policy trained entirely inside a world model ("dreaming"), then run on the real system.

As PILCO and analytic-gradient methods do, the policy is optimised by backpropagation through
the differentiable model: from a batch of start states, the policy acts, the model predicts the
next state (the model's own solver, one step per control period), the task's reward is summed
over ``horizon_seconds``, and Adam follows the gradient of that sum through every predicted
step. No real data is used beyond what the model was fitted on.

The start states are drawn uniformly from a box that should cover where the policy must act,
not only where the data were: ``start_box`` gives a state's ``(low, high)`` by name; a state it
does not name spans ``[-pi, pi]`` if it is an angle, else its training range (the model's
normalizer ``x_min``/``x_max``) widened ``start_spread`` times about its middle. Data recorded
near rest (random torques on a hanging pendulum) span a small range, far from the speeds of a
swing-up, so for such tasks name the velocities in ``start_box``. The policy is an MLP of
``(sin, cos)`` of the angle states and the other states in units of the box's half-width,
squashed by ``tanh`` into the action bounds.

:class:`DreamController` runs it with the planners' interface (``reset``, ``act``, ``timings``,
``name``), so :func:`~hybridwm.control.run_episode` and the report treat it as one more
controller beside MPC.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.control.rollouts import ModelRollout
from hybridwm.control.tasks import Task
from hybridwm.dynamics import MLPField
from hybridwm.errors import ShapeError, UnknownNameError
from hybridwm.models import WorldModel

__all__ = ["DreamConfig", "DreamController", "DreamPolicy", "start_box", "train_dream_policy"]


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
        start_box: ``{state: (low, high)}`` ranges of the start states (see the module
            docstring); low < high.
        start_spread: how far beyond the training range the start states of a non-angle state
            not in ``start_box`` reach (1: exactly the range).
        seed: seeds the policy's initial weights and the start states.
    """

    hidden: tuple[int, ...] = (64, 64)
    horizon_seconds: PositiveFloat = 2.0
    steps: Integer = Field(400, ge=1)
    batch: Integer = Field(64, ge=1)
    lr: PositiveFloat = 3e-3
    clip: PositiveFloat = 1.0
    start_box: dict[str, tuple[float, float]] = Field(default_factory=dict)
    start_spread: PositiveFloat = 1.5
    seed: Integer = 0

    @field_validator("start_box")
    @classmethod
    def _ranges(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in value.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"must map each state to finite (low, high) with low < high; {name!r} has "
                    f"({low}, {high})"
                )
        return value


class DreamPolicy(nn.Module):
    """``u = middle + half * tanh(MLP(features(x)))``: states (batch, n_x) → actions (batch, n_u)
    within the action bounds.

    Args:
        n_x: state width. angles: positions of the angle states (embedded as sin, cos).
        scale: (n_x,) unit the other states are measured in (the start box's half-width). low, high: (n_u,) action bounds.
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


def start_box(model: WorldModel, task: Task, config: DreamConfig) -> torch.Tensor:
    """(2, n_x) low and high of the start states (see the module docstring).

    Raises:
        UnknownNameError: ``config.start_box`` names a state the task's system does not have.
    """
    system = task.get_system()
    for name in config.start_box:
        if name not in system.state_names:
            raise UnknownNameError(
                f"DreamConfig.start_box names {name!r}, which is not a {system.name} state; "
                f"valid names: {list(system.state_names)}."
            )
    norm = model.model_.dynamics.normalizer
    lo, hi = norm.x_min.detach().clone(), norm.x_max.detach().clone()
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * config.start_spread
    for i, name in enumerate(system.state_names):
        if name in config.start_box:
            low, high = config.start_box[name]
            mid[i], half[i] = (low + high) / 2, (high - low) / 2
        elif name in system.angle_names:
            mid[i], half[i] = 0.0, math.pi
    return torch.stack((mid - half, mid + half))


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
        reward per step of the imagined rollouts; ``inf`` where a prediction was not finite,
        and that step was skipped). The model is left as it was (no gradient reaches it).

    Raises:
        NotFittedError, ShapeError, ConfigError: as :class:`~hybridwm.control.ModelRollout`
            (the model must be fitted, fully observed, on the task's states and actions).
        UnknownNameError: ``config.start_box`` names an unknown state.
    """
    cfg = config or DreamConfig()
    ModelRollout(model, task)  # the same checks as planning with it
    system = task.get_system()
    ode = model.model_
    box = start_box(model, task, cfg)
    kw = {"dtype": box.dtype, "device": box.device}
    bounds = torch.as_tensor(system.action_bounds, **kw)
    angles = [system.state_names.index(a) for a in system.angle_names]
    half = ((box[1] - box[0]) / 2).clamp_min(1e-12)
    with torch.random.fork_rng(devices=[]):  # seeded weights; the caller's RNG untouched
        torch.manual_seed(cfg.seed)
        policy = DreamPolicy(system.n_x, angles, half, bounds[:, 0], bounds[:, 1], cfg.hidden)
    policy.to(**kw)
    params = list(policy.parameters())
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, round(cfg.horizon_seconds / task.dt))
    t = torch.tensor([0.0, task.dt], **kw)
    losses: list[float] = []
    for _ in range(cfg.steps):
        unit = torch.rand(cfg.batch, system.n_x, generator=generator, dtype=box.dtype)
        x = box[0] + (box[1] - box[0]) * unit.to(box.device)
        total = x.new_zeros(())
        for _ in range(steps):
            u = policy(x)
            x = ode.simulate(x, u[:, None], t)[:, 1]
            total = total + task.reward(x, u).mean()
        loss = -total / steps
        losses.append(float(loss.detach()))
        if not torch.isfinite(loss):  # a prediction blew up: no step on an infinite loss
            continue
        opt.zero_grad()
        loss.backward(inputs=params)  # the model's own weights get no gradient
        nn.utils.clip_grad_norm_(params, cfg.clip)
        opt.step()
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
