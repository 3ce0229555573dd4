"""Model selection: the number of terms of each equation chosen on held-out data.

How sparse a model should be depends on the noise, the library and the units, so it is chosen
from the data, not set by hand. A *path* of models of decreasing size is fitted, each scored on
held-out trajectories (K folds: each fold's trajectories are left out in turn, or contiguous
blocks of rows when there is only one trajectory), and, per equation, the sparsest model whose
mean held-out error is within one standard error of the best is kept (the "one-standard-error
rule", Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, 7.10): the
sparsest model that the held-out data cannot tell apart from the best one.

The automatic path is *backward elimination* (:func:`elimination_path`): start from the least
squares fit on every feature and repeatedly drop the term whose removal raises the training
residual least, refitting the rest, down to one term. It is written here rather than taken from
pysindy for two reasons. Sequential thresholding (STLSQ) cuts by coefficient size, and in a
generic library with look-alike columns (``omega``, ``omega*cos(theta)``, ``omega*sin(theta)^2``
on a pendulum that swings little) the least-squares coefficients of the look-alikes are large
and of opposite sign, so no threshold separates the true term: measured on the pendulum with
``trig-poly`` at 1% noise, the STLSQ path kept a wrong damping term. Removal by residual does
not have this failure. And pysindy's ``SSR(criteria="model_residual")`` refits every candidate
removal by least squares on all rows (``O(N k^2)`` each, ``k^2`` of them per path); here the
removal cost of every term comes at once from the inverse Gram matrix (the residual rises by
``beta_j^2 / (G^-1)_jj``), so a whole path costs about one pass over the rows.

Every candidate is also fitted on all rows, and the chosen one *is* the model (the coefficients
:func:`~hybridwm.physics.discover` returns, prints and simulates). The table
(``info["selection"]``) lists, per equation and candidate, the number of terms, the held-out RMSE
and R², whether it is on the Pareto front of terms vs held-out error, and which was chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.errors import DataError

__all__ = [
    "Path",
    "Selection",
    "chosen_fit",
    "elimination_path",
    "fixed_path",
    "fold_ids",
    "format_selection",
    "select_sparse",
]

#: a path of models: ``(theta (N, k), dx (N, r)) -> C (n_candidates, r, k)``, candidates in
#: the same order for every call (for elimination: ``k``, ``k - 1``, ... 1 terms)
Path = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: ridge weight of the elimination's least squares, relative to the rows (columns at unit RMS)
ELIMINATION_RIDGE = 1e-10
#: supports of at most this many terms are improved by exchanges (one term out, one in)
EXCHANGE_SIZE = 12
#: the most exchanges tried per support
MAX_EXCHANGES = 10


@dataclass
class Selection:
    """The result of :func:`select_sparse`.

    Attributes:
        coef: (r, k) the chosen coefficients: row ``i`` is candidate ``index[i]`` fitted on all
            rows.
        index: (r,) the chosen candidate of each equation (its position in the path).
        r2: (r,) the held-out R² of each equation at its chosen candidate.
        table: one dict per equation and candidate: ``state``, ``terms``, ``heldout_rmse``,
            ``heldout_r2``, ``pareto``, ``chosen``.
        rule: how the candidate was chosen (text).
        folds: the number of held-out folds.
    """

    coef: np.ndarray
    index: np.ndarray
    r2: np.ndarray
    table: list[dict[str, Any]] = field(default_factory=list)
    rule: str = ""
    folds: int = 0


def fold_ids(trajectory: np.ndarray, row: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(N,) the held-out fold of each regression row.

    Args:
        trajectory: (N,) trajectory index of each row.
        row: (N,) sample index of each row within its trajectory.
        folds: the number of folds wanted (>= 2).
        seed: seed of the assignment of trajectories to folds.

    Returns:
        Fold indices in ``0 .. K-1``: whole trajectories per fold when there are at least two
        trajectories (``K = min(folds, n_trajectories)``), contiguous blocks of rows otherwise.

    Raises:
        DataError: fewer rows than folds.
    """
    n = len(trajectory)
    if n < folds:
        raise DataError(
            f"{n} regression rows cannot be split into {folds} held-out folds; add data or "
            f"lower `folds`."
        )
    groups = np.unique(trajectory)
    if len(groups) >= 2:
        k = min(folds, len(groups))
        perm = np.random.default_rng(seed).permutation(len(groups))
        fold_of = np.empty(len(groups), dtype=np.int64)
        fold_of[perm] = np.arange(len(groups)) % k
        return fold_of[np.searchsorted(groups, trajectory)]
    order = np.argsort(row, kind="stable")
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) * folds // n
    return out


def _solve(gram: np.ndarray, xty: np.ndarray, support: np.ndarray, ridge: float) -> tuple:
    """``(inverse, beta, explained)`` of the least squares on ``support``: ``explained =
    xty_S . beta`` (the residual is ``y.y - explained``)."""
    inv = np.linalg.inv(gram[np.ix_(support, support)] + ridge * np.eye(len(support)))
    beta = inv @ xty[support]
    return inv, beta, float(xty[support] @ beta)


