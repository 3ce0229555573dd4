"""Declared physics priors: equations written by the user, with learnable parameters.

Example::

    prior = declare(
        ["d(theta) = omega", "d(omega) = -w0**2 * sin(theta) + k * torque"],
        parameters={"w0": 3.0, "k": 1.0},
        bounds={"w0": (0, 10)},
        action_names=["torque"],
    )
    fitted = fit_parameters(prior, data)        # least squares on derivatives
    field = fitted.vector_field(trainable=True)  # w0, k as nn.Parameters, w0 kept in (0, 10)

Each right-hand side is split into terms ``coefficient(p) * feature(x, u[, p])`` (after
expanding products of sums), so a prior is a :class:`PhysicsModel` like a discovered one, with
coefficients that are expressions of the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, ParseError, UnknownNameError
from hybridwm.physics.derivatives import _resolve_align, make_differentiation, regression_data
from hybridwm.physics.expressions import parse_expression, valid_identifier
from hybridwm.physics.model import Parameter, PhysicsModel

__all__ = ["PRIOR_KEYS", "declare", "fit_parameters", "load_prior", "parse_lhs"]

PRIOR_KEYS = ("states", "actions", "equations", "parameters", "observations", "sharpness")

_LHS = [
    re.compile(r"^d\(\s*([A-Za-z_]\w*)\s*\)\s*(?:/\s*dt)?$"),  # d(theta), d(theta)/dt
    re.compile(r"^d([A-Za-z_]\w*)\s*/\s*dt$"),  # dtheta/dt
    re.compile(r"^([A-Za-z_]\w*)\s*'$"),  # theta'
    re.compile(r"^([A-Za-z_]\w*)_dot$"),  # theta_dot
]


def parse_lhs(text: str) -> str | None:
    """State name of an equation's left side (``d(theta)``, ``d(theta)/dt``, ``dtheta/dt``,
    ``theta'``, ``theta_dot``), or None if it has none of these forms."""
    t = text.strip()
    for pat in _LHS:
        m = pat.match(t)
        if m:
            return m.group(1)
    return None


def _split_equation(eq: str, i: int) -> tuple[str, str]:
    if not isinstance(eq, str):
        raise ParseError(f"Equation {i} must be a string like 'd(theta) = omega'. Got {eq!r}.")
    if eq.count("=") != 1:
        col = eq.find("=", eq.find("=") + 1) if eq.count("=") > 1 else len(eq)
        raise ParseError(
            f"Equation {i} must have exactly one '=' (as in 'd(theta) = omega'):\n"
            f"    {eq}\n    {' ' * max(col, 0)}^"
        )
    lhs, rhs = eq.split("=")
    state = parse_lhs(lhs)
    if state is None:
        raise ParseError(
            f"Cannot read the left side {lhs.strip()!r} of equation {i} at position 0:\n"
            f"    {eq}\n    ^\nWrite 'd(state)', 'd(state)/dt' or 'dstate/dt'."
        )
    return state, rhs


def _normalize_params(
    parameters: Mapping[str, Any] | None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None,
    fixed: Sequence[str] | Mapping[str, float] | None,
) -> list[Parameter]:
    out: dict[str, Parameter] = {}
    for name, spec in (parameters or {}).items():
        if isinstance(spec, Parameter):
            out[name] = spec
        elif isinstance(spec, Mapping):
            out[name] = Parameter(
                name,
                float(spec["value"]),
                None if spec.get("bounds") is None else tuple(spec["bounds"]),  # type: ignore[arg-type]
                bool(spec.get("fixed", False)),
            )
        else:
            out[name] = Parameter(name, float(spec))
    if isinstance(fixed, Mapping):
        for name, v in fixed.items():
            if name in out:
                raise ConfigError(f"Parameter {name!r} is given both in `parameters` and `fixed`.")
            out[name] = Parameter(name, float(v), fixed=True)
    elif fixed is not None:
        for name in fixed:
            if name not in out:
                raise UnknownNameError(
                    f"`fixed` names {name!r}, which is not in `parameters` {list(out)}; give its value."
                )
            p = out[name]
            out[name] = Parameter(name, p.value, p.bounds, True)
    for name, b in (bounds or {}).items():
        if name not in out:
            raise UnknownNameError(
                f"`bounds` names {name!r}, which is not a parameter ({list(out)})."
            )
        p = out[name]
        out[name] = Parameter(name, p.value, (b[0], b[1]), p.fixed)
    for p in out.values():
        if not valid_identifier(p.name):
            raise ConfigError(f"Parameter name {p.name!r} is not a valid identifier.")
        lo, hi = p.bounds_tuple()
        if not lo < hi:
            raise ConfigError(f"Bounds of {p.name!r} must satisfy lower < upper. Got {p.bounds}.")
        if not lo <= p.value <= hi:
            raise ConfigError(
                f"Initial value of {p.name!r} ({p.value}) lies outside its bounds {p.bounds}; "
                f"start inside them."
            )
    return list(out.values())


