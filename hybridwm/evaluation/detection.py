"""Change detection: is an incoming episode still what the world model was trained on?

A :class:`ChangeDetector` scores each episode from an ensemble
(:class:`~hybridwm.models.WorldModelEnsemble`) with up to two parts:

* ``disagreement``: the members' spread of their open-loop rollouts of the episode (from its
  first state under its actions), over every step after the first and every state, each state
  divided by its scale; high where the members extrapolate differently.
* ``residual`` (physics and hybrid ensembles): the one-step error of the mean model on the
  incoming samples, ``|x_{k+1} - f(x_k, u_k)|`` over the states' scales: how far the measured
  motion departs from the model's equations (physics plus residual).
* ``support`` (hybrid ensembles with a support gate, :mod:`hybridwm.dynamics.support`): how far
  the incoming samples lie from the training data, the distance of each sample's residual
  inputs to the nearest of the gate's anchors in units of the gate's cover, averaged over the
  samples and members. The gate switches the residual off out there, so the members agree
  and their disagreement alone would no longer see that the states are new.

Each part enters as its logarithm, standardized by its mean and standard deviation on
in-distribution validation episodes; the score is their sum. The threshold is the
``1 - false_alarm`` quantile of the validation scores, so about ``false_alarm`` of
in-distribution episodes are flagged. Detection quality is :func:`~hybridwm.metrics.auroc`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm._io import atomic_write_json
from hybridwm.config import load_mapping
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, FormatError
from hybridwm.metrics import default_scale, threshold_at
from hybridwm.models.ensemble import WorldModelEnsemble

__all__ = ["PARTS", "ChangeDetector", "score_parts"]

#: the score's parts
PARTS = ("disagreement", "residual", "support")
_FORMAT = "hybridwm.change-detector"


def _disagreement(ensemble: WorldModelEnsemble, data: TrajectorySet, scale: np.ndarray) -> Any:
    samples = ensemble.predict(data, on_diverge="nan", return_std=True).samples
    out = []
    for s in samples:
        with np.errstate(invalid="ignore", over="ignore"):
            spread = s[:, 1:].std(0) / scale
        out.append(float(np.mean(spread)) if np.isfinite(spread).all() else np.inf)
    return np.asarray(out)


def _residual(ensemble: WorldModelEnsemble, data: TrajectorySet, scale: np.ndarray) -> Any:
    out = []
    for tr in data:
        steps = np.round(np.diff(tr.t), 12)
        errors = []
        for dt in np.unique(steps):  # one batched one-step rollout per step length
            k = np.flatnonzero(steps == dt)
            pred = ensemble.rollout(tr.x[k], tr.u[k][:, None], dt=float(dt))[:, 1]
            with np.errstate(invalid="ignore", over="ignore"):
                errors.append(np.abs(pred - tr.x[k + 1]) / scale)
        err = np.concatenate(errors)
        out.append(float(np.mean(err)) if np.isfinite(err).all() else np.inf)
    return np.asarray(out)


def _gated(ensemble: WorldModelEnsemble) -> list[Any]:
    """The dynamics of the fully observed members that carry a support gate."""
    models = [m.model_ for m in ensemble.members_]
    return [
        m.dynamics
        for m in models
        if getattr(m.dynamics, "gate", None) is not None and m.fully_observed
    ]


def _support(ensemble: WorldModelEnsemble, data: TrajectorySet, scale: np.ndarray) -> Any:
    gated = _gated(ensemble)
    if not gated:
        raise ConfigError(
            "The detector's 'support' part needs an ensemble whose fully observed members carry "
            f"a support gate; this {ensemble.kind} ensemble's do not. Refit the detector on it."
        )
    out = []
    for tr in data:
        values = []
        for dyn in gated:
            kw = {"dtype": dyn.gate.anchors.dtype, "device": dyn.gate.anchors.device}
            with torch.no_grad():
                x, u = (torch.tensor(np.asarray(a), **kw) for a in (tr.x, tr.u))
                z = dyn.residual_inputs(x, u)
                values.append(dyn.gate.relative_distance(z).mean().item())
        out.append(float(np.mean(values)))
    return np.asarray(out)


def score_parts(
    ensemble: WorldModelEnsemble, data: TrajectorySet, scale: Any, parts: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The raw parts of every episode's score (see the module docstring).

    Args:
        ensemble: a fitted ensemble.
        data: episodes with its state and action names (at least 2 samples each).
        scale: (n_obs,) the states' scales (the validation data's std).
        parts: a subset of :data:`PARTS`.

    Returns:
        ``{part: (n_episodes,) values}`` (``inf`` for a diverged episode).
    """
    sc = np.asarray(scale, dtype=np.float64)
    funcs = {"disagreement": _disagreement, "residual": _residual, "support": _support}
    return {p: funcs[p](ensemble, data, sc) for p in parts}


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(values, 1e-300))


