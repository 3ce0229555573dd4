"""WorldModelEnsemble: M world models of one kind whose disagreement is the prediction's spread.

>>> ens = WorldModelEnsemble("hybrid", physics=phys, n_members=5).fit(train)  # doctest: +SKIP
>>> ens.calibrate(validation)                      # spread scaled to cover 90 % (validation)
>>> mean, std = ens.rollout(x0, us, dt=0.01, return_std=True)   # (batch, T+1, n_obs) each
>>> pred = ens.predict(test, quantiles=(0.05, 0.95))            # EnsemblePrediction
>>> ens.save("runs/pendulum-ensemble"); WorldModelEnsemble.load("runs/pendulum-ensemble")

Members differ by the episodes they see (a bootstrap resample of the training episodes; the
out-of-bag episodes validate them), their seed (``config.seed + m``) and, for physics and hybrid
members with ``physics_draws``, their coefficients: a draw from the discovered SINDy ensemble's
``coef_mean``/``coef_std`` on the model's support (E-SINDy's bagged statistics).

Rollouts are trajectory samples as in PETS (TS-∞): sample ``m`` is member ``m``'s own open-loop
rollout from the given state, so the uncertainty is propagated through time, not per step.
Members of one architecture are rolled out in one batched pass (:mod:`~hybridwm.models.stacking`).
The spread is the members' standard deviation, times the scale factors of a
:class:`~hybridwm.metrics.Recalibration` once :meth:`calibrate` has fitted one; intervals and
quantiles are Gaussian, ``mean + Phi^-1(q) * spread``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from scipy.special import ndtri

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, NotFittedError
from hybridwm.metrics import Recalibration, fit_recalibration
from hybridwm.models import ensemble_files, names, prediction
from hybridwm.models.building import dtype_device
from hybridwm.models.stacking import StackedDynamics, stackable, stacked_rollout
from hybridwm.models.world_model import WorldModel
from hybridwm.training import TrainConfig

__all__ = ["EnsemblePrediction", "WorldModelEnsemble"]


@dataclass
class EnsemblePrediction:
    """What :meth:`WorldModelEnsemble.predict` gives with ``return_std`` or ``quantiles``.

    Attributes:
        mean: the members' mean prediction of every episode (a TrajectorySet like
            ``WorldModel.predict``'s).
        std: per episode, (T_e, n_obs) spread (recalibrated if the ensemble is calibrated).
        samples: per episode, (M, T_e, n_obs) the members' own rollouts.
        quantiles: ``{q: per episode (T_e, n_obs)}`` Gaussian quantiles ``mean + Phi^-1(q) std``.
    """

    mean: TrajectorySet
    std: list[np.ndarray]
    samples: list[np.ndarray]
    quantiles: dict[float, list[np.ndarray]] = field(default_factory=dict)


def _fit_member(
    model: WorldModel,
    train: TrajectorySet,
    config: TrainConfig,
    validation: TrajectorySet | None,
    threads: int | None = None,
) -> WorldModel:
    """One member's fit (module level, so a worker process can run it); ``threads`` sets
    torch's thread count in that process."""
    if threads is not None:
        torch.set_num_threads(threads)
    return model.fit(train, config, validation=validation)