def _best_swap(
    gram: np.ndarray, xty: np.ndarray, support: np.ndarray, ridge: float
) -> tuple[float, np.ndarray]:
    """The best single exchange of a term of ``support`` for one outside it: ``(explained,
    new support)``; adding ``j`` to ``T`` explains ``(xty_j - G_jT beta_T)^2 / (G_jj -
    G_jT G_TT^-1 G_Tj)`` more (the Schur complement), computed for every ``j`` at once."""
    best, best_support = -np.inf, support
    outside = np.setdiff1d(np.arange(len(xty)), support)
    if not outside.size:
        return best, best_support
    diag = gram[outside, outside] + ridge
    if len(support) == 1:  # the best single term
        gain = xty[outside] ** 2 / diag
        return float(gain.max()), outside[[int(np.argmax(gain))]]
    full = _solve(gram, xty, support, ridge)[0]
    cross_all = gram[np.ix_(outside, support)]  # (n_out, s)
    for pos in range(len(support)):
        keep = np.arange(len(support)) != pos
        # the inverse without term ``pos``: a rank-one downdate of the full inverse
        inv = full[keep][:, keep] - np.outer(full[keep, pos], full[pos, keep]) / full[pos, pos]
        beta = inv @ xty[support[keep]]
        cross = cross_all[:, keep]
        gain = (xty[outside] - cross @ beta) ** 2 / np.maximum(
            diag - ((cross @ inv) * cross).sum(axis=1), 1e-300
        )
        j = int(np.argmax(gain))
        total = float(xty[support[keep]] @ beta) + gain[j]
        if total > best:
            best, best_support = total, np.sort(np.append(support[keep], outside[j]))
    return best, best_support
    full = _solve(gram, xty, support, ridge)[0]
    for pos in range(len(support)):
        rest = np.delete(support, pos)
        if rest.size:
            # the inverse without term ``pos``: a rank-one downdate of the full inverse
            keep = np.delete(np.arange(len(support)), pos)
            inv = (
                full[np.ix_(keep, keep)]
                - np.outer(full[keep, pos], full[pos, keep]) / full[pos, pos]
            )
            beta = inv @ xty[rest]
            expl = float(xty[rest] @ beta)
            cross = gram[np.ix_(outside, rest)]
            num = (xty[outside] - cross @ beta) ** 2
            den = gram[outside, outside] + ridge - np.einsum("jt,ts,js->j", cross, inv, cross)
        else:
            expl, num, den = 0.0, xty[outside] ** 2, gram[outside, outside] + ridge
        gain = num / np.maximum(den, 1e-300)
        j = int(np.argmax(gain))
        if expl + gain[j] > best:
            best, best_support = expl + gain[j], np.sort(np.append(rest, outside[j]))
    return best, best_support


def _eliminate(gram: np.ndarray, xty: np.ndarray, ridge: float) -> np.ndarray:
    """Backward elimination of one equation on its normal equations, with exchange steps.

    From all ``k`` terms, the term whose removal raises the residual least (``beta_i^2 /
    (G^-1)_ii``) is dropped, one at a time. Once at most :data:`EXCHANGE_SIZE` terms remain,
    each support is improved by exchanges (one term out, one in) while an exchange lowers the
    residual: greedy removal alone can drop a true term whose look-alikes (``omega`` vs
    ``omega*cos(theta)`` and ``omega*sin(theta)^2``) jointly stand in for it.

    Args:
        gram: (k, k) ``X^T X`` of the (scaled) regressors.
        xty: (k,) ``X^T y``.
        ridge: ridge weight added to the diagonal.

    Returns:
        (k, k): row ``j`` holds the coefficients of the model with ``k - j`` terms.
    """
    k = len(xty)
    out = np.zeros((k, k))
    support = np.arange(k)
    for j in range(k):
        inv, beta, expl = _solve(gram, xty, support, ridge)
        if len(support) <= EXCHANGE_SIZE:
            for _ in range(MAX_EXCHANGES):
                better, swapped = _best_swap(gram, xty, support, ridge)
                if not better > expl * (1.0 + 1e-12):
                    break
                support = swapped
                inv, beta, expl = _solve(gram, xty, support, ridge)
        out[j, support] = beta
        if len(support) > 1:
            support = np.delete(support, int(np.argmin(beta**2 / np.diag(inv))))
    return out