@dataclass
class ChangeDetector:
    """A fitted change detector (build it with :meth:`fit`).

    Attributes:
        parts: the parts of the score (:data:`PARTS`).
        center: per part, the mean log value on the validation episodes.
        spread: per part, the standard deviation of the log values there (> 0).
        scale: (n_obs,) the states' scales (validation std).
        threshold: scores above it are flagged.
        false_alarm: the fraction of validation episodes above ``threshold``'s quantile.
    """

    parts: tuple[str, ...]
    center: dict[str, float]
    spread: dict[str, float]
    scale: np.ndarray
    threshold: float
    false_alarm: float

    @classmethod
    def fit(
        cls,
        ensemble: WorldModelEnsemble,
        validation: TrajectorySet,
        *,
        parts: tuple[str, ...] | None = None,
        false_alarm: float = 0.05,
    ) -> ChangeDetector:
        """Standardize the parts and set the threshold on in-distribution validation episodes.

        Args:
            ensemble: a fitted ensemble.
            validation: in-distribution episodes not used for training (at least 2).
            parts: the score's parts (default: every part the ensemble has: disagreement
                always, residual for physics and hybrid ensembles, support for hybrid ones
                whose members carry a support gate).
            false_alarm: tolerated fraction of flagged in-distribution episodes, in [0, 1).

        Raises:
            ConfigError: an unknown part, or ``residual`` for a learned ensemble.
            DataError: fewer than 2 validation episodes, or a part not finite on them.
        """
        learned = ensemble.kind == "learned"
        has = ("disagreement",) + (() if learned else ("residual",))
        has += ("support",) if _gated(ensemble) else ()
        parts = has if parts is None else tuple(parts)
        if not parts or any(p not in has for p in parts):
            raise ConfigError(
                f"`parts` must be a non-empty subset of {list(PARTS)} ('residual' needs a physics "
                f"or hybrid ensemble, 'support' one whose members have a support gate); this "
                f"{ensemble.kind} ensemble has {list(has)}. Got {list(parts)}."
            )
        if not isinstance(validation, TrajectorySet) or len(validation) < 2:
            raise DataError("`validation` must be a TrajectorySet of at least 2 episodes.")
        scale = default_scale(np.concatenate([tr.x for tr in validation]), constant="one")
        raw = {p: _log(v) for p, v in score_parts(ensemble, validation, scale, parts).items()}
        bad = [p for p, v in raw.items() if not np.isfinite(v).all()]
        if bad:
            raise DataError(
                f"The {bad} part of the score is not finite on validation episodes (a member "
                f"diverged in distribution); fit the ensemble longer or give other episodes."
            )
        center = {p: float(v.mean()) for p, v in raw.items()}
        spread = {p: float(max(v.std(), 1e-12)) for p, v in raw.items()}
        det = cls(parts, center, spread, scale, 0.0, float(false_alarm))
        scores = sum((raw[p] - center[p]) / spread[p] for p in parts)
        det.threshold = threshold_at(scores, false_alarm)
        return det

    def score(self, ensemble: WorldModelEnsemble, data: TrajectorySet) -> dict[str, Any]:
        """Score every episode of ``data``.

        Returns:
            ``{"score": (n,), "flagged": (n,) bool, "threshold": float, <part>: (n,) raw}``
            (numpy arrays; ``inf`` for a diverged episode, which is flagged).
        """
        raw = score_parts(ensemble, data, self.scale, self.parts)
        score = sum((_log(raw[p]) - self.center[p]) / self.spread[p] for p in self.parts)
        return {
            "score": score,
            "flagged": score > self.threshold,
            "threshold": self.threshold,
            **raw,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "format": _FORMAT,
            "parts": list(self.parts),
            "center": self.center,
            "spread": self.spread,
            "scale": self.scale.tolist(),
            "threshold": self.threshold,
            "false_alarm": self.false_alarm,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "change detector") -> ChangeDetector:
        """Read :meth:`to_dict`'s form back, checked.

        Raises:
            FormatError: not a change detector document, or a field missing or malformed.
        """
        try:
            if data.get("format") != _FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            parts = tuple(str(p) for p in data["parts"])
            det = cls(
                parts,
                {p: float(data["center"][p]) for p in parts},
                {p: float(data["spread"][p]) for p in parts},
                np.asarray(data["scale"], dtype=np.float64),
                float(data["threshold"]),
                float(data["false_alarm"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{source} is not a change detector document ({exc}); refit it with "
                f"ChangeDetector.fit and save it again."
            ) from None
        if not set(parts) <= set(PARTS) or not all(v > 0 for v in det.spread.values()):
            raise FormatError(f"{source} has unknown parts or non-positive spreads; refit it.")
        return det

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the detector as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ChangeDetector:
        """Read a detector written by :meth:`save`; FormatError if it is not one."""
        return cls.from_dict(load_mapping(path), source=repr(str(path)))