def _fit_in_processes(jobs: list[tuple], workers: int, progress: bool) -> list[WorldModel]:
    """The members of ``jobs`` fitted ``workers`` at a time in spawned processes, in order.

    The workers show no bars of their own (they would write over each other); with
    ``progress`` one bar here counts the members done.
    """
    threads = max(1, torch.get_num_threads() // workers)
    quiet = [(m, train, cfg.replace(progress=False), val, threads) for m, train, cfg, val in jobs]
    ctx = mp.get_context("spawn")  # torch and MuJoCo thread pools do not survive fork
    bar = Progress(
        TextColumn(f"[bold]ensemble ({workers} at a time)"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
    )
    members: list[Any] = [None] * len(jobs)
    with bar, ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
        task = bar.add_task("members", total=len(jobs))
        futures = {pool.submit(_fit_member, *job): i for i, job in enumerate(quiet)}
        for fut in as_completed(futures):
            members[futures[fut]] = fut.result()
            bar.advance(task)
    return members


def _check_quantiles(quantiles: Any) -> tuple[float, ...]:
    qs = tuple(float(q) for q in np.atleast_1d(np.asarray(quantiles, dtype=np.float64)))
    if not all(0.0 < q < 1.0 for q in qs):
        raise ConfigError(f"`quantiles` must be numbers in (0, 1), e.g. (0.05, 0.95). Got {qs}.")
    return qs


class WorldModelEnsemble:
    """An ensemble of ``n_members`` world models of one kind (learned, physics or hybrid).

    Args:
        kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        physics: the members' physics (physics/hybrid), as for :class:`WorldModel`.
        n_members: number of members (>= 2).
        bootstrap: train each member on a bootstrap resample of the episodes (validated on the
            episodes it did not draw); otherwise on all of them (members differ by seed).
        physics_draws: give each physics/hybrid member coefficients drawn from ``physics``'s
            SINDy ensemble statistics (``discover(..., ensemble=...)``).
        seed: seed of the resamples and draws; member ``m`` trains with ``config.seed + m``.
        **params: the members' architecture, as :meth:`WorldModel.from_kind` takes it
            (``hidden``, ``trainable_physics``, ``solver``, ...).

    Fitted attributes: ``members_`` (the fitted WorldModels), ``calibration_`` (a
    Recalibration or None).
    """

    def __init__(
        self,
        kind: str,
        *,
        physics: Any = None,
        n_members: int = 5,
        bootstrap: bool = True,
        physics_draws: bool = False,
        seed: int = 0,
        **params: Any,
    ) -> None:
        self.kind, self.physics_model, self.n_members = kind, physics, n_members
        self.bootstrap, self.physics_draws, self.seed, self.params = (
            bootstrap,
            physics_draws,
            seed,
            params,
        )

    @classmethod
    def from_members(
        cls, members: list[WorldModel], calibration: Recalibration | None = None
    ) -> WorldModelEnsemble:
        """An ensemble of already fitted models of one kind and one set of names.

        Raises:
            ConfigError: fewer than two members, or members of different kinds or names.
            NotFittedError: a member is not fitted.
        """
        ens = cls(members[0].kind if members else "learned", n_members=len(members))
        ens._check_n_members()
        for i, m in enumerate(members):
            if not hasattr(m, "model_"):
                raise NotFittedError(
                    f"Member {i} is not fitted; fit it before building an ensemble."
                )
        key = [(m.kind, m.state_names_, m.observed_names_, m.action_names_) for m in members]
        if any(k != key[0] for k in key[1:]):
            raise ConfigError(
                "The members must share one kind and the same state, observed and action names; "
                f"got {sorted({(k[0], k[2], k[3]) for k in key})}."
            )
        ens.members_, ens.calibration_ = list(members), calibration
        return ens

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "members_") else "not fitted"
        return f"WorldModelEnsemble(kind={self.kind!r}, n_members={self.n_members}, {fitted})"

    # ------------------------------------------------------------------ fit
    def _check_n_members(self) -> None:
        n = self.n_members
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ConfigError(f"`n_members` must be an integer >= 2. Got {n!r}.")

    def _member_physics(self, rng: np.random.Generator) -> Any:
        """The physics of the next member: ``physics``, or a draw from its ensemble."""
        phys = self.physics_model
        if not self.physics_draws:
            return phys
        ens = getattr(phys, "ensemble", None)
        if self.kind == "learned" or not ens or getattr(phys, "parameters", None):
            raise ConfigError(
                "`physics_draws=True` needs discovered physics with ensemble statistics (e.g. "
                "discover(data, ensemble=True)) and kind 'physics' or 'hybrid'; use "
                "physics_draws=False otherwise."
            )
        coef = phys.coef_array
        std = np.asarray(ens["coef_std"], dtype=np.float64)
        return phys.with_coefficients(
            coef + np.where(phys.mask, std, 0.0) * rng.normal(size=coef.shape)
        )

    def fit(
        self,
        data: TrajectorySet,
        config: TrainConfig | None = None,
        *,
        validation: TrajectorySet | None = None,
        workers: int = 1,
    ) -> WorldModelEnsemble:
        """Fit every member (on its bootstrap resample, with its seed and physics draw).

        Args:
            data: training episodes, as for :meth:`WorldModel.fit`.
            config: the members' training settings (member ``m`` uses seed ``seed + m``).
            validation: validation episodes shared by all members (default: each member's
                out-of-bag episodes, or the config's held-out fraction without bootstrap).
            workers: train this many members at a time, each in its own process (spawned;
                torch threads shared out among them). The resamples and draws are made here
                first, so the members are the same as with ``workers=1`` (bit for bit when
                torch runs on one thread either way). As with any spawned process pool, a
                script must call it under ``if __name__ == "__main__":``.

        Returns:
            ``self`` with ``members_``; a previous calibration is dropped.

        Raises:
            ConfigError: ``n_members`` < 2, ``workers`` < 1, or ``physics_draws`` without
            ensemble physics; what :meth:`WorldModel.fit` raises.
        """
        self._check_n_members()
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ConfigError(
                f"`workers` must be an integer >= 1 (members trained at a time). Got {workers!r}."
            )
        data = names.as_trajectory_set(data, "fit")
        cfg = config or TrainConfig()
        jobs = self._member_jobs(data, cfg, validation)
        if workers == 1 or len(jobs) == 1:
            members = [_fit_member(*job) for job in jobs]
        else:
            members = _fit_in_processes(jobs, int(workers), cfg.progress)
        self.__dict__.pop("_stacked", None)
        self.members_, self.calibration_ = members, None
        return self

    def _member_jobs(
        self, data: TrajectorySet, cfg: TrainConfig, validation: TrajectorySet | None
    ) -> list[tuple[WorldModel, TrajectorySet, TrainConfig, TrajectorySet | None]]:
        """Per member, in order: the unfitted model (its physics drawn), its training
        resample, its config (seed ``cfg.seed + m``) and its validation episodes."""
        rng = np.random.default_rng(self.seed)
        jobs = []
        for m in range(int(self.n_members)):
            idx = np.arange(len(data))
            if self.bootstrap:
                idx = rng.integers(0, len(data), size=len(data))
            out_of_bag = np.setdiff1d(np.arange(len(data)), idx)
            val = validation
            if val is None and self.bootstrap and out_of_bag.size:
                val = TrajectorySet([data[int(i)] for i in out_of_bag])
            model = WorldModel.from_kind(
                self.kind, physics=self._member_physics(rng), **self.params
            )
            train = TrajectorySet([data[int(i)] for i in idx])
            jobs.append((model, train, cfg.replace(seed=cfg.seed + m), val))
        return jobs

    # ------------------------------------------------------------------ rollouts
    def _require_fitted(self, what: str) -> list[WorldModel]:
        members = getattr(self, "members_", None)
        if members is None:
            raise NotFittedError(
                f"This WorldModelEnsemble is not fitted yet; call .fit(data) before .{what}(), "
                f"or load a saved one with WorldModelEnsemble.load(path)."
            )
        return members

    @property
    def columns_(self) -> dict[str, Any] | None:
        """The training data's column mapping (the members'), so files read like theirs."""
        return self._require_fitted("columns_")[0].columns_

    @cached_property
    def _stacked(self) -> StackedDynamics | None:
        models = [m.model_ for m in self._require_fitted("rollout")]
        return StackedDynamics([m.dynamics for m in models]) if stackable(models) else None

    def rollout_samples(
        self, x0: Any, us: Any, t: Any = None, *, dt: float | None = None, solver: str | None = None
    ) -> Any:
        """Every member's open-loop rollout from the same initial states (trajectory samples).

        Args:
            x0: (batch, n_x) initial states (or (n_x,) with (T, n_u) actions).
            us: (batch, T, n_u) held actions.
            t: (T+1,) times, or ``dt`` a constant step.
            dt: constant step > 0 when ``t`` is None.
            solver: solver override.

        Returns:
            (M, batch, T+1, n_obs) rollouts ((M, T+1, n_obs) for a single state); numpy in →
            numpy out, torch in → torch out.

        Raises:
            As :meth:`WorldModel.rollout`.
        """
        members = self._require_fitted("rollout_samples")
        stacked = self._stacked
        if stacked is None:
            outs = [m.rollout(x0, us, t, dt=dt, solver=solver) for m in members]
            return torch.stack(outs) if isinstance(x0, torch.Tensor) else np.stack(outs)
        model = members[0].model_
        x0_t, us_t, t_t, single = prediction.rollout_inputs(
            model, x0, us, t, dt, solver, *dtype_device(model)
        )
        with torch.set_grad_enabled(x0_t.requires_grad or us_t.requires_grad):
            xs = stacked_rollout(stacked, model, x0_t, us_t, t_t, solver)
        xs = xs[:, 0] if single else xs
        return xs if isinstance(x0, torch.Tensor) else xs.detach().cpu().numpy()

    def spread(self, samples: Any) -> Any:
        """The predictive spread of trajectory samples (M, ..., T+1, n_obs): the members'
        standard deviation, recalibrated (floor and factor per step, see
        :class:`~hybridwm.metrics.Recalibration`) when :meth:`calibrate` has fitted one."""
        std = samples.std(0, correction=0) if isinstance(samples, torch.Tensor) else samples.std(0)
        cal = getattr(self, "calibration_", None)
        if cal is None:
            return std
        factor, floor = cal.terms(std.shape[-2])
        if isinstance(std, torch.Tensor):
            factor, floor = (
                torch.as_tensor(a, dtype=std.dtype, device=std.device) for a in (factor, floor)
            )
            return torch.sqrt((factor * std) ** 2 + floor**2)
        return np.sqrt((factor * std) ** 2 + floor**2)

    def rollout(
        self,
        x0: Any,
        us: Any,
        t: Any = None,
        *,
        dt: float | None = None,
        solver: str | None = None,
        return_std: bool = False,
    ) -> Any:
        """Mean open-loop prediction (and spread) over the members' trajectory samples.

        Args:
            x0, us, t, dt, solver: as for :meth:`rollout_samples`.
            return_std: also return the spread (see :meth:`spread`).

        Returns:
            (batch, T+1, n_obs) mean; with ``return_std``, ``(mean, std)`` of that shape.
        """
        samples = self.rollout_samples(x0, us, t, dt=dt, solver=solver)
        mean = samples.mean(0)
        return (mean, self.spread(samples)) if return_std else mean

    def _episode_samples(self, data: TrajectorySet, init: str | None, solver: str | None) -> list:
        """Per episode, the (M, T_e, n_obs) member predictions, batched by time grid."""
        members = self._require_fitted("predict")
        data = members[0]._check_data(data, "predict")
        if self._stacked is None:
            preds = [
                prediction.predict_episodes(
                    m.model_,
                    data,
                    optimize=(init or m.init) == "optimize",
                    init_window=m.init_window,
                    solver=solver,
                )
                for m in members
            ]
            return [np.stack(p) for p in zip(*preds, strict=True)]
        model = members[0].model_
        dtype, device = dtype_device(model)
        out: list[np.ndarray] = [np.empty(0)] * len(data)
        for key, idx in prediction.grid_groups(data).items():
            ts = [data[i].t - data[i].t[0] for i in idx]
            t = ts[0] if key.startswith(b"u") else np.stack(ts)  # shared or per-episode grid
            x0, us = (np.stack([data[i].x[0] for i in idx]), np.stack([data[i].u for i in idx]))
            tensors = [torch.as_tensor(a, dtype=dtype, device=device) for a in (x0, us, t)]
            with torch.no_grad():
                xs = stacked_rollout(self._stacked, model, *tensors, solver).cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = xs[:, j]
        return out

    def predict(
        self,
        data: TrajectorySet,
        *,
        on_diverge: str = "raise",
        init: str | None = None,
        solver: str | None = None,
        return_std: bool = False,
        quantiles: Any = None,
    ) -> Any:
        """Open-loop predictions of every episode from its first state under its own actions.

        Args:
            data: episodes with the members' observed state and action names.
            on_diverge, init, solver: as for :meth:`WorldModel.predict` (a member's
                divergence makes the mean diverge).
            return_std: return an :class:`EnsemblePrediction` with the spread.
            quantiles: levels in (0, 1) whose Gaussian quantiles the EnsemblePrediction holds.

        Returns:
            A TrajectorySet of the mean prediction (like :meth:`WorldModel.predict`), or with
            ``return_std``/``quantiles`` an :class:`EnsemblePrediction`.

        Raises:
            ConfigError: bad ``on_diverge``/``init``/``quantiles``; as :meth:`WorldModel.predict`.
        """
        prediction.check_predict_options(on_diverge, init or "encoder")
        qs = () if quantiles is None else _check_quantiles(quantiles)
        samples = self._episode_samples(data, init, solver)
        with np.errstate(invalid="ignore", over="ignore"):
            means = [s.mean(0) for s in samples]
        mean = prediction.as_predictions(data, means, f"{self.kind}-ensemble", on_diverge)
        if not return_std and not qs:
            return mean
        with np.errstate(invalid="ignore", over="ignore"):
            std = [self.spread(s) for s in samples]
        quants = {q: [m + float(ndtri(q)) * s for m, s in zip(means, std, strict=True)] for q in qs}
        return EnsemblePrediction(mean, std, samples, quants)

    def calibrate(self, validation: TrajectorySet, *, level: float = 0.9) -> WorldModelEnsemble:
        """Fit the spread's recalibration on validation episodes (not the training ones).

        Args:
            validation: held-out in-distribution episodes.
            level: the interval probability the scale factors match (see
                :func:`~hybridwm.metrics.fit_recalibration`).

        Returns:
            ``self`` with ``calibration_`` (saved with the ensemble).
        """
        self._require_fitted("calibrate")
        samples = self._episode_samples(validation, None, None)
        with np.errstate(invalid="ignore", over="ignore"):
            means, stds = [s.mean(0) for s in samples], [s.std(0) for s in samples]
        truth = [tr.x for tr in validation]
        self.calibration_ = fit_recalibration(means, stds, truth, level=level)
        return self

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ensemble as a directory, atomically: ``ensemble.json`` (settings and
        recalibration) and one model directory per member (``member0``, ...)."""
        members = self._require_fitted("save")
        settings = {
            "kind": self.kind,
            "n_members": len(members),
            "bootstrap": bool(self.bootstrap),
            "physics_draws": bool(self.physics_draws),
            "seed": int(self.seed),
        }
        return ensemble_files.save_ensemble(path, settings, members, self.calibration_)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        physics: Any = None,
        device: str | torch.device | None = None,
    ) -> WorldModelEnsemble:
        """Load a directory written by :meth:`save` (no pickles are read).

        Raises:
            FormatError: not an ensemble directory, or a file in it is damaged.
            IncompatibleVersionError: written by a newer format version.
        """
        settings, members, calibration = ensemble_files.read_ensemble(path, physics, device)
        ens = cls.from_members(members, calibration)
        ens.bootstrap, ens.physics_draws = settings["bootstrap"], settings["physics_draws"]
        ens.seed = settings["seed"]
        return ens
