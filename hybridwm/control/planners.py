"""Sampling-based model-predictive control: MPPI and iCEM over batched rollouts.

Both planners keep a plan of ``H`` actions, sample action sequences around it within the
action bounds, score every sequence by the task's summed reward along ONE batched rollout of the
model (:mod:`hybridwm.control.rollouts`), execute the first action and shift the plan by one step
(the receding horizon; the freed last step starts at the middle of the bounds: the warm start).

* **MPPI** (Williams et al. 2017, information-theoretic MPC): Gaussian perturbations of the plan
  (std ``noise_std`` times the half range of each action), the plan itself as sample 0, and the
  new plan the average of the sequences weighted by ``softmax(R / (temperature * std(R)))``
  (returns scaled by their spread, so one temperature fits every task).
* **iCEM** (Pinneri et al. 2020, sample-efficient cross-entropy method): colored noise
  (power spectrum ``1/f**colored_noise`` along time, smoother sequences for larger exponents),
  a population that shrinks by ``population_decay`` per iteration, the ``elites`` best
  sequences refitting mean and std (with ``momentum``), a fraction ``keep_elites`` of the elites
  carried to the next iteration and, shifted, to the next control step, the mean added as a
  sample in the last iteration, and the best sequence found executed.

Neither uses ``pytorch_mppi``: its dynamics interface is one step at a time in a Python loop over
the horizon (``dynamics(state[K, n_x], action[K, n_u])``), where a WorldModel integrates the
whole horizon for all samples in one solve, and it has no iCEM.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from hybridwm.config import Config, Integer
from hybridwm.control.rollouts import EnsembleRollout, ModelRollout, OracleRollout
from hybridwm.control.tasks import Task
from hybridwm.errors import ConfigError, ShapeError

__all__ = ["ICEM", "MPPI", "Planner", "PlannerConfig", "colored_noise", "make_planner"]


class PlannerConfig(Config):
    """Settings of a sampling-based planner.

    Attributes:
        method: ``"mppi"`` or ``"icem"``.
        samples: action sequences scored per iteration (iCEM: the first population).
        horizon: plan length in control steps; None: the task's ``horizon_seconds / dt``.
        iterations: refinements of the plan per control step.
        noise_std: sampling std as a fraction of each action's half range.
        temperature: MPPI's temperature, in units of the returns' standard deviation.
        elites: iCEM's elite sequences that refit mean and std.
        keep_elites: fraction of the elites carried to the next iteration and step (iCEM).
        colored_noise: exponent of iCEM's noise spectrum ``1/f**exponent`` (0 white, 2 red).
        population_decay: iCEM's population shrinks by this factor per iteration.
        momentum: weight of the old mean and std in iCEM's update.
        seed: seed of the sampling noise (and of the episode's initial state).
        disagreement: with an ensemble (:class:`~hybridwm.control.rollouts.EnsembleRollout`),
            a sequence scores the members' mean return minus ``disagreement`` times the summed
            disagreement along it: per step, the members' standard deviation of each state in
            units of the state's training std, averaged over the states. 0 (default): the
            mean return alone. Reward units per unit of that spread and per step.
    """

    method: Literal["mppi", "icem"] = "mppi"
    samples: Integer = Field(1000, ge=4)
    horizon: Integer | None = Field(None, ge=1)
    iterations: Integer = Field(1, ge=1)
    noise_std: float = Field(0.5, gt=0, allow_inf_nan=False)
    temperature: float = Field(0.1, gt=0, allow_inf_nan=False)
    elites: Integer = Field(50, ge=2)
    keep_elites: float = Field(0.3, ge=0, le=1)
    colored_noise: float = Field(2.0, ge=0, le=4)
    population_decay: float = Field(1.25, ge=1, allow_inf_nan=False)
    momentum: float = Field(0.1, ge=0, lt=1)
    seed: Integer = 0
    disagreement: float = Field(0.0, ge=0, allow_inf_nan=False)


def colored_noise(
    shape: tuple[int, int, int], exponent: float, generator: torch.Generator, **kw
) -> torch.Tensor:
    """Gaussian noise ``(K, H, n_u)`` with power spectrum ``1/f**exponent`` along axis 1.

    White noise is shaped in the frequency domain (the zero frequency gets the weight of the
    lowest nonzero one) and the result scaled to unit standard deviation over the batch.
    ``exponent = 0`` is white noise; 1 pink; 2 red (Brownian-like). ``kw``: dtype, device.
    """
    k, h, n_u = shape
    if exponent == 0 or h < 2:
        return torch.randn(shape, generator=generator, **kw)
    freqs = torch.fft.rfftfreq(h, **kw)
    freqs[0] = freqs[1]
    scale = freqs ** (-exponent / 2)
    spec_shape = (k, n_u, freqs.shape[0])
    real = torch.randn(spec_shape, generator=generator, **kw)
    imag = torch.randn(spec_shape, generator=generator, **kw)
    signal = torch.fft.irfft(torch.complex(real, imag) * scale, n=h)
    return (signal / signal.std().clamp_min(1e-12)).transpose(1, 2)


class Planner(ABC):
    """Shared machinery of MPPI and iCEM: bounds, plan, scoring, receding horizon, timings.

    Args:
        rollout: the model to plan with (:func:`hybridwm.control.make_rollout`).
        task: the task whose summed reward is maximised.
        config: the planner settings (default ``PlannerConfig()``).

    Attributes: ``horizon``; ``plan`` (H, n_u) the current plan; ``timings`` seconds per
    :meth:`act` call; ``evaluations`` rollouts of samples scored so far.
    """

    def __init__(
        self,
        rollout: ModelRollout | EnsembleRollout | OracleRollout,
        task: Task,
        config: PlannerConfig | None = None,
    ) -> None:
        self.rollout, self.task = rollout, task
        self.config = cfg = config or PlannerConfig()
        if cfg.disagreement > 0 and not isinstance(rollout, EnsembleRollout):
            raise ConfigError(
                f"PlannerConfig.disagreement = {cfg.disagreement} needs an ensemble to "
                f"disagree; got a {type(rollout).__name__}. Plan with a WorldModelEnsemble "
                f"(make_rollout(ensemble, task)) or set disagreement=0."
            )
        self.horizon = cfg.horizon or max(1, round(task.horizon_seconds / task.dt))
        kw = {"dtype": rollout.dtype, "device": rollout.device}
        bounds = torch.as_tensor(task.get_system().action_bounds, **kw)
        self.low, self.high = bounds[:, 0], bounds[:, 1]
        self.middle, self.half = (self.low + self.high) / 2, (self.high - self.low) / 2
        self.n_x, self.n_u = task.get_system().n_x, bounds.shape[0]
        self.generator = torch.Generator(device=rollout.device)
        self.reset()

    def reset(self) -> None:
        """Forget the plan (start at the middle of the bounds) and reseed the noise."""
        self.generator.manual_seed(self.config.seed)
        self.plan = self.middle.expand(self.horizon, self.n_u).clone()
        self.timings: list[float] = []
        self.evaluations = 0

    @property
    def name(self) -> str:
        """What the planner predicts with (the rollout's name: a model kind or ``"oracle"``)."""
        return self.rollout.name

    def _kw(self) -> dict:
        return {"dtype": self.low.dtype, "device": self.low.device}

    def returns(self, state: torch.Tensor, us: torch.Tensor) -> torch.Tensor:
        """(n_x,) state and (K, H, n_u) sequences → (K,) summed rewards (``-inf`` where a
        prediction is not finite), from one batched rollout; with an ensemble, the members'
        mean return less the disagreement penalty (see :class:`PlannerConfig`)."""
        xs = self.rollout(state.expand(us.shape[0], self.n_x), us)
        self.evaluations += us.shape[0]
        if xs.ndim == 3:
            total = self.task.reward(xs[:, 1:], us).sum(-1)
        else:  # (M, K, H+1, n_x) members' samples
            total = self.task.reward(xs[:, :, 1:], us.expand(xs.shape[0], *us.shape))
            total = total.sum(-1).mean(0)
            if self.config.disagreement > 0:
                spread = xs[:, :, 1:].std(0) / self.rollout.scale  # type: ignore[union-attr]
                total = total - self.config.disagreement * spread.mean(-1).sum(-1)
        return torch.nan_to_num(total, nan=-math.inf, posinf=-math.inf)

    def act(self, state: np.ndarray) -> np.ndarray:
        """The action ``(n_u,)`` to apply now from the measured ``state`` (n_x,); the plan is
        refined, its first action returned, and the plan shifted by one step."""
        arr = np.asarray(state, dtype=np.float64)
        if arr.shape != (self.n_x,) or not np.isfinite(arr).all():
            raise ShapeError(
                f"`state` of {type(self).__name__}.act must be {self.n_x} finite values of "
                f"{self.task.system} states {list(self.task.get_system().state_names)}. Got "
                f"{arr.tolist() if arr.size < 10 else arr.shape}."
            )
        start = time.perf_counter()
        best = self._optimize(torch.as_tensor(arr, **self._kw()))
        action = best[0].clone()
        self._shift()
        if self.low.device.type == "cuda":
            torch.cuda.synchronize(self.low.device)
        self.timings.append(time.perf_counter() - start)
        return action.cpu().numpy()

    def _clip(self, us: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(us, self.high), self.low)

    @abstractmethod
    def _optimize(self, state: torch.Tensor) -> torch.Tensor:
        """Refine ``self.plan`` from ``state`` (n_x,); the (H, n_u) sequence to execute."""

    def _shift(self) -> None:
        """Move the plan one step on (the receding horizon); its new last step starts at the
        middle of the bounds."""
        self.plan = torch.cat((self.plan[1:], self.middle[None]))


class MPPI(Planner):
    """Model-predictive path integral control (see the module docstring)."""

    def _optimize(self, state: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        std = cfg.noise_std * self.half
        for _ in range(cfg.iterations):
            shape = (cfg.samples, self.horizon, self.n_u)
            noise = torch.randn(shape, generator=self.generator, **self._kw()) * std
            noise[0] = 0.0
            us = self._clip(self.plan + noise)
            ret = self.returns(state, us)
            finite = torch.isfinite(ret)
            if not finite.any():
                break
            spread = ret[finite].std() if finite.sum() > 1 else ret.new_tensor(1.0)
            weights = torch.softmax(
                (ret - ret.max()) / (cfg.temperature * spread.clamp_min(1e-9)), 0
            )
            self.plan = (weights[:, None, None] * us).sum(0)
        return self.plan


class ICEM(Planner):
    """The improved cross-entropy method of Pinneri et al. 2020 (see the module docstring)."""

    def reset(self) -> None:
        super().reset()
        self.kept: torch.Tensor | None = None  # elites of the last step, shifted

    def _population(self, iteration: int) -> int:
        cfg = self.config
        return max(2 * cfg.elites, int(cfg.samples * cfg.population_decay ** (-iteration)))

    def _optimize(self, state: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        mean, std = self.plan.clone(), cfg.noise_std * self.half.expand(self.horizon, self.n_u)
        best, best_return = mean, -math.inf
        elites = self.kept
        n_keep = round(cfg.keep_elites * cfg.elites)
        for i in range(cfg.iterations):
            shape = (self._population(i), self.horizon, self.n_u)
            noise = colored_noise(shape, cfg.colored_noise, self.generator, **self._kw())
            parts = [self._clip(mean + noise * std)]
            if elites is not None and n_keep:
                parts.append(elites[:n_keep])
            if i == cfg.iterations - 1:
                parts.append(self._clip(mean)[None])
            us = torch.cat(parts)
            ret = self.returns(state, us)
            order = torch.argsort(ret, descending=True)[: cfg.elites]
            elites = us[order]
            if bool(ret[order[0]] > best_return):
                best, best_return = elites[0], float(ret[order[0]])
            mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(0)
            std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(0)
        self.plan, self.kept = mean, elites
        return best

    def _shift(self) -> None:
        super()._shift()
        if self.kept is not None:
            tail = self.middle.expand(self.kept.shape[0], 1, self.n_u)
            self.kept = torch.cat((self.kept[:, 1:], tail), 1)


def make_planner(
    rollout: ModelRollout | EnsembleRollout | OracleRollout,
    task: Task,
    config: PlannerConfig | None = None,
) -> Planner:
    """The planner ``config.method`` names (MPPI or iCEM) over ``rollout`` for ``task``."""
    cfg = config or PlannerConfig()
    return (MPPI if cfg.method == "mppi" else ICEM)(rollout, task, cfg)
