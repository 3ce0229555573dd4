"""Detection metrics: how well a score separates two groups (in-distribution vs shifted), and
the threshold that keeps a chosen false-alarm rate on in-distribution data."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from hybridwm.errors import ConfigError, DataError

__all__ = ["auroc", "threshold_at"]


def _scores(values: Any, name: str) -> np.ndarray:
    a = np.ravel(np.asarray(values, dtype=np.float64))
    if a.size == 0 or np.isnan(a).any():
        raise DataError(
            f"`{name}` must be a non-empty array of scores without NaN (+inf is allowed: a "
            f"diverged episode scores highest). Got {a.size} values, {int(np.isnan(a).sum())} NaN."
        )
    return a


def auroc(negatives: Any, positives: Any) -> float:
    """Area under the ROC curve of a score that should be higher for ``positives``.

    The probability that a random positive scores above a random negative, ties counting one
    half (the Mann-Whitney U statistic over ``n_neg * n_pos``); 0.5 is chance, 1 perfect.

    Args:
        negatives: (n_neg,) scores of the in-distribution group.
        positives: (n_pos,) scores of the shifted group.

    Returns:
        AUROC in [0, 1].

    Raises:
        DataError: a group is empty or holds NaN.
    """
    neg, pos = _scores(negatives, "negatives"), _scores(positives, "positives")
    ranks = rankdata(np.concatenate([neg, pos]))
    u = ranks[neg.size :].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (neg.size * pos.size))


def threshold_at(scores: Any, false_alarm: float = 0.05) -> float:
    """The threshold above which a score is flagged, set on in-distribution ``scores`` so
    that at most ``false_alarm`` of them are flagged (their ``1 - false_alarm`` quantile,
    taken as the next higher observed score).

    Args:
        scores: (n,) in-distribution (validation) scores.
        false_alarm: the tolerated fraction of flagged in-distribution episodes, in [0, 1).

    Raises:
        DataError: ``scores`` is empty or holds NaN. ConfigError: ``false_alarm`` out of range.
    """
    if not isinstance(false_alarm, (int, float)) or not 0.0 <= float(false_alarm) < 1.0:
        raise ConfigError(f"`false_alarm` must be a number in [0, 1). Got {false_alarm!r}.")
    return float(np.quantile(_scores(scores, "scores"), 1.0 - false_alarm, method="higher"))
