"""System: a MuJoCo-backed ground-truth simulator with named states, actions and parameters."""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import mujoco
import numpy as np

from hybridwm.data import Trajectory, TrajectorySet, encode_events
from hybridwm.data.names import NamedSignals
from hybridwm.errors import ConfigError, DataError, ShapeError, SimulationError, UnknownNameError
from hybridwm.systems.equations import TrueEquations
from hybridwm.systems.events import EVENTS, EventProbe
from hybridwm.systems.mjcf import read_mjcf
from hybridwm.systems.parameter import Parameter
from hybridwm.systems.rollout import default_nthread, make_data_pool, rollout_held

__all__ = ["Parameter", "System"]

_MODEL_CACHE_SIZE = 16


@dataclass(frozen=True)
class _Chained:
    """``apply(spec, values)`` of a system made by :meth:`System.extend`: the base system's
    writer, then the added effects' writer."""

    first: Callable[[mujoco.MjSpec, Mapping[str, float]], None]
    then: Callable[[mujoco.MjSpec, Mapping[str, float]], None]

    def __call__(self, spec: mujoco.MjSpec, values: Mapping[str, float]) -> None:
        self.first(spec, values)
        self.then(spec, values)


class System(NamedSignals):
    """A ground-truth simulator built from an MJCF model: an asset shipped with hybridwm or the
    user's own file (:meth:`from_mjcf`).

    Get a shipped one with :func:`hybridwm.systems.get_system`; derive variants with
    :meth:`with_parameters`. States are the generalized positions then velocities
    ``(qpos, qvel)``; actions are the motor controls.

    Args:
        name: Registry name, e.g. ``"pendulum"``.
        asset: File name of the MJCF in ``hybridwm/systems/assets`` (or, with ``source``, the
            path of the user's file, for messages).
        state_names: ``nq + nv`` state names (positions, then velocities).
        action_names: ``nu`` action names.
        angle_names: The states that are angles (for trigonometric feature libraries).
        parameters: The overridable physical parameters.
        apply: ``apply(spec, values)`` writes parameter values into a ``mujoco.MjSpec``.
        energy: ``energy(model, x)`` → total mechanical energy, or None where undefined.
        equations: ``equations(model)`` → :class:`TrueEquations`, or None where unknown.
        description: One line describing the system and its angle conventions.
        values: Parameter values (defaults for those not given).
        scenarios: Name of the scenario file ``hybridwm/systems/scenarios/<scenarios>.toml``
            (default: ``name``); a variant of a system shares its scenarios this way.
        base: Name of the system this one extends (see :meth:`extend`), None for a system of
            its own.
        source: ``source()`` → the ``mujoco.MjSpec`` of a model that is not a shipped asset
            (see :meth:`from_mjcf`); None reads ``asset`` from the package.
        events: Record the joint-limit and contact events of each sample in
            ``meta["events"]`` (see :mod:`hybridwm.systems.events`).
    """

    def __init__(
        self,
        name: str,
        *,
        asset: str,
        state_names: Sequence[str],
        action_names: Sequence[str],
        angle_names: Sequence[str],
        parameters: Sequence[Parameter],
        apply: Callable[[mujoco.MjSpec, Mapping[str, float]], None],
        energy: Callable[[mujoco.MjModel, np.ndarray], np.ndarray] | None = None,
        equations: Callable[[mujoco.MjModel], TrueEquations] | None = None,
        description: str = "",
        values: Mapping[str, float] | None = None,
        scenarios: str | None = None,
        base: str | None = None,
        source: Callable[[], mujoco.MjSpec] | None = None,
        events: bool = False,
    ) -> None:
        self.name = name
        self.asset = asset
        self.scenarios = scenarios or name
        self.base = base
        self.source = source
        self.events = bool(events)
        self.state_names: tuple[str, ...] = tuple(state_names)
        self.action_names: tuple[str, ...] = tuple(action_names)
        self.angle_names: tuple[str, ...] = tuple(angle_names)
        self.parameter_specs: dict[str, Parameter] = {p.name: p for p in parameters}
        self.description = description
        self._apply = apply
        self._energy = energy
        self._equations = equations
        self._values = {p.name: float(p.default) for p in parameters}
        if values:
            self._values.update(self.check_parameters(values))
        # compiled model, its MjData pool (one per rollout thread) and a lock guarding the pool
        self._cache: OrderedDict[
            tuple[tuple[str, float], ...], tuple[Any, list[Any], threading.Lock]
        ] = OrderedDict()

    @classmethod
    def from_mjcf(cls, path: str | os.PathLike[str], name: str | None = None) -> System:
        """A system of the user's own MuJoCo model (see :mod:`hybridwm.systems.mjcf`).

        States are each hinge or slide joint's position (named after the joint) then its
        velocity (``<joint>_vel``), the hinges' positions being angles; actions are the
        actuators' controls within their ``ctrlrange``; the parameters are ``<body>.mass``,
        ``<joint>.damping``, ``<joint>.frictionloss``, ``<joint>.armature``,
        ``<geom>.size0``..., ``<actuator>.gear`` of the named elements. Simulated samples
        record the events ``at_limit`` and ``in_contact`` in ``meta["events"]``.

        Args:
            path: the MJCF (MuJoCo XML) file.
            name: the system's name; default: the model's name, else the file's stem.

        Raises:
            FormatError: the file is missing, too big, malformed or refused by MuJoCo, or has
                a joint other than hinge/slide or an actuator without a ``ctrlrange`` (the
                message names the file and the fix).

        Example:
            >>> robot = System.from_mjcf("robot.xml")  # doctest: +SKIP
            >>> data = robot.simulate(x0, actions, dt=0.01)  # doctest: +SKIP
        """
        return cls(**read_mjcf(path, name))

    # ------------------------------------------------------------------ description
    @property
    def parameters(self) -> dict[str, float]:
        """Current parameter values (a copy): defaults updated by ``with_parameters``."""
        return dict(self._values)

    @property
    def defaults(self) -> dict[str, float]:
        """Default parameter values of the shipped asset."""
        return {k: p.default for k, p in self.parameter_specs.items()}

    @property
    def timestep(self) -> float:
        """MuJoCo integration step in seconds (``dt`` must be a multiple of it)."""
        return float(self._compiled(self._values)[0].opt.timestep)

    @property
    def action_bounds(self) -> np.ndarray:
        """(n_u, 2) ``[low, high]`` per action (the actuators' control ranges)."""
        return np.array(self._compiled(self._values)[0].actuator_ctrlrange, dtype=np.float64)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values.items() if v != self.parameter_specs[k].default}
        extra = f", parameters={changed}" if changed else ""
        return (
            f"System({self.name!r}, states={list(self.state_names)}, "
            f"actions={list(self.action_names)}{extra})"
        )

    # ------------------------------------------------------------------ parameters
    def check_parameters(
        self, overrides: Mapping[str, Any], *, argument: str = "parameters"
    ) -> dict[str, float]:
        """Validate parameter overrides.

        Raises:
            UnknownNameError: for a name that is not a parameter (valid names are listed).
            ConfigError: for a non-finite or non-physical value (e.g. a negative mass).
        """
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"`{argument}` must be a mapping of parameter names to values. Got "
                f"{type(overrides).__name__}."
            )
        out: dict[str, float] = {}
        for key, value in overrides.items():
            spec = self.parameter_specs.get(key)
            if spec is None:
                valid = ", ".join(repr(k) for k in self.parameter_specs)
                raise UnknownNameError(
                    f"Unknown parameter {key!r} of {self.name} in `{argument}`. Valid names: "
                    f"{valid}."
                )
            out[key] = spec.check(value, self.name)
        return out

    def with_parameters(self, **overrides: float) -> System:
        """A copy of this system with some parameters changed (validated).

        Example:
            >>> heavy = get_system("pendulum").with_parameters(mass=2.0)  # doctest: +SKIP
        """
        values = {**self._values, **self.check_parameters(overrides)}
        new = self._copy(values=values)
        new._cache = self._cache  # compiled models are keyed by parameter values: share them
        return new

    def extend(
        self,
        name: str,
        *,
        parameters: Sequence[Parameter],
        apply: Callable[[mujoco.MjSpec, Mapping[str, float]], None],
        description: str,
    ) -> System:
        """A new system: this one with more effects, written by ``apply`` after its own.

        The new system keeps this one's asset, names, parameters (with their current values),
        energy and scenarios, and adds ``parameters``. It has no closed-form equations: the
        effects ``apply`` adds are, by intent, what the closed form lacks.

        Args:
            name: Registry name of the new system, e.g. ``"pendulum-rig"``.
            parameters: The parameters of the added effects (names not among this system's).
            apply: ``apply(spec, values)`` writes the added effects into a ``mujoco.MjSpec``
                that already holds this system's parameters; ``values`` holds every parameter.
            description: One line describing the new system.

        Raises:
            ConfigError: if a parameter of ``parameters`` is already one of this system's.
        """
        clash = sorted(set(self.parameter_specs) & {p.name for p in parameters})
        if clash:
            raise ConfigError(
                f"`parameters` of extend must be new parameters of {name}; {clash} are already "
                f"parameters of {self.name}. Rename them."
            )
        return self._copy(
            name=name,
            parameters=(*self.parameter_specs.values(), *parameters),
            apply=_Chained(self._apply, apply),
            equations=None,
            description=description,
            base=self.name,
        )

    def _copy(self, **changes: Any) -> System:
        """A new System with this one's arguments, ``changes`` replacing some of them."""
        arguments: dict[str, Any] = {
            "name": self.name,
            "asset": self.asset,
            "state_names": self.state_names,
            "action_names": self.action_names,
            "angle_names": self.angle_names,
            "parameters": tuple(self.parameter_specs.values()),
            "apply": self._apply,
            "energy": self._energy,
            "equations": self._equations,
            "description": self.description,
            "values": self._values,
            "scenarios": self.scenarios,
            "base": self.base,
            "source": self.source,
            "events": self.events,
        }
        arguments.update(changes)
        return System(**arguments)

    def _resolve(self, parameters: Mapping[str, Any] | None) -> dict[str, float]:
        if not parameters:
            return dict(self._values)
        return {**self._values, **self.check_parameters(parameters)}

    # ------------------------------------------------------------------ MuJoCo models
    def spec(self, parameters: Mapping[str, Any] | None = None) -> mujoco.MjSpec:
        """The ``mujoco.MjSpec`` of the asset with the parameters applied (not compiled)."""
        values = self._resolve(parameters)
        if self.source is not None:
            spec = self.source()
        else:
            xml = resources.files("hybridwm.systems").joinpath("assets", self.asset).read_text()
            spec = mujoco.MjSpec.from_string(xml)
        self._apply(spec, values)
        return spec

    def model(self, parameters: Mapping[str, Any] | None = None) -> mujoco.MjModel:
        """A freshly compiled ``mujoco.MjModel`` with this system's parameters and ``parameters``
        overrides applied (masses, lengths — geometry and body positions —, damping, gear)."""
        return self.spec(parameters).compile()

    def _compiled(
        self, values: Mapping[str, float]
    ) -> tuple[mujoco.MjModel, list[mujoco.MjData], threading.Lock]:
        key = tuple(sorted(values.items()))
        hit = self._cache.get(key)
        if hit is None:
            hit = (self.model(values), [], threading.Lock())
            self._cache[key] = hit
            while len(self._cache) > _MODEL_CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    # ------------------------------------------------------------------ physics
    def energy(self, x: np.ndarray, *, parameters: Mapping[str, Any] | None = None) -> np.ndarray:
        """Total mechanical energy (kinetic + gravitational) of states.

        Args:
            x: (..., n_x) states.
            parameters: Optional overrides on top of this system's parameters.

        Returns:
            (...,) energies in joules.
        """
        if self._energy is None:
            raise ConfigError(f"The energy of {self.name} is not defined in hybridwm.")
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1:] != (self.n_x,):
            raise ShapeError(
                f"`x` of energy must have shape (..., {self.n_x}) for {self.name} states "
                f"{list(self.state_names)}. Got {x.shape}."
            )
        return self._energy(self._compiled(self._resolve(parameters))[0], x)

    def true_equations(self, *, parameters: Mapping[str, Any] | None = None) -> TrueEquations:
        """The closed-form equations of motion, with constants read from the compiled model.

        Raises:
            ConfigError: if the system has none (a system made by :meth:`extend`: the message
                names the base system, whose equations are the ideal part).
        """
        if self._equations is None:
            ideal = (
                f" Its ideal part, without the effects {self.name} adds, is "
                f"get_system({self.base!r}).true_equations()."
                if self.base
                else ""
            )
            raise ConfigError(f"No closed-form equations are known for {self.name}.{ideal}")
        return self._equations(self._compiled(self._resolve(parameters))[0])

    # ------------------------------------------------------------------ simulation
    def substeps(self, dt: float, *, argument: str = "dt") -> int:
        """Number of MuJoCo steps in a control period ``dt`` (a multiple of :attr:`timestep`)."""
        try:
            dt_f = float(dt)
        except (TypeError, ValueError):
            raise ConfigError(f"`{argument}` of simulate must be a number. Got {dt!r}.") from None
        if not (math.isfinite(dt_f) and dt_f > 0):
            raise ConfigError(f"`{argument}` of simulate must be > 0. Got {dt!r} instead.")
        ts = self.timestep
        n_sub = round(dt_f / ts)
        if n_sub < 1 or abs(n_sub * ts - dt_f) > 1e-9:
            examples = ", ".join(f"{k * ts:g}" for k in (1, 2, 5, 10, 25))
            raise ConfigError(
                f"`{argument}` of simulate must be a multiple of the {self.name} model timestep "
                f"{ts:g} s (e.g. {examples}). Got {dt_f!r} instead."
            )
        return n_sub

    def _check_inputs(self, x0: Any, actions: Any) -> tuple[np.ndarray, np.ndarray]:
        try:
            x0a = np.asarray(x0, dtype=np.float64)
            ua = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"`x0` and `actions` of simulate must be numeric arrays: {exc}"
            ) from None
        if x0a.ndim == 1:
            x0a = x0a[None]
        if ua.ndim == 2:
            ua = ua[None]
        if x0a.ndim != 2 or x0a.shape[1] != self.n_x:
            raise ShapeError(
                f"`x0` of simulate must have shape (n, {self.n_x}) for {self.name} states "
                f"{list(self.state_names)}. Got shape {np.shape(x0)}."
            )
        if ua.ndim != 3 or ua.shape[2] != self.n_u or ua.shape[1] < 1:
            raise ShapeError(
                f"`actions` of simulate must have shape (n, T, {self.n_u}) with T >= 1 for "
                f"{self.name} actions {list(self.action_names)}. Got shape {np.shape(actions)}."
            )
        if ua.shape[0] != x0a.shape[0]:
            raise ShapeError(
                f"`x0` and `actions` of simulate must hold the same number of trajectories: x0 "
                f"has shape {x0a.shape} (n={x0a.shape[0]}) but actions has shape {ua.shape} "
                f"(n={ua.shape[0]}). Pass one initial state per action sequence."
            )
        for arr, what, names in ((x0a, "x0", self.state_names), (ua, "actions", self.action_names)):
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                kind = "NaN" if np.isnan(arr[idx]) else "inf"
                where = f"step {idx[1]} " if arr.ndim == 3 else ""
                raise DataError(
                    f"`{what}` of simulate has {kind} for trajectory {idx[0]} at {where}in column "
                    f"`{names[idx[-1]]}`; pass finite values."
                )
        return x0a, ua

    def _clip_actions(self, actions: np.ndarray) -> np.ndarray:
        b = self.action_bounds
        lo, hi = b[:, 0], b[:, 1]
        tol = 1e-9 * (hi - lo)
        if (actions < lo - tol).any() or (actions > hi + tol).any():
            warnings.warn(
                f"`actions` of simulate exceed the {self.name} action bounds "
                f"{b.tolist()}; they are clipped (MuJoCo clamps them too) and the clipped values "
                f"are recorded. Clip them yourself to silence this warning.",
                UserWarning,
                stacklevel=3,
            )
            return np.clip(actions, lo, hi)
        return actions

    def simulate(
        self,
        x0: np.ndarray,
        actions: np.ndarray,
        dt: float,
        *,
        parameters: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        t0: float = 0.0,
        nthread: int | None = None,
        progress: bool = False,
    ) -> TrajectorySet:
        """Simulate a batch of trajectories with zero-order-hold actions.

        All trajectories run in one multithreaded ``mujoco.rollout`` call.

        Args:
            x0: (n, n_x) initial states ``(qpos, qvel)`` in :attr:`state_names` order; a single
                (n_x,) state is allowed together with (T, n_u) actions. Hidden actuator states
                (a rig's motor lag) start at zero force.
            actions: (n, T, n_u) actions; ``actions[i, k]`` is held on ``[t_k, t_k + dt)``.
                Values outside :attr:`action_bounds` are clipped with a warning.
            dt: Control period in seconds, a multiple of :attr:`timestep`.
            parameters: Parameter overrides on top of :attr:`parameters` for this call.
            meta: Extra metadata for every trajectory (a mapping), or one mapping per trajectory.
            t0: Time of the first sample.
            nthread: Rollout threads (default: the CPUs available).
            progress: Show a progress bar over chunks of a big batch.

        Returns:
            n trajectories, each with ``t = t0 + dt*arange(T+1)``, ``x`` (T+1, n_x), ``u``
            (T+1, n_u) whose last row repeats the last action, and ``meta`` with ``system``,
            ``angles`` (the names of the angle states, a list), ``parameters``, ``dt``,
            ``index``, the given ``meta``, and for a system that records them (:meth:`from_mjcf`)
            ``events``: the rows where a joint limit or a contact acts (see
            :func:`hybridwm.data.encode_events`).

        Raises:
            ShapeError: if ``x0``/``actions`` have the wrong shape.
            DataError: if they hold NaN/inf.
            ConfigError: if ``dt`` is not a positive multiple of the timestep, or a parameter is
                invalid (``UnknownNameError`` for unknown names).
            SimulationError: if a simulation diverged (MuJoCo reset it) or became non-finite.
        """
        n_sub = self.substeps(dt)
        values = self._resolve(parameters)
        x0a, ua = self._check_inputs(x0, actions)
        ua = self._clip_actions(ua)
        metas = self._trajectory_metas(meta, ua.shape[0], dt, values)
        x, flags = self._rollout(values, x0a, ua, n_sub, nthread=nthread, progress=progress)
        if flags is not None:
            for i, m in enumerate(metas):
                m["events"] = encode_events(dict(zip(EVENTS, flags[:, i], strict=True)))
        n, n_steps, _ = ua.shape
        u = np.empty((n, n_steps + 1, self.n_u))
        u[:, :n_steps] = ua
        u[:, n_steps] = ua[:, -1]
        t = float(t0) + float(dt) * np.arange(n_steps + 1)
        return TrajectorySet(
            [
                Trajectory(t, x[i], u[i], self.state_names, self.action_names, m)
                for i, m in enumerate(metas)
            ]
        )

    def _trajectory_metas(
        self,
        meta: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        n: int,
        dt: float,
        values: Mapping[str, float],
    ) -> list[dict[str, Any]]:
        """The ``meta`` of each of the ``n`` trajectories of :meth:`simulate` (see there).

        A shared ``meta`` mapping may replace ``system``, ``angles`` and ``dt``; a per-trajectory
        mapping may replace any key.
        """
        if isinstance(meta, Sequence) and not isinstance(meta, (str, bytes)):
            own = [dict(m) for m in meta]
            if len(own) != n:
                raise ShapeError(
                    f"`meta` of simulate must be one mapping or {n} mappings (one per "
                    f"trajectory). Got {len(own)}."
                )
            shared: dict[str, Any] = {}
        else:
            own, shared = [{}] * n, dict(meta or {})
        return [
            {
                "system": self.name,
                "angles": list(self.angle_names),
                "dt": float(dt),
                **shared,
                "parameters": dict(values),
                "index": i,
                **own[i],
            }
            for i in range(n)
        ]

    def _rollout(
        self,
        values: Mapping[str, float],
        x0: np.ndarray,
        actions: np.ndarray,
        n_sub: int,
        *,
        nthread: int | None,
        progress: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run a checked batch through ``mujoco.rollout`` with the parameter ``values``.

        Args:
            values: Every parameter's value.
            x0: (n, n_x) initial states.
            actions: (n, T, n_u) actions within the bounds, each held ``n_sub`` MuJoCo steps.
            n_sub: MuJoCo steps per control period.
            nthread: Rollout threads (None: the CPUs available).
            progress: Show a progress bar over chunks of a big batch.

        Returns:
            ``(x, flags)``: (n, T+1, n_x) states at the control instants, and
            (len(EVENTS), n, T+1) the events per sample where this system records them (else
            None).

        Raises:
            ConfigError: if ``nthread < 1``.
            SimulationError: if a simulation diverged (MuJoCo reset it) or became non-finite.
        """
        model, pool, lock = self._compiled(values)
        threads = default_nthread() if nthread is None else int(nthread)
        if threads < 1:
            raise ConfigError(f"`nthread` of simulate must be >= 1. Got {nthread!r} instead.")
        with lock:  # the MjData pool is reused: one rollout at a time per compiled model
            if len(pool) < threads:
                pool.extend(make_data_pool(model, threads - len(pool)))
            probe = EventProbe.from_model(model) if self.events else None
            x, ok, flags = rollout_held(
                model, pool[:threads], x0, actions, n_sub, progress=progress, events=probe
            )
        if not ok.all():
            bad = np.flatnonzero(~ok)
            raise SimulationError(
                f"The {self.name} simulation of trajectory {int(bad[0])} (of {len(ok)}; "
                f"{len(bad)} diverged in all: {bad[:10].tolist()}) became unstable: MuJoCo reset "
                f"it or its state is not finite. Reduce initial velocities, action amplitude or "
                f"dt, or check the parameters {dict(values)}."
            )
        return x, flags
