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

from hybridwm.config import load_mapping
from hybridwm.errors import ConfigError, ParseError, UnknownNameError
from hybridwm.physics.expressions import parse_expression, valid_identifier
from hybridwm.physics.limits import MAX_EXPANDED_TERMS, expanded_terms
from hybridwm.physics.model import PhysicsModel
from hybridwm.physics.notation import parse_lhs, split_equation
from hybridwm.physics.parameter import Parameter
from hybridwm.physics.parameter_fit import fit_parameters

__all__ = ["PRIOR_KEYS", "declare", "fit_parameters", "load_prior", "parse_lhs"]

PRIOR_KEYS = ("states", "actions", "equations", "parameters", "observations", "sharpness")


def _parameter(name: str, spec: Any) -> Parameter:
    """A :class:`Parameter` from a value, a ``{"value", "bounds", "fixed"}`` mapping or itself."""
    if isinstance(spec, Parameter):
        return spec
    if isinstance(spec, Mapping):
        return Parameter.from_dict(spec, name=name)
    return Parameter(name, float(spec))


def _apply_fixed(
    out: dict[str, Parameter], fixed: Sequence[str] | Mapping[str, float] | None
) -> None:
    """Add the constants ``{name: value}`` of ``fixed``, or mark the named parameters fixed."""
    if isinstance(fixed, Mapping):
        for name, v in fixed.items():
            if name in out:
                raise ConfigError(f"Parameter {name!r} is given both in `parameters` and `fixed`.")
            out[name] = Parameter(name, float(v), fixed=True)
        return
    for name in fixed or ():
        if name not in out:
            raise UnknownNameError(
                f"`fixed` names {name!r}, which is not in `parameters` {list(out)}; give its value."
            )
        p = out[name]
        out[name] = Parameter(name, p.value, p.bounds, True)


def _check_parameter(p: Parameter) -> None:
    """Raise :class:`ConfigError` unless ``p`` has a valid name and a value inside its bounds."""
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


def _normalize_params(
    parameters: Mapping[str, Any] | None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None,
    fixed: Sequence[str] | Mapping[str, float] | None,
) -> list[Parameter]:
    """The parameters of :func:`declare` from its ``parameters``, ``bounds`` and ``fixed``."""
    out = {name: _parameter(name, spec) for name, spec in (parameters or {}).items()}
    _apply_fixed(out, fixed)
    for name, b in (bounds or {}).items():
        if name not in out:
            raise UnknownNameError(
                f"`bounds` names {name!r}, which is not a parameter ({list(out)})."
            )
        p = out[name]
        out[name] = Parameter(name, p.value, (b[0], b[1]), p.fixed)
    for p in out.values():
        _check_parameter(p)
    return list(out.values())


def _equation_pairs(equations: Sequence[str] | Mapping[str, str] | str) -> list[tuple[str, str]]:
    """``(state, right side)`` of each equation, in the order given."""
    if isinstance(equations, Mapping):
        pairs = [(str(k), str(v)) for k, v in equations.items()]
        return [(parse_lhs(k) or k, v) for k, v in pairs]
    if isinstance(equations, str):
        equations = [e for e in re.split(r"[\n;]", equations) if e.strip()]
    return [split_equation(eq, i) for i, eq in enumerate(equations)]


def _state_order(lhs_states: list[str], state_names: Sequence[str] | None) -> tuple[str, ...]:
    """The states (``state_names``, default the order of the equations), after checking that
    each has exactly one equation."""
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
    return states


def _expand(rhs: sp.Expr, what: str) -> sp.Expr:
    """``sympy.expand(rhs)``, refused (ParseError) before it starts when the expansion would
    have more than :data:`~hybridwm.physics.limits.MAX_EXPANDED_TERMS` terms."""
    if expanded_terms(rhs) > MAX_EXPANDED_TERMS:
        text = str(rhs)
        raise ParseError(
            f"The {what} ({text[:80]}{'...' if len(text) > 80 else ''}) would expand into more "
            f"than {MAX_EXPANDED_TERMS} terms (a product or power of sums); hybridwm refuses it "
            f"so that loading an untrusted prior ends fast. Write the terms you mean, or use "
            f"fewer and smaller powers of sums."
        )
    return sp.expand(rhs)


