"""Honest diagnostics of a discovered model: warnings that say what is wrong and what to do next.

:func:`~hybridwm.physics.discover` runs these checks on its own result (``diagnostics=True``,
the default) and issues each finding as a :class:`DiscoveryWarning` naming the next step:

* **poor held-out fit**: the held-out R² of an equation (from the model selection's folds, see
  :mod:`hybridwm.physics.selection`) is below :data:`MIN_HELDOUT_R2`;
* **divergence on its own data**: the model, integrated open-loop from the initial states of (up
  to :data:`MAX_ROLLOUTS`) training episodes with their actions, diverges
  (:func:`hybridwm.metrics.diverged_mask`, judged on the data's own scale);
* **collinear regressors**: the chosen terms of an equation are nearly linearly dependent on the
  data: the condition number of their columns, each scaled to unit RMS, exceeds
  :data:`MAX_CONDITION` (Belsley, Kuh and Welsch's "strong dependence" level), so their
  coefficients trade off against each other and are poorly determined;
* **flagged samples**: the data marks samples at joint/rail limits or in contact. The check reads
  per-sample flags from each trajectory's ``meta["events"]``: a mapping from an event name (e.g.
  ``"at_limit"``, ``"in_contact"``, see :data:`EVENT_KEY`) to a length-``T`` sequence of
  booleans. Such samples follow other equations (constraint forces) than the smooth dynamics.

Every finding is also recorded in ``model.info["diagnostics"]`` (a list of dicts with ``check``,
``message`` and the numbers), so scripts can read them without catching warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.metrics import diverged_mask

__all__ = [
    "EVENT_KEY",
    "MAX_CONDITION",
    "MAX_ROLLOUTS",
    "MIN_HELDOUT_R2",
    "DiscoveryWarning",
    "collinearity",
    "divergence",
    "flagged_samples",
    "heldout_fit",
    "issue",
]

#: held-out R² below which an equation is reported as a poor fit
MIN_HELDOUT_R2 = 0.9
#: condition number (unit-RMS columns) above which the chosen terms count as collinear
MAX_CONDITION = 100.0
#: training episodes the divergence check integrates (the first ones)
MAX_ROLLOUTS = 16
#: the key of ``Trajectory.meta`` that holds per-sample event flags
EVENT_KEY = "events"


class DiscoveryWarning(UserWarning):
    """A discovered model is doubtful; the message says why and what to try next."""


def issue(findings: Sequence[dict[str, Any]], stacklevel: int = 3) -> None:
    """Warn once per finding (a :class:`DiscoveryWarning` with the finding's message)."""
    for f in findings:
        warnings.warn(f["message"], DiscoveryWarning, stacklevel=stacklevel)


def heldout_fit(r2: dict[str, float]) -> list[dict[str, Any]]:
    """Findings for equations whose held-out R² is below :data:`MIN_HELDOUT_R2`.

    Args:
        r2: held-out R² per state (the derivative's equation).
    """
    poor = {s: v for s, v in r2.items() if not v >= MIN_HELDOUT_R2}
    if not poor:
        return []
    listed = ", ".join(f"d({s})/dt {v:.3f}" for s, v in poor.items())
    return [
        {
            "check": "heldout_r2",
            "r2": poor,
            "message": (
                f"Held-out R² below {MIN_HELDOUT_R2}: {listed}. The library cannot describe "
                f"these derivatives on unseen episodes. Next: look for samples at joint/rail "
                f"limits or in contact and mask them; for configuration-dependent inertia "
                f"(cart-pole, arms) try the rational path (denominator='cos(theta)'); or "
                f"declare the known physics as a prior (hybridwm.physics.declare)."
            ),
        }
    ]


def divergence(model: Any, data: TrajectorySet) -> list[dict[str, Any]]:
    """A finding when ``model`` diverges on some of its first :data:`MAX_ROLLOUTS` training
    episodes (integrated from their initial states with their actions, RK4 on their grids).

    Args:
        model: the discovered :class:`~hybridwm.physics.PhysicsModel`.
        data: the training trajectories (columns in the model's order).
    """
    episodes = list(data)[:MAX_ROLLOUTS]
    groups: dict[tuple[int, bytes], list[int]] = {}
    for i, tr in enumerate(episodes):
        groups.setdefault((len(tr), tr.t.tobytes()), []).append(i)
    bad: list[int] = []
    for members in groups.values():
        t = episodes[members[0]].t
        x0 = np.stack([episodes[i].x[0] for i in members])
        u = np.stack([episodes[i].u for i in members])
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            pred = model.simulate(x0, u if model.n_u else None, t)
        true = np.concatenate([episodes[i].x for i in members])
        mask = diverged_mask(np.nan_to_num(pred, nan=np.inf), true=true)
        bad.extend(members[j] for j in np.flatnonzero(mask))
    if not bad:
        return []
    return [
        {
            "check": "divergence",
            "episodes": sorted(bad),
            "message": (
                f"The discovered model diverges on {len(bad)} of the {len(episodes)} training "
                f"episodes checked (episodes {sorted(bad)[:8]}), integrated open-loop from their "
                f"own initial states. Next: mask samples at limits or in contact, raise the "
                f"sparsity (a larger `threshold`), use a smaller library, or try the rational "
                f"path for mass-matrix systems."
            ),
        }
    ]


def collinearity(
    theta: np.ndarray, coef: np.ndarray, state_names: Sequence[str], feature_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Findings for equations whose chosen terms are nearly collinear on the data.

    Args:
        theta: (N, k) the regressors the model was fitted on.
        coef: (r, k) the chosen coefficients (nonzero: chosen terms).
        state_names: the ``r`` equations' states.
        feature_names: the ``k`` features' names.
    """
    scale = np.sqrt(np.mean(theta**2, axis=0))
    scaled = theta / np.where(scale > 0, scale, 1.0)
    out: list[dict[str, Any]] = []
    for i, state in enumerate(state_names):
        cols = np.flatnonzero(coef[i])
        if cols.size < 2:
            continue
        cond = float(np.linalg.cond(scaled[:, cols]))
        if cond > MAX_CONDITION:
            names = [feature_names[c] for c in cols]
            out.append(
                {
                    "check": "collinearity",
                    "state": state,
                    "condition_number": cond,
                    "terms": names,
                    "message": (
                        f"The terms of d({state})/dt {names} are nearly collinear on the data "
                        f"(condition number {cond:.3g} > {MAX_CONDITION:g}): their coefficients "
                        f"trade off and are poorly determined. Next: add data that excites "
                        f"them differently (wider ranges of states and actions), drop one of "
                        f"the look-alike features, or declare the known physics as a prior."
                    ),
                }
            )
    return out


def flagged_samples(data: TrajectorySet) -> list[dict[str, Any]]:
    """A finding per event name when some samples are flagged in ``meta["events"]``.

    Args:
        data: the trajectories; ``tr.meta["events"][name]`` is a (T,) sequence of booleans.
    """
    episodes: dict[str, list[int]] = {}
    samples: dict[str, int] = {}
    for i, tr in enumerate(data):
        for name, flags in (tr.meta.get(EVENT_KEY) or {}).items():
            n = int(np.count_nonzero(np.asarray(flags, dtype=bool)))
            if n:
                episodes.setdefault(str(name), []).append(i)
                samples[str(name)] = samples.get(str(name), 0) + n
    out: list[dict[str, Any]] = []
    total = int(data.lengths.sum())
    for name, eps in episodes.items():
        n = samples[name]
        out.append(
            {
                "check": "events",
                "event": name,
                "samples": n,
                "episodes": eps,
                "message": (
                    f"{n} of {total} samples ({n / total:.1%}) in {len(eps)} of {len(data)} "
                    f"episodes are flagged {name!r}: there constraint or contact forces act that "
                    f"the smooth equations do not describe, and they bias the fit. Next: mask "
                    f'these samples before discovery, e.g. `hybridwm discover --mask "not {name}"` '
                    f'or `hybridwm.data.mask_rows(data, "not {name}").data` (episodes are split '
                    f"at the masked rows)."
                ),
            }
        )
    return out