def declare(
    equations: Sequence[str] | Mapping[str, str],
    parameters: Mapping[str, Any] | None = None,
    *,
    state_names: Sequence[str] | None = None,
    action_names: Sequence[str] = (),
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    fixed: Sequence[str] | Mapping[str, float] | None = None,
    observations: Mapping[str, str] | None = None,
    sharpness: float | None = None,
) -> PhysicsModel:
    """Build a PhysicsModel from equations written as text.

    Args:
        equations: ``["d(theta) = omega", "d(omega) = -w0**2*sin(theta)"]`` (also
            ``"dtheta/dt = ..."``), or ``{"theta": "omega", "omega": "..."}``.
        parameters: initial values ``{"w0": 3.0}`` (or ``{"w0": {"value": 3.0, "bounds":
            [0, 10], "fixed": False}}``).
        state_names: state order; default the order of the equations. Every state needs an
            equation. States that data lack (latent states) are allowed.
        action_names: action names the equations may use.
        bounds: ``{"w0": (0, 10)}``; ``None`` on one side means unbounded.
        fixed: names of parameters never fitted/trained, or ``{name: value}`` of constants.
        observations: observation equations ``{"theta_meas": "theta + offset"}`` over the
            states and parameters (what a sensor reads when it is not a state itself).
        sharpness: ``k`` of the smooth ``min``/``max``/``clip`` used in training (see
            :func:`~hybridwm.physics.expressions.smooth_saturation`); ``None``: exact always.

    Returns:
        A PhysicsModel whose coefficients are expressions of the parameters.

    Raises:
        ParseError: an equation cannot be parsed (the message shows where).
        UnknownNameError: an equation uses a name that is not a state, action or parameter.
        ConfigError: a state has no or two equations, or bounds are inconsistent.
    """
    if isinstance(equations, Mapping):
        pairs = [(str(k), str(v)) for k, v in equations.items()]
        pairs = [(parse_lhs(k) or k, v) for k, v in pairs]
    else:
        if isinstance(equations, str):
            equations = [e for e in re.split(r"[\n;]", equations) if e.strip()]
        pairs = [_split_equation(eq, i) for i, eq in enumerate(equations)]
    lhs_states = [s for s, _ in pairs]
    dup = sorted({s for s in lhs_states if lhs_states.count(s) > 1})
    if dup:
        raise ConfigError(f"State(s) {dup} have more than one equation; give one per state.")
    states = tuple(state_names) if state_names is not None else tuple(lhs_states)
    extra = [s for s in lhs_states if s not in states]
    if extra:
        raise UnknownNameError(
            f"Equations for {extra}, which are not in state_names {list(states)}."
        )
    missing = [s for s in states if s not in lhs_states]
    if missing:
        raise ConfigError(
            f"State(s) {missing} have no equation; every declared state needs one "
            f"(e.g. 'd({missing[0]}) = 0')."
        )
    params = _normalize_params(parameters, bounds, fixed)
    pnames = tuple(p.name for p in params)
    actions = tuple(action_names)
    names = states + actions + pnames
    kinds = (
        {n: "state" for n in states}
        | {n: "action" for n in actions}
        | {n: "parameter" for n in pnames}
    )
    xu_syms = [sp.Symbol(n, real=True) for n in states + actions]
    rhs_by_state = dict(pairs)
    features: list[sp.Expr] = []
    coefs: dict[tuple[int, int], sp.Expr] = {}
    for i, s in enumerate(states):
        text = rhs_by_state[s]
        try:
            rhs = parse_expression(text, names, what=f"equation for d({s})/dt", kinds=kinds)
        except UnknownNameError as exc:
            hint = (
                " If it is an action, pass action_names=[...]; if a parameter, give its value in "
                "parameters={...}."
            )
            raise UnknownNameError(str(exc) + hint) from None
        for term in sp.Add.make_args(sp.expand(rhs)):
            if term == 0:
                continue
            c, f = term.as_independent(*xu_syms, as_Add=False)
            if f == 1 and c.free_symbols & set(xu_syms):
                c, f = sp.Integer(1), term
            if f not in features:
                features.append(f)
            j = features.index(f)
            coefs[(i, j)] = coefs.get((i, j), sp.Integer(0)) + c
    if not features:
        features = [sp.Integer(1)]
    matrix = [
        [coefs.get((i, j), sp.Integer(0)) for j in range(len(features))] for i in range(len(states))
    ]
    return PhysicsModel(
        states,
        actions,
        features,
        matrix,
        parameters=params,
        info={
            "method": "declared",
            "equations": [f"d({s})/dt = {rhs_by_state[s].strip()}" for s in states],
            **({"sharpness": float(sharpness)} if sharpness is not None else {}),
        },
        observations=observations,
    )


