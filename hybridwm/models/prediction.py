"""Prediction: the one batched open-loop predictor, and the checks of rollout inputs.

Episodes that share a time grid (up to an offset) are rolled out together; irregular grids of
the same length are batched with per-sample times. Models with unmeasured coordinates estimate
their initial values from each episode's first samples: with the trained encoder, or
(``init="optimize"``) by fitting them to the first ``init_window`` samples with L-BFGS.
:meth:`WorldModel.predict <hybridwm.models.WorldModel.predict>` and
:func:`hybridwm.evaluation.evaluate` both go through :func:`predict_episodes`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import SOLVERS, ODEModel
from hybridwm.errors import ConfigError, DataError, ShapeError
from hybridwm.models.building import dtype_device
from hybridwm.models.spec import INITS

__all__ = [
    "ON_DIVERGE",
    "as_predictions",
    "check_predict_options",
    "grid_groups",
    "optimize_initial",
    "predict_episodes",
    "rollout_inputs",
]

#: what ``predict`` does with a diverged episode
ON_DIVERGE = ("raise", "nan")


def check_predict_options(on_diverge: str, init: str) -> None:
    """Check ``predict``'s ``on_diverge`` and ``init`` options.

    Raises:
        ConfigError: either is not one of its valid names (listed).
    """
    if on_diverge not in ON_DIVERGE:
        raise ConfigError(f"`on_diverge` must be one of {list(ON_DIVERGE)}. Got {on_diverge!r}.")
    if init not in INITS:
        raise ConfigError(f"`init` must be one of {list(INITS)}. Got {init!r}.")


# ------------------------------------------------------------------------------ rollout inputs
def _to_tensor(a: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    try:
        if isinstance(a, torch.Tensor):
            return a.to(device=device, dtype=dtype)
        return torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be a numeric array. Converting it failed: {exc}.") from None


def _check_finite(a: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(a).all()):
        where = torch.nonzero(~torch.isfinite(a))[0].tolist()
        raise DataError(
            f"`{name}` holds NaN or inf (first at index {tuple(where)}); a rollout needs finite "
            f"initial states and actions. Drop or interpolate the bad values first."
        )


def _check_x0(model: ODEModel, x0: torch.Tensor) -> None:
    n_x = model.dynamics.n_x
    if x0.ndim == 2 and x0.shape[1] == n_x:
        return
    hint = ""
    if x0.ndim == 2 and x0.shape[1] == len(model.observed_names) and not model.fully_observed:
        hint = (
            f" The model has unobserved coordinates {list(model.hidden_names)}: give full "
            f"states, or use predict(data) to start from observations."
        )
    raise ShapeError(
        f"`x0` must be (batch, n_x) = (batch, {n_x}) for states "
        f"{list(model.state_names)}; got shape {tuple(x0.shape)}.{hint}"
    )


def _time_grid(
    t: Any, dt: float | None, n_steps: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(T+1,) times from ``t``, or ``dt * arange(n_steps + 1)``; checked."""
    if t is None:
        if dt is None:
            raise ConfigError("Give the sample times `t` (T+1,) or a step `dt`.")
        if not float(dt) > 0:
            raise ConfigError(f"`dt` must be > 0. Got {dt!r} instead.")
        return float(dt) * torch.arange(n_steps + 1, dtype=dtype, device=device)
    t_t = _to_tensor(t, "t", dtype, device)
    if t_t.ndim != 1 or t_t.shape[0] < 2:
        raise ShapeError(f"`t` must be (T+1,) with T >= 1; got shape {tuple(t_t.shape)}.")
    _check_finite(t_t, "t")
    steps = t_t[1:] - t_t[:-1]
    if not bool((steps > 0).all()):
        i = int(torch.nonzero(steps <= 0)[0]) + 1
        raise DataError(
            f"`t` must be strictly increasing; t[{i}] = {float(t_t[i])!r} follows "
            f"t[{i - 1}] = {float(t_t[i - 1])!r}. Sort the times and drop duplicates."
        )
    return t_t


