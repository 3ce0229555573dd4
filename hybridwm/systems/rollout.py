"""Batched MuJoCo rollouts with actions held over control periods (one ``mujoco.rollout`` call).

The control period ``dt`` spans ``n_sub`` MuJoCo steps; each action is repeated for the
``n_sub`` sub-steps, the batch runs in MuJoCo's C thread pool (persistent, one ``MjData`` per
thread), and the states are subsampled every ``n_sub`` steps with a strided view.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from hybridwm.systems.events import EVENTS, EventProbe

__all__ = ["PROGRESS_MIN_BATCH", "default_nthread", "make_data_pool", "rollout_held"]

_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS.value

#: Batches smaller than this run in one call even when a progress bar is asked for.
PROGRESS_MIN_BATCH = 32


def default_nthread() -> int:
    """Threads for a rollout: the CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def make_data_pool(model: mujoco.MjModel, nthread: int) -> list[mujoco.MjData]:
    """One ``MjData`` per rollout thread."""
    return [mujoco.MjData(model) for _ in range(max(1, nthread))]


def _initial_state(model: mujoco.MjModel, x0: np.ndarray) -> np.ndarray:
    """(n, nq + nv) states → (n, nstate) full physics states at time 0; actuator activations
    (the motor lag of a rig) start at 0: the motor gives no force until it follows a command."""
    data = mujoco.MjData(model)
    template = np.empty(mujoco.mj_stateSize(model, _FULL))
    mujoco.mj_getState(model, data, template, _FULL)
    init = np.empty((x0.shape[0], template.size))
    init[:] = template
    init[:, 0] = 0.0
    init[:, 1 : 1 + model.nq + model.nv] = x0  # layout: time, qpos, qvel, act, ...
    return init


def _run(
    model: mujoco.MjModel,
    datas: Sequence[mujoco.MjData],
    init: np.ndarray,
    actions: np.ndarray,
    n_sub: int,
    out_x: np.ndarray,
    out_time: np.ndarray,
    probe: tuple[EventProbe, np.ndarray] | None,
) -> None:
    n = actions.shape[0]
    ctrl = np.repeat(actions, n_sub, axis=1) if n_sub > 1 else np.ascontiguousarray(actions)
    nthread = min(len(datas), n)
    data = list(datas[:nthread]) if nthread > 1 else datas[0]
    state, _ = mj_rollout.rollout(model, data, init, ctrl, persistent_pool=nthread > 1)
    nx = model.nq + model.nv
    out_x[:, 1:] = state[:, n_sub - 1 :: n_sub, 1 : 1 + nx]
    out_time[:] = state[:, -1, 0]
    if probe is not None:
        events, out_events = probe
        out_events[:] = events.sample_flags(model, datas[0], init, state, n_sub)


def rollout_held(
    model: mujoco.MjModel,
    datas: Sequence[mujoco.MjData],
    x0: np.ndarray,
    actions: np.ndarray,
    n_sub: int,
    *,
    progress: bool = False,
    events: EventProbe | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Simulate a batch with zero-order-hold actions.

    Args:
        model: The compiled model (its ``opt.timestep`` is the sub-step).
        datas: One ``MjData`` per thread (1 → the calling thread only).
        x0: (n, nq + nv) initial ``(qpos, qvel)``; validated by the caller.
        actions: (n, T, nu) actions; ``actions[:, k]`` is held for ``n_sub`` sub-steps.
        n_sub: MuJoCo steps per control period.
        progress: Show a rich progress bar over chunks of the batch (only for batches of at
            least :data:`PROGRESS_MIN_BATCH`; otherwise the batch runs in one call).
        events: Record the events of :mod:`hybridwm.systems.events` with this probe.

    Returns:
        ``(x, ok, flags)``: x (n, T+1, nq + nv) states at the control instants
        (``x[:, 0] = x0``); ok (n,) false where MuJoCo reset an unstable simulation (its clock
        restarted) or a state is not finite; flags (len(EVENTS), n, T+1) the events per sample,
        or None without ``events``.
    """
    n, n_steps, _ = actions.shape
    nx = model.nq + model.nv
    x = np.empty((n, n_steps + 1, nx))
    x[:, 0] = x0
    final_time = np.empty(n)
    init = _initial_state(model, x0)
    flags = None if events is None else np.zeros((len(EVENTS), n, n_steps + 1), dtype=bool)

    def probe(a: int, b: int) -> tuple[EventProbe, np.ndarray] | None:
        return None if events is None or flags is None else (events, flags[:, a:b])

    if progress and n >= PROGRESS_MIN_BATCH:
        from rich.progress import Progress

        size = max(len(datas), math.ceil(n / 20))
        with Progress(transient=True) as bar:
            task = bar.add_task(f"simulating {n} trajectories", total=n)
            for a in range(0, n, size):
                b = min(n, a + size)
                chunk = (init[a:b], actions[a:b], n_sub, x[a:b], final_time[a:b], probe(a, b))
                _run(model, datas, *chunk)
                bar.update(task, advance=b - a)
    else:
        _run(model, datas, init, actions, n_sub, x, final_time, probe(0, n))
    expected = n_steps * n_sub * model.opt.timestep
    ok = np.abs(final_time - expected) <= 0.5 * model.opt.timestep
    ok &= np.isfinite(x).all(axis=(1, 2))
    return x, ok, flags