def _prior_parameters(raw: Any, source: str) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"`parameters` of {source} must be a table {{name = {{ value = ..., bounds = [lo, "
            f"hi] }}}}. Got {type(raw).__name__}."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            out[name] = {"value": float(spec)}
            continue
        if not isinstance(spec, Mapping) or "value" not in spec:
            raise ConfigError(
                f"Parameter {name!r} of {source} needs a value: write `{name} = 1.0` or "
                f"`{name} = {{ value = 1.0, bounds = [0.0, 10.0] }}`. Got {spec!r}."
            )
        unknown = sorted(set(spec) - {"value", "bounds", "fixed"})
        if unknown:
            raise ConfigError(
                f"Parameter {name!r} of {source} has unknown key(s) {unknown}; allowed: "
                f"value, bounds, fixed."
            )
        bounds = spec.get("bounds")
        if bounds is not None:
            if (
                isinstance(bounds, (str, bytes))
                or not isinstance(bounds, Sequence)
                or len(bounds) != 2
            ):
                raise ConfigError(
                    f"`bounds` of parameter {name!r} in {source} must be [low, high] (use "
                    f'"-inf"/"inf" for an open side). Got {bounds!r}.'
                )
            try:
                lo, hi = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"`bounds` of parameter {name!r} in {source} must be two numbers. Got "
                    f"{bounds!r}."
                ) from None
            bounds = (None if lo == -np.inf else lo, None if hi == np.inf else hi)
        try:
            value = float(spec["value"])
        except (TypeError, ValueError):
            raise ConfigError(
                f"`value` of parameter {name!r} in {source} must be a number. Got "
                f"{spec['value']!r}."
            ) from None
        out[name] = {"value": value, "bounds": bounds, "fixed": bool(spec.get("fixed", False))}
    return out