def rollout_inputs(
    model: ODEModel,
    x0: Any,
    us: Any,
    t: Any,
    dt: float | None,
    solver: str | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Checked tensors for :meth:`WorldModel.rollout <hybridwm.models.WorldModel.rollout>`.

    Args:
        model: the fitted model.
        x0: (batch, n_x) or (n_x,) initial states.
        us: (batch, T, n_u) actions, or (T, n_u) with a single state.
        t: (T+1,) strictly increasing times, or None with ``dt``.
        dt: constant step > 0 when ``t`` is None.
        solver: solver override (checked), or None.
        dtype: the model's floating-point type.
        device: the model's device.

    Returns:
        ``(x0, us, t, single)``: (batch, n_x), (batch, T, n_u), (T+1,) tensors, and whether a
        single state was given (the caller drops the batch axis again).

    Raises:
        ShapeError, DataError (NaN, non-increasing ``t``), ConfigError (``dt <= 0``),
        UnknownNameError (solver).
    """
    x0_t = _to_tensor(x0, "x0", dtype, device)
    us_t = _to_tensor(us, "us", dtype, device)
    single = x0_t.ndim == 1
    if single:
        x0_t = x0_t[None]
        if us_t.ndim == 2:
            us_t = us_t[None]
    _check_x0(model, x0_t)
    n_u = model.dynamics.n_u
    if us_t.ndim != 3 or us_t.shape[0] != x0_t.shape[0] or us_t.shape[2] != n_u:
        raise ShapeError(
            f"`us` must be (batch, T, n_u) = ({x0_t.shape[0]}, T, {n_u}) for actions "
            f"{list(model.action_names)}; got shape {tuple(us_t.shape)}."
        )
    t_t = _time_grid(t, dt, us_t.shape[1], dtype, device)
    if us_t.shape[1] not in (t_t.shape[0] - 1, t_t.shape[0]):
        raise ShapeError(
            f"`us` has {us_t.shape[1]} time rows but `t` has {t_t.shape[0]} samples; give "
            f"T = {t_t.shape[0] - 1} actions for T+1 = {t_t.shape[0]} times."
        )
    _check_finite(x0_t, "x0")
    _check_finite(us_t, "us")
    if solver is not None:
        SOLVERS[solver]
    return x0_t, us_t, t_t, single


# ------------------------------------------------------------------------------ batched predictor
def grid_groups(data: TrajectorySet) -> dict[bytes, list[int]]:
    """Episodes that can be rolled out in one batch, in order of first appearance.

    Uniform grids (and episodes of fewer than 3 samples) are grouped by their times from the
    start, rounded to 1e-9; irregular grids by their length (each keeps its own times).

    Returns:
        ``{key: [episode indices]}``; a key starting with ``b"u"`` marks a shared grid.
    """
    groups: dict[bytes, list[int]] = {}
    for i, tr in enumerate(data):
        if tr.is_uniform or len(tr) < 3:
            key = b"u" + np.round(tr.t - tr.t[0], 9).tobytes()
        else:
            key = b"n" + np.int64(len(tr)).tobytes()
        groups.setdefault(key, []).append(i)
    return groups


def predict_episodes(
    model: ODEModel,
    data: TrajectorySet,
    *,
    optimize: bool = False,
    init_window: int = 1,
    solver: str | None = None,
) -> list[np.ndarray]:
    """Open-loop predictions of every episode from its first sample(s) under its actions.

    Args:
        model: the fitted model; ``data`` has its observed states and actions.
        data: the episodes (any lengths and time grids, each at least
            ``max(2, model.encoder_window)`` samples).
        optimize: fit the unmeasured initial coordinates to the first ``init_window`` samples
            (see :func:`optimize_initial`) instead of taking the encoder's estimate.
        init_window: samples fitted when ``optimize``.
        solver: solver override.

    Returns:
        Per episode, (T_e, n_obs) predicted observations on its own grid; NaN/inf where a
        rollout diverged.

    Raises:
        DataError: an episode is too short.
    """
    need = max(2, model.encoder_window)
    short = [i for i, tr in enumerate(data) if len(tr) < need]
    if short:
        raise DataError(
            f"Episodes {short} have fewer than {need} samples; predict needs at least "
            f"{need} per episode."
        )
    optimize = optimize and bool(model.hidden_names)
    k = max(model.encoder_window, int(init_window) if optimize else 1)
    dtype, device = dtype_device(model)
    as_tensor = {"dtype": dtype, "device": device}
    preds: list[np.ndarray] = [np.empty(0)] * len(data)
    model.eval()
    for key, idx in grid_groups(data).items():
        if key.startswith(b"u"):
            t = torch.as_tensor(data[idx[0]].t - data[idx[0]].t[0], **as_tensor)
        else:
            t = torch.as_tensor(np.stack([data[i].t - data[i].t[0] for i in idx]), **as_tensor)
        x = torch.as_tensor(np.stack([data[i].x for i in idx]), **as_tensor)
        u = torch.as_tensor(np.stack([data[i].u for i in idx]), **as_tensor)
        hidden = optimize_initial(model, x, u, t, min(k, x.shape[1]), solver) if optimize else None
        with torch.no_grad():
            p = model(x, u, t, hidden=hidden, solver=solver).cpu().numpy()
        for j, i in enumerate(idx):
            preds[i] = p[j]
    return preds


def optimize_initial(
    model: ODEModel,
    x: torch.Tensor,
    u: torch.Tensor,
    t: torch.Tensor,
    k: int,
    solver: str | None,
    iterations: int = 50,
) -> torch.Tensor:
    """Hidden initial coordinates fitted to the first ``k`` samples, the model frozen.

    Starts from the encoder's estimate and minimizes the normalized squared error of the
    predicted observations over the first ``k`` samples with L-BFGS.

    Args:
        model: the fitted model (its parameters are frozen meanwhile, then restored).
        x: (batch, T+1, n_obs) observations.
        u: (batch, T+1, n_u) actions.
        t: (T+1,) or (batch, T+1) times.
        k: samples fitted.
        solver: solver override.
        iterations: L-BFGS iterations.

    Returns:
        (batch, n_hidden) fitted hidden initial values (the encoder's if the fit is not finite).
    """
    with torch.no_grad():
        h0 = model.encoder(x, u, t) if model.encoder is not None else None
    if h0 is None:
        h0 = x.new_zeros((x.shape[0], len(model.hidden_names)))
    hidden = h0.detach().clone().requires_grad_(True)
    tk = t[..., :k]
    std = model.observation_scale()
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    opt = torch.optim.LBFGS([hidden], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        pred = model(x[:, :k], u[:, :k], tk, hidden=hidden, solver=solver)
        loss = ((pred - x[:, :k]) / std).pow(2).sum()
        if torch.isfinite(loss):
            loss.backward()
        return loss

    try:
        opt.step(closure)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    out = hidden.detach()
    return out if bool(torch.isfinite(out).all()) else h0.detach()


# ------------------------------------------------------------------------------ predictions
def as_predictions(
    data: TrajectorySet, preds: list[np.ndarray], kind: str, on_diverge: str
) -> TrajectorySet:
    """The predictions as episodes: ``data``'s times, actions and names with predicted states.

    Args:
        data: the predicted episodes.
        preds: per episode, (T_e, n_obs) predicted observations.
        kind: the model kind, recorded as ``meta["prediction"]``.
        on_diverge: ``"raise"`` a DataError on a diverged (NaN/inf) episode, or ``"nan"``:
            keep it (``allow_nan=True``) and warn once.

    Returns:
        A TrajectorySet whose ``meta`` gains ``"prediction"`` and ``"diverged"``.
    """
    out = []
    diverged = []
    for i, (tr, p) in enumerate(zip(data, preds, strict=True)):
        bad = not np.isfinite(p).all()
        if bad and on_diverge == "raise":
            raise DataError(
                f"The {kind} model's prediction of episode {i} diverged (NaN/inf). The model is "
                f"unstable on these inputs; check that they match its training data, or pass "
                f"on_diverge='nan' to keep the diverged episodes and count them."
            )
        diverged += [i] if bad else []
        meta = {**tr.meta, "prediction": kind, "diverged": bool(bad)}
        out.append(tr.replace(x=p, meta=meta, allow_nan=bad or tr.allow_nan))
    if diverged:
        warnings.warn(
            f"The {kind} model's predictions of {len(diverged)} of {len(data)} episodes "
            f"diverged (NaN/inf): episodes {diverged[:10]}{' ...' if len(diverged) > 10 else ''}"
            f". They are kept with their NaN/inf values (meta['diverged'] = True).",
            UserWarning,
            stacklevel=3,
        )
    return TrajectorySet(out)