def elimination_path(theta: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """The backward-elimination path of every equation (see the module docstring).

    Args:
        theta: (N, k) regressors.
        dx: (N, r) targets.

    Returns:
        (k, r, k) coefficients: ``[j, i]`` is equation ``i`` with ``k - j`` terms.
    """
    scale = np.sqrt(np.mean(theta**2, axis=0))
    scale[scale == 0] = 1.0
    xs = theta / scale
    gram = xs.T @ xs
    xty = xs.T @ dx
    ridge = ELIMINATION_RIDGE * len(xs)
    paths = [_eliminate(gram, xty[:, i], ridge) for i in range(dx.shape[1])]
    return np.stack(paths, axis=1) / scale


def fixed_path(fit: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Path:
    """A one-candidate path: the given fit (e.g. an optimizer with its own threshold)."""
    return lambda theta, dx: fit(theta, dx)[None]


def _fold_errors(
    theta: np.ndarray, dx: np.ndarray, fold: np.ndarray, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out errors: ``mse`` (n_cand, K, r) mean squared error per fold, ``sse``
    (n_cand, K, r) its sum, and ``sst`` (K, r) the held-out sum of squares about the mean."""
    k = int(fold.max()) + 1
    mse, sse, sst = [], [], []
    for f in range(k):
        test = fold == f
        y = dx[test]
        coefs = path(theta[~test], dx[~test])  # (n_cand, r, k)
        err = (np.einsum("nk,crk->cnr", theta[test], coefs) - y) ** 2
        sse.append(err.sum(axis=1))
        mse.append(err.mean(axis=1))
        sst.append(((y - y.mean(axis=0)) ** 2).sum(axis=0))
    return np.stack(mse, axis=1), np.stack(sse, axis=1), np.stack(sst)


def _pareto(terms: np.ndarray, err: np.ndarray) -> np.ndarray:
    """(n,) True where no other candidate has at most as many terms and a lower error."""
    return np.array([not np.any((terms <= t) & (err < e)) for t, e in zip(terms, err, strict=True)])


def select_sparse(
    theta: np.ndarray,
    dx: np.ndarray,
    fold: np.ndarray,
    path: Path,
    state_names: Sequence[str],
) -> Selection:
    """Choose each equation's model from ``path`` by held-out error (one-SE rule).

    Args:
        theta: (N, k) regressors.
        dx: (N, r) derivative targets (or their weak-form averages).
        fold: (N,) held-out fold of each row (:func:`fold_ids`).
        path: the candidates (:func:`elimination_path`, or :func:`fixed_path` to only
            cross-validate one model).
        state_names: the ``r`` names of the equations (for the table).

    Returns:
        The :class:`Selection`.
    """
    mse, sse, sst = _fold_errors(theta, dx, fold, path)
    k = mse.shape[1]
    full = path(theta, dx)  # (n_cand, r, k_features)
    terms = (full != 0).sum(axis=2)  # (n_cand, r)
    mean = mse.mean(axis=1)  # (n_cand, r)
    se = mse.std(axis=1, ddof=1) / np.sqrt(k) if k > 1 else np.zeros_like(mean)
    tot = sst.sum(axis=0)
    r2_all = 1.0 - sse.sum(axis=1) / np.where(tot > 0, tot, 1.0)
    r = dx.shape[1]
    chosen = np.empty(r, dtype=np.int64)
    table: list[dict[str, Any]] = []
    for i in range(r):
        best = int(np.argmin(mean[:, i]))
        ok = np.flatnonzero(mean[:, i] <= mean[best, i] + se[best, i])
        chosen[i] = int(ok[np.argmin(terms[ok, i])])  # the sparsest admissible candidate
        front = _pareto(terms[:, i], mean[:, i])
        for c in range(len(full)):
            table.append(
                {
                    "state": state_names[i],
                    "terms": int(terms[c, i]),
                    "heldout_rmse": float(np.sqrt(mean[c, i])),
                    "heldout_r2": float(r2_all[c, i]),
                    "pareto": bool(front[c]),
                    "chosen": bool(c == chosen[i]),
                }
            )
    rows = np.arange(r)
    return Selection(
        coef=full[chosen, rows],
        index=chosen,
        r2=r2_all[chosen, rows],
        table=table,
        rule=(
            "per equation, the fewest terms whose mean held-out MSE is within one standard "
            "error of the best"
            if len(full) > 1
            else "the given optimizer and threshold (held-out errors for reference)"
        ),
        folds=k,
    )


def chosen_fit(path: Path, index: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The fit that gives equation ``i`` candidate ``index[i]`` of ``path`` (for bagging with
    the sizes a :class:`Selection` chose)."""

    def run(theta: np.ndarray, dx: np.ndarray) -> np.ndarray:
        return path(theta, dx)[index, np.arange(dx.shape[1])]

    return run


def format_selection(record: dict[str, Any], pareto_only: bool = True) -> list[str]:
    """Readable lines of ``info["selection"]`` for the CLI: per equation, the candidates
    (number of terms, held-out RMSE and R²), the chosen one marked with ``*``.

    Args:
        record: ``model.info["selection"]``.
        pareto_only: list only the Pareto front of terms vs held-out error.
    """
    lines = [f"Model selection ({record.get('rule', '')}; {record.get('folds', 0)} folds):"]
    lines.append(f"  {'equation':<14} {'terms':>5} {'held-out RMSE':>14} {'held-out R²':>12}")
    for e in record.get("table", []):
        if pareto_only and not (e["pareto"] or e["chosen"]):
            continue
        mark = "*" if e["chosen"] else " "
        lines.append(
            f"{mark} {'d(' + e['state'] + ')/dt':<14} {e['terms']:>5} "
            f"{e['heldout_rmse']:>14.4g} {e['heldout_r2']:>12.6f}"
        )
    return lines