def load_prior(path: Any) -> PhysicsModel:
    """Read a declared physics prior from a TOML, YAML or JSON file.

    Format (TOML; YAML and JSON hold the same keys)::

        states = ["theta", "omega"]          # omega may be absent from the data (unmeasured)
        actions = ["torque"]
        equations = ["d(theta) = omega",
                     "d(omega) = -w0**2*sin(theta) - c*omega + b*clip(torque, -2, 2)"]
        sharpness = 20.0                     # optional: smooth min/max/clip in training

        [parameters]                         # value, optional bounds [lo, hi], optional fixed
        w0 = { value = 3.0, bounds = [0.5, 10.0] }
        c = { value = 0.1, bounds = [0.0, 5.0] }
        b = { value = 1.0, fixed = true }
        g = 9.81                             # a plain number: a free, unbounded parameter

        [observations]                       # optional observation equations y = h(x, params)
        theta_meas = "theta + offset"

        [parameters.offset]
        value = 0.0

    ``equations`` may also be a table ``{theta = "omega", omega = "..."}``. Every state needs one
    equation; parameters with bounds are trained inside them (reparametrised), ``fixed`` ones are
    never trained. Expressions use ``+ - * / ** ^``, the functions of
    :data:`~hybridwm.physics.SUPPORTED_FUNCTIONS` (``sin``, ``exp``, ``min``, ``max``,
    ``clip(x, lo, hi)``, ...), ``pi`` and the declared names; they are parsed, never evaluated.

    Args:
        path: the file (``.toml``, ``.yaml``/``.yml`` or ``.json``).

    Returns:
        The declared PhysicsModel (``info["source"]`` records the file).

    Raises:
        FormatError: the file is missing or not valid TOML/YAML/JSON.
        ConfigError: unknown keys, a state without an equation, bad bounds or values.
        UnknownNameError: an equation uses a name that is not declared.
        ParseError: an equation cannot be parsed (the message shows where).
    """
    from hybridwm.config import load_mapping

    source = f"prior {str(path)!r}"
    data = load_mapping(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must hold a table of keys {list(PRIOR_KEYS)}.")
    unknown = sorted(set(data) - set(PRIOR_KEYS))
    if unknown:
        raise ConfigError(f"{source} has unknown key(s) {unknown}; valid keys: {list(PRIOR_KEYS)}.")
    for key in ("states", "equations"):
        if key not in data:
            raise ConfigError(
                f'{source} needs `{key}`. Example: states = ["theta", "omega"], equations = '
                f'["d(theta) = omega", "d(omega) = -w0**2*sin(theta)"].'
            )
    states = data["states"]
    actions = data.get("actions", [])
    for key, value in (("states", states), ("actions", actions)):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"`{key}` of {source} must be a list of names. Got {value!r}.")
    observations = data.get("observations") or {}
    if not isinstance(observations, Mapping):
        raise ConfigError(
            f'`observations` of {source} must be a table {{name = "expression"}}. Got '
            f"{observations!r}."
        )
    sharpness = data.get("sharpness")
    if sharpness is not None and (
        isinstance(sharpness, bool) or not isinstance(sharpness, (int, float)) or not sharpness > 0
    ):
        raise ConfigError(f"`sharpness` of {source} must be a number > 0. Got {sharpness!r}.")
    model = declare(
        data["equations"],
        _prior_parameters(data.get("parameters"), source),
        state_names=list(states),
        action_names=list(actions),
        observations={str(k): str(v) for k, v in observations.items()},
        sharpness=sharpness,
    )
    model.info["source"] = str(path)
    return model