def _terms(
    rhs_by_state: Mapping[str, str],
    states: tuple[str, ...],
    actions: tuple[str, ...],
    pnames: tuple[str, ...],
) -> tuple[list[sp.Expr], list[list[sp.Expr]]]:
    """Features and (n_x, n_features) coefficient expressions of the right-hand sides: each is
    expanded and split into terms ``coefficient(p) * feature(x, u[, p])``."""
    names = states + actions + pnames
    kinds = (
        {n: "state" for n in states}
        | {n: "action" for n in actions}
        | {n: "parameter" for n in pnames}
    )
    xu_syms = [sp.Symbol(n, real=True) for n in states + actions]
    features: list[sp.Expr] = []
    index: dict[sp.Expr, int] = {}  # feature -> its column
    coefs: dict[tuple[int, int], sp.Expr] = {}
    for i, s in enumerate(states):
        try:
            rhs = parse_expression(
                rhs_by_state[s], names, what=f"equation for d({s})/dt", kinds=kinds
            )
        except UnknownNameError as exc:
            hint = (
                " If it is an action, pass action_names=[...]; if a parameter, give its value in "
                "parameters={...}."
            )
            raise UnknownNameError(str(exc) + hint) from None
        for term in sp.Add.make_args(_expand(rhs, f"equation for d({s})/dt")):
            if term == 0:
                continue
            c, f = term.as_independent(*xu_syms, as_Add=False)
            if f == 1 and c.free_symbols & set(xu_syms):
                c, f = sp.Integer(1), term
            j = index.setdefault(f, len(features))
            if j == len(features):
                features.append(f)
            coefs[(i, j)] = coefs.get((i, j), sp.Integer(0)) + c
    if not features:
        features = [sp.Integer(1)]
    matrix = [
        [coefs.get((i, j), sp.Integer(0)) for j in range(len(features))] for i in range(len(states))
    ]
    return features, matrix


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
        sharpness: default ``k`` of the smooth ``min``/``max``/``clip`` used in training, in
            1/units of their arguments (see :mod:`hybridwm.physics.saturation`); a call may set
            its own, ``max(q, 0, sharpness=50)``, for arguments in other units. ``None``: the
            calls without their own sharpness stay exact.

    Returns:
        A PhysicsModel whose coefficients are expressions of the parameters.

    Raises:
        ParseError: an equation cannot be parsed (the message shows where).
        UnknownNameError: an equation uses a name that is not a state, action or parameter.
        ConfigError: a state has no or two equations, or bounds are inconsistent.
    """
    pairs = _equation_pairs(equations)
    states = _state_order([s for s, _ in pairs], state_names)
    params = _normalize_params(parameters, bounds, fixed)
    actions = tuple(action_names)
    rhs_by_state = dict(pairs)
    features, matrix = _terms(rhs_by_state, states, actions, tuple(p.name for p in params))
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


def _shown(value: Any) -> str:
    """``repr(value)`` cut to 80 characters (an integer too long for ``repr`` by its size)."""
    try:
        text = repr(value)
    except ValueError:  # Python refuses to print integers of more than 4300 digits
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "?"
    return text if len(text) <= 80 else text[:77] + "..."


def _prior_bounds(name: str, bounds: Any, source: str) -> tuple[float | None, float | None]:
    """``(lo, hi)`` of parameter ``name`` from a file's ``[low, high]`` (``None`` for +-inf)."""
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise ConfigError(
            f"`bounds` of parameter {name!r} in {source} must be [low, high] (use "
            f'"-inf"/"inf" for an open side). Got {bounds!r}.'
        )
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"`bounds` of parameter {name!r} in {source} must be two numbers. Got {_shown(bounds)}."
        ) from None
    return (None if lo == -np.inf else lo, None if hi == np.inf else hi)


def _prior_parameter(name: str, spec: Any, source: str) -> dict[str, Any]:
    """``{"value", "bounds", "fixed"}`` of parameter ``name`` from a file's number or table."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"value": spec}
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
        bounds = _prior_bounds(name, bounds, source)
    try:
        value = float(spec["value"])
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"`value` of parameter {name!r} in {source} must be a number. Got "
            f"{_shown(spec['value'])}."
        ) from None
    return {"value": value, "bounds": bounds, "fixed": bool(spec.get("fixed", False))}


def _prior_parameters(raw: Any, source: str) -> dict[str, dict[str, Any]]:
    """The ``parameters`` table of a prior file, as :func:`declare` takes it."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"`parameters` of {source} must be a table {{name = {{ value = ..., bounds = [lo, "
            f"hi] }}}}. Got {type(raw).__name__}."
        )
    return {name: _prior_parameter(name, spec, source) for name, spec in raw.items()}


def _declare_arguments(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The arguments of :func:`declare` held by the table of a prior file, checked."""
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
        if (
            isinstance(value, str)
            or not isinstance(value, Sequence)
            or not all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(
                f"`{key}` of {source} must be a list of names (strings). Got {value!r}."
            )
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
    return {
        "equations": data["equations"],
        "parameters": _prior_parameters(data.get("parameters"), source),
        "state_names": list(states),
        "action_names": list(actions),
        "observations": {str(k): str(v) for k, v in observations.items()},
        "sharpness": sharpness,
    }


def load_prior(path: Any) -> PhysicsModel:
    """Read a declared physics prior from a TOML, YAML or JSON file.

    Format (TOML; YAML and JSON hold the same keys)::

        states = ["theta", "omega"]          # omega may be absent from the data (unmeasured)
        actions = ["torque"]
        equations = ["d(theta) = omega",
                     "d(omega) = -w0**2*sin(theta) - c*omega + b*clip(torque, -2, 2)"]
        sharpness = 20.0                     # optional: smooth min/max/clip in training;
                                             # per call: clip(torque, -2, 2, sharpness=5)

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
    source = f"prior {str(path)!r}"
    data = load_mapping(path)
    try:
        model = declare(**_declare_arguments(data, source))
    except (TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise ConfigError(
            f"{source} is invalid: a value has the wrong type ({type(exc).__name__}: {exc}). "
            f"See the format in the documentation of load_prior."
        ) from None
    model.info["source"] = str(path)
    return model