def fit_parameters(
    model: PhysicsModel,
    data: TrajectorySet,
    *,
    differentiation: Any = "finite_difference",
    align: str | bool = "actions",
    window: int = 11,
    loss: str = "linear",
) -> PhysicsModel:
    """Fit a declared model's free parameters to data by least squares on derivatives.

    Residuals are ``aligned RHS(x, u; p) - D[x]`` for every state of the model that the data
    has (latent states are skipped; their equations cannot be checked). Bounds are passed to
    ``scipy.optimize.least_squares``.

    Args:
        model: a declared PhysicsModel (with parameters).
        data: trajectories holding the model's actions and the states to fit.
        differentiation: derivative estimator (name or pysindy object).
        align: regressor alignment with held actions (see ``derivatives``).
        window: Savitzky-Golay window for smoothed differentiation.
        loss: ``least_squares`` loss (``"linear"``, ``"soft_l1"``, ``"huber"``, ...).

    Returns:
        A copy of ``model`` with fitted parameter values; ``info["fit"]`` records the cost.

    Raises:
        ConfigError: the model has no free parameters.
        DataError: an observed state's equation depends on a state the data lacks.
    """
    from scipy.optimize import least_squares

    free = [p for p in model.parameters.values() if not p.fixed]
    if not free:
        raise ConfigError(
            "This model has no free parameters to fit; declare some with parameters={...}."
        )
    missing_actions = [a for a in model.action_names if a not in data.action_names]
    if missing_actions:
        raise UnknownNameError(
            f"The data lacks actions {missing_actions}. Data actions: {list(data.action_names)}."
        )
    observed = [s for s in model.state_names if s in data.state_names]
    if not observed:
        raise UnknownNameError(
            f"None of the model's states {list(model.state_names)} is in the data "
            f"({list(data.state_names)})."
        )
    obs_idx = [model.state_names.index(s) for s in observed]
    latent = [s for s in model.state_names if s not in data.state_names]
    needed: set[str] = set()
    mask = model.mask
    for i in obs_idx:
        for j in np.flatnonzero(mask[i]):
            needed |= {str(s) for s in model.library.exprs[j].free_symbols}
    used_latent = sorted(needed & set(latent))
    if used_latent:
        raise DataError(
            f"The equations of observed states use latent state(s) {used_latent} that the data "
            f"lacks; their derivatives cannot be fitted from data alone."
        )
    method = make_differentiation(differentiation, window=window)
    mode = _resolve_align(align)
    lib = model.library
    xcols = [data.state_names.index(s) if s in data.state_names else -1 for s in model.state_names]
    ucols = [data.action_names.index(a) for a in model.action_names]
    names = list(model.parameters)
    free_idx = [names.index(p.name) for p in free]
    p0 = np.array([p.value for p in model.parameters.values()], dtype=np.float64)
    exprs = model.coef_expressions
    from hybridwm.physics.expressions import compile_expressions

    coef_fn = compile_expressions([e for r in exprs for e in r], (tuple(names),), backend="numpy")
    n_f = lib.n_features
    uses_u = lib.uses_actions
    cols = uses_u if mode == "actions" else np.full(n_f, mode == "all")

    def full_x(x: np.ndarray) -> np.ndarray:
        out = np.zeros((*x.shape[:-1], model.n_x))
        for i, c in enumerate(xcols):
            if c >= 0:
                out[..., i] = x[..., c]
        return out

    def rhs_fn(p: np.ndarray) -> Any:
        C = np.asarray(coef_fn(p)).reshape(model.n_x, n_f)[obs_idx]

        def fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            th = lib.evaluate(full_x(x), u[:, ucols], p)
            # columns: the part of each RHS evaluated at the samples, then the part to align
            return np.hstack([th[:, ~cols] @ C[:, ~cols].T, th[:, cols] @ C[:, cols].T])

        return fn

    state_cols = [xcols[i] for i in obs_idx]
    n_obs = len(obs_idx)
    align_rhs = np.r_[np.zeros(n_obs, bool), np.ones(n_obs, bool)]

    def residuals(q: np.ndarray) -> np.ndarray:
        p = p0.copy()
        p[free_idx] = q
        reg = regression_data(data, rhs_fn(p), method, align_rhs, state_columns=state_cols)
        pred = reg.theta[:, :n_obs] + reg.theta[:, n_obs:]
        scale = reg.dx.std(axis=0)
        return ((pred - reg.dx) / np.where(scale > 0, scale, 1.0)).ravel()

    lo = np.array([p.bounds_tuple()[0] for p in free])
    hi = np.array([p.bounds_tuple()[1] for p in free])
    q0 = np.clip(p0[free_idx], np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf))
    res = least_squares(residuals, q0, bounds=(lo, hi), loss=loss)
    fitted = model.with_parameters(**{p.name: float(v) for p, v in zip(free, res.x, strict=False)})
    fitted.info = dict(model.info)
    fitted.info["fit"] = {
        "cost": float(res.cost),
        "success": bool(res.success),
        "n_evaluations": int(res.nfev),
        "states_fitted": observed,
        "align": mode,
    }
    return fitted
