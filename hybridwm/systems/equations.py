"""Closed-form equations of motion and energies, computed from a compiled ``mujoco.MjModel``.

Every constant (masses, centre-of-mass distances, rotational inertias, damping, armature, gear,
gravity) is read from the model itself, so parameter overrides applied through
:meth:`hybridwm.systems.System.with_parameters` flow into the equations.

Feature names
    Coefficients are given in the form a SINDy regression finds them: for each state, a mapping
    from *feature name* to coefficient, such that ``d(state)/dt = sum(coef * feature)``.
    A feature name is a product of factors joined by ``*``: state or action names (``omega``,
    ``torque``), powers (``omega^2``) and trigonometric functions of angles (``sin(theta)``,
    ``cos(theta)``); ``1`` is the constant. The canonical order is: polynomial state factors
    first (in state order), then ``sin`` before ``cos``, then actions, e.g. ``omega^2*sin(theta)``,
    ``sin(theta)*cos(theta)``, ``cos(theta)*force``. :func:`feature_key` normalises any order and
    pysindy's space-separated products (``"omega^2 sin(theta)"``), so
    :meth:`TrueEquations.coefficient_matrix` aligns the truth with any library's names.

Rational equations
    The cartpole's accelerations are rational in ``theta``: ``D(theta) * d(v)/dt = sum(...)``
    with ``D = 1 + k*cos(theta)^2``. For such states ``TrueEquations.denominator[state]`` gives
    ``D`` as a feature → coefficient mapping (``{"1": 1.0, "cos(theta)^2": -k}``) and
    ``coefficients[state]`` is the numerator: the form an implicit SINDy (SINDy-PI) finds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np

from hybridwm.errors import ConfigError, UnknownNameError

__all__ = [
    "LinkConstants",
    "TrueEquations",
    "acrobot_equations",
    "actuation_matrix",
    "cartpole_energy",
    "cartpole_equations",
    "feature_key",
    "link_constants",
    "pendulum_energy",
    "pendulum_equations",
    "reacher_equations",
    "two_link_energy",
]


# ---------------------------------------------------------------------------- feature names
_SPLIT = re.compile(r"\*|\s+(?![^()]*\))")


def feature_key(name: str) -> tuple[str, ...]:
    """Canonical, order-free key of a feature name.

    ``"omega^2*sin(theta)"``, ``"sin(theta)*omega^2"``, ``"omega omega sin(theta)"`` and
    ``"sin(theta) omega^2"`` all map to ``("omega", "omega", "sin(theta)")``. The constant
    (``"1"`` or ``""``) maps to ``()``.
    """
    factors: list[str] = []
    for raw in _SPLIT.split(name.strip()):
        f = raw.strip()
        if not f or f == "1":
            continue
        base, sep, power = f.rpartition("^")
        if sep and power.isdigit() and base:
            factors.extend([base] * int(power))
        else:
            factors.append(f)
    return tuple(sorted(factors))


@dataclass(frozen=True)
class TrueEquations:
    """Known equations of motion of a system, for coefficient-error metrics and baselines.

    Attributes:
        system: Name of the system.
        state_names: The ``n_x`` state names, in the order ``f`` uses.
        action_names: The ``n_u`` action names.
        f: ``f(x, u) -> dx/dt`` with ``x`` of shape (..., n_x) and ``u`` of shape (..., n_u)
            (broadcast against each other); returns (..., n_x).
        equations: One readable string per state, e.g. ``"d(omega)/dt = -14.7*sin(theta) ..."``.
        coefficients: ``coefficients[state][feature] = value`` such that
            ``d(state)/dt = sum(value * feature)`` (divided by ``denominator[state]`` where
            given). States whose derivative has no finite form in these features are absent.
        denominator: For rational rows, ``denominator[state][feature] = value``.
        constants: The physical constants the equations were built from (``J``, ``m``, ...).
    """

    system: str
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    equations: tuple[str, ...]
    coefficients: dict[str, dict[str, float]]
    denominator: dict[str, dict[str, float]] = field(default_factory=dict)
    constants: dict[str, float] = field(default_factory=dict)

    def __call__(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Same as ``f(x, u)``: (..., n_x), (..., n_u) → (..., n_x)."""
        return self.f(x, u)

    def __str__(self) -> str:
        return "\n".join(self.equations)

    def coefficient(self, state: str, feature: str) -> float:
        """The true coefficient of ``feature`` in ``d(state)/dt`` (0.0 if the term is absent).

        Raises:
            UnknownNameError: if ``state`` is not a state with known coefficients.
        """
        row = self._row(state)
        key = feature_key(feature)
        return float(sum(v for k, v in row.items() if feature_key(k) == key))

    def _row(self, state: str) -> dict[str, float]:
        if state not in self.coefficients:
            raise UnknownNameError(
                f"No known coefficients for state {state!r} of {self.system}. States with "
                f"coefficients: {list(self.coefficients)}."
            )
        return self.coefficients[state]

    def coefficient_matrix(
        self, feature_names: Sequence[str], *, strict: bool = True
    ) -> np.ndarray:
        """Coefficients aligned with a library's feature names.

        Args:
            feature_names: The ``n_f`` feature names of a library, in any factor order.
            strict: If true, raise when a true term is not among ``feature_names`` (the library
                cannot represent the truth); if false, such terms are dropped.

        Returns:
            (n_x, n_f) array; row ``i`` holds the coefficients of ``d(state_names[i])/dt``
            (the numerator for rational rows); rows of states without known coefficients are NaN.

        Raises:
            ConfigError: if ``strict`` and a true term has no matching feature.
        """
        keys = [feature_key(n) for n in feature_names]
        out = np.full((len(self.state_names), len(keys)), np.nan)
        missing: list[str] = []
        for i, s in enumerate(self.state_names):
            if s not in self.coefficients:
                continue
            out[i] = 0.0
            for feat, val in self.coefficients[s].items():
                k = feature_key(feat)
                if k in keys:
                    out[i, keys.index(k)] += val
                elif val != 0.0:
                    missing.append(f"{feat} (in d({s})/dt)")
        if strict and missing:
            raise ConfigError(
                f"The library's features {list(feature_names)} cannot represent the true "
                f"{self.system} equations: missing {missing}. Add these features or pass "
                f"strict=False to drop them."
            )
        return out


# ---------------------------------------------------------------------------- model constants
@dataclass(frozen=True)
class LinkConstants:
    """Inertial constants of one body about the axis of one of its hinge/slide joints.

    Attributes:
        mass: Body mass (kg).
        com: Distance of the centre of mass from the joint axis (m); 0 for slides.
        inertia: Rotational inertia about the axis through the centre of mass (kg m²).
        damping: Viscous damping of the joint's degree of freedom.
        armature: Armature (rotor inertia) of the joint's degree of freedom.
        dof: Index of the joint's degree of freedom.
    """

    mass: float
    com: float
    inertia: float
    damping: float
    armature: float
    dof: int


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(q, dtype=np.float64))
    return mat.reshape(3, 3)


def link_constants(model: mujoco.MjModel, body: str, joint: str) -> LinkConstants:
    """Read a body's mass, centre-of-mass distance and axial inertia about ``joint``'s axis."""
    b = model.body(body).id
    j = model.joint(joint).id
    axis = np.asarray(model.jnt_axis[j], dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    r = model.body_ipos[b] - model.jnt_pos[j]
    r_perp = r - axis * float(r @ axis)
    rot = _quat_to_mat(model.body_iquat[b])
    inertia = rot @ np.diag(model.body_inertia[b]) @ rot.T
    dof = int(model.jnt_dofadr[j])
    return LinkConstants(
        mass=float(model.body_mass[b]),
        com=float(np.linalg.norm(r_perp)),
        inertia=float(axis @ inertia @ axis),
        damping=float(model.dof_damping[dof]),
        armature=float(model.dof_armature[dof]),
        dof=dof,
    )


def _gravity_in_plane(model: mujoco.MjModel, joint: str) -> float:
    """Magnitude of gravity in the plane of motion of a hinge (0 for a vertical axis)."""
    j = model.joint(joint).id
    axis = np.asarray(model.jnt_axis[j], dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    g = np.asarray(model.opt.gravity, dtype=np.float64)
    return float(np.linalg.norm(g - axis * float(g @ axis)))


def actuation_matrix(model: mujoco.MjModel) -> np.ndarray:
    """(n_u, nv) matrix ``B`` with generalized forces ``qfrc = u @ B`` for joint motors."""
    out = np.zeros((model.nu, model.nv))
    for k in range(model.nu):
        j = int(model.actuator_trnid[k, 0])
        out[k, int(model.jnt_dofadr[j])] = float(model.actuator_gear[k, 0])
    return out


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _term(feature: str, value: float) -> str:
    if feature == "1":
        return _fmt(value)
    return feature if value == 1.0 else f"{_fmt(value)}*{feature}"


def _equation(state: str, row: Mapping[str, float], denom: Mapping[str, float] | None) -> str:
    rhs = " + ".join(_term(k, v) for k, v in row.items() if v != 0.0).replace("+ -", "- ")
    rhs = rhs or "0"
    if denom:
        d = " + ".join(_term(k, v) for k, v in denom.items()).replace("+ -", "- ")
        rhs = f"({rhs}) / ({d})"
    return f"d({state})/dt = {rhs}"


# ---------------------------------------------------------------------------- pendulum
def _pendulum_constants(model: mujoco.MjModel) -> dict[str, float]:
    link = link_constants(model, "pole", "hinge")
    return {
        "m": link.mass,
        "c": link.com,
        "I": link.inertia,
        "J": link.inertia + link.mass * link.com**2 + link.armature,
        "b": link.damping,
        "gear": float(actuation_matrix(model)[0, link.dof]),
        "g": _gravity_in_plane(model, "hinge"),
    }


def pendulum_equations(model: mujoco.MjModel) -> TrueEquations:
    """The pendulum's ODE: ``J*d(omega)/dt = -m*g*c*sin(theta) - b*omega + gear*torque``.

    ``J = I_com + m*c² + armature`` is the inertia about the hinge.
    """
    k = _pendulum_constants(model)
    a = -k["m"] * k["g"] * k["c"] / k["J"]
    bw = -k["b"] / k["J"]
    cu = k["gear"] / k["J"]

    def f(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        u = np.asarray(u, dtype=np.float64)
        th, om = x[..., 0], x[..., 1]
        dom = a * np.sin(th) + bw * om + cu * u[..., 0]
        return np.stack(np.broadcast_arrays(om, dom), axis=-1)

    coefs = {"theta": {"omega": 1.0}, "omega": {"sin(theta)": a, "omega": bw, "torque": cu}}
    return TrueEquations(
        system="pendulum",
        state_names=("theta", "omega"),
        action_names=("torque",),
        f=f,
        equations=tuple(_equation(s, coefs[s], None) for s in ("theta", "omega")),
        coefficients=coefs,
        constants=k,
    )


def pendulum_energy(model: mujoco.MjModel, x: np.ndarray) -> np.ndarray:
    """(..., 2) → (...,) total mechanical energy ``J*omega²/2 - m*g*c*cos(theta)``."""
    k = _pendulum_constants(model)
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * k["J"] * x[..., 1] ** 2 - k["m"] * k["g"] * k["c"] * np.cos(x[..., 0])


# ---------------------------------------------------------------------------- cartpole
def _cartpole_constants(model: mujoco.MjModel) -> dict[str, float]:
    cart = link_constants(model, "cart", "slider")
    pole = link_constants(model, "pole", "hinge")
    m, c = pole.mass, pole.com
    return {
        "M": cart.mass,
        "m": m,
        "c": c,
        "I": pole.inertia,
        "Mt": cart.mass + m + cart.armature,
        "J": pole.inertia + m * c**2 + pole.armature,
        "bx": cart.damping,
        "bth": pole.damping,
        "gear": float(actuation_matrix(model)[0, cart.dof]),
        "g": _gravity_in_plane(model, "hinge"),
    }


def cartpole_equations(model: mujoco.MjModel) -> TrueEquations:
    """The cartpole's ODE (theta = 0 hanging down), from the Lagrangian.

    With ``Mt = M + m + armature_x`` and ``J = I_com + m*c² + armature_theta``::

        Mt*dv/dt + m*c*cos(theta)*domega/dt = gear*force - bx*v + m*c*sin(theta)*omega²
        m*c*cos(theta)*dv/dt + J*domega/dt  = -m*g*c*sin(theta) - bth*omega

    Solved for the accelerations and divided by ``Mt*J``, each has the denominator
    ``1 - k*cos(theta)²`` with ``k = (m*c)²/(Mt*J)``.
    """
    p = _cartpole_constants(model)
    Mt, J, m, c, g, bx, bth, gear = (p[n] for n in ("Mt", "J", "m", "c", "g", "bx", "bth", "gear"))
    mc = m * c
    kden = mc**2 / (Mt * J)

    def f(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        u = np.asarray(u, dtype=np.float64)
        th, v, om = x[..., 1], x[..., 2], x[..., 3]
        s, co = np.sin(th), np.cos(th)
        r1 = gear * u[..., 0] - bx * v + mc * s * om**2
        r2 = -mc * g * s - bth * om
        det = Mt * J - (mc * co) ** 2
        dv = (J * r1 - mc * co * r2) / det
        dom = (Mt * r2 - mc * co * r1) / det
        return np.stack(np.broadcast_arrays(v, om, dv, dom), axis=-1)

    num_v = {
        "v": -bx / Mt,
        "omega^2*sin(theta)": mc / Mt,
        "sin(theta)*cos(theta)": mc**2 * g / (Mt * J),
        "omega*cos(theta)": mc * bth / (Mt * J),
        "force": gear / Mt,
    }
    num_om = {
        "sin(theta)": -mc * g / J,
        "omega": -bth / J,
        "v*cos(theta)": mc * bx / (Mt * J),
        "omega^2*sin(theta)*cos(theta)": -(mc**2) / (Mt * J),
        "cos(theta)*force": -mc * gear / (Mt * J),
    }
    den = {"1": 1.0, "cos(theta)^2": -kden}
    coefs = {"x": {"v": 1.0}, "theta": {"omega": 1.0}, "v": num_v, "omega": num_om}
    denominator = {"v": den, "omega": dict(den)}
    names = ("x", "theta", "v", "omega")
    return TrueEquations(
        system="cartpole",
        state_names=names,
        action_names=("force",),
        f=f,
        equations=tuple(_equation(s, coefs[s], denominator.get(s)) for s in names),
        coefficients=coefs,
        denominator=denominator,
        constants={**p, "k": kden},
    )


def cartpole_energy(model: mujoco.MjModel, x: np.ndarray) -> np.ndarray:
    """(..., 4) → (...,) kinetic plus gravitational energy of cart and pole."""
    p = _cartpole_constants(model)
    x = np.asarray(x, dtype=np.float64)
    th, v, om = x[..., 1], x[..., 2], x[..., 3]
    mc = p["m"] * p["c"]
    kin = 0.5 * p["Mt"] * v**2 + mc * np.cos(th) * v * om + 0.5 * p["J"] * om**2
    return kin - mc * p["g"] * np.cos(th)


# ---------------------------------------------------------------------------- two-link chains
def _two_link_constants(model: mujoco.MjModel) -> dict[str, float]:
    l1 = link_constants(model, "link1", "shoulder")
    l2 = link_constants(model, "link2", "elbow")
    b2 = model.body("link2").id
    j1, j2 = model.joint("shoulder").id, model.joint("elbow").id
    length1 = float(np.linalg.norm(model.body_pos[b2] + model.jnt_pos[j2] - model.jnt_pos[j1]))
    return {
        "m1": l1.mass,
        "m2": l2.mass,
        "c1": l1.com,
        "c2": l2.com,
        "l1": length1,
        "J1": l1.inertia + l1.mass * l1.com**2,
        "J2": l2.inertia + l2.mass * l2.com**2,
        "a1": l1.armature,
        "a2": l2.armature,
        "b1": l1.damping,
        "b2": l2.damping,
        "g": _gravity_in_plane(model, "shoulder"),
    }


def _two_link_mass(p: Mapping[str, float], th2: np.ndarray) -> tuple[np.ndarray, ...]:
    h = p["m2"] * p["l1"] * p["c2"]
    co = np.cos(th2)
    m11 = p["J1"] + p["J2"] + p["m2"] * p["l1"] ** 2 + 2 * h * co + p["a1"]
    m12 = p["J2"] + h * co
    m22 = p["J2"] + p["a2"] + 0 * co
    return m11, m12, m22


def two_link_energy(model: mujoco.MjModel, x: np.ndarray) -> np.ndarray:
    """(..., 4) → (...,) energy of a two-link chain (acrobot, reacher); angle 0 = hanging."""
    p = _two_link_constants(model)
    x = np.asarray(x, dtype=np.float64)
    th1, th2, w1, w2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
    m11, m12, m22 = _two_link_mass(p, th2)
    kin = 0.5 * m11 * w1**2 + m12 * w1 * w2 + 0.5 * m22 * w2**2
    pot = -p["g"] * (
        (p["m1"] * p["c1"] + p["m2"] * p["l1"]) * np.cos(th1)
        + p["m2"] * p["c2"] * np.cos(th1 + th2)
    )
    return kin + pot


def _two_link_equations(model: mujoco.MjModel, system: str, actions: tuple[str, ...]):
    p = _two_link_constants(model)
    bmat = actuation_matrix(model)
    h = p["m2"] * p["l1"] * p["c2"]
    g = p["g"]

    def f(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        u = np.asarray(u, dtype=np.float64)
        th1, th2, w1, w2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        tau = u @ bmat
        m11, m12, m22 = _two_link_mass(p, th2)
        s2 = np.sin(th2)
        g1 = g * (
            (p["m1"] * p["c1"] + p["m2"] * p["l1"]) * np.sin(th1)
            + p["m2"] * p["c2"] * np.sin(th1 + th2)
        )
        g2 = g * p["m2"] * p["c2"] * np.sin(th1 + th2)
        r1 = tau[..., 0] + h * s2 * (2 * w1 * w2 + w2**2) - g1 - p["b1"] * w1
        r2 = tau[..., 1] - h * s2 * w1**2 - g2 - p["b2"] * w2
        det = m11 * m22 - m12**2
        dw1 = (m22 * r1 - m12 * r2) / det
        dw2 = (m11 * r2 - m12 * r1) / det
        return np.stack(np.broadcast_arrays(w1, w2, dw1, dw2), axis=-1)

    names = ("theta1", "theta2", "omega1", "omega2")
    coefs = {"theta1": {"omega1": 1.0}, "theta2": {"omega2": 1.0}}
    eqs = (
        "d(theta1)/dt = omega1",
        "d(theta2)/dt = omega2",
        "M(theta2) @ d(omega1, omega2)/dt = tau - C(theta2, omega) - G(theta) - b*omega "
        f"(two-link chain; constants {', '.join(f'{k}={_fmt(v)}' for k, v in p.items())})",
        "(the omega rows are rational in cos(theta2); see the constants)",
    )
    return TrueEquations(
        system=system,
        state_names=names,
        action_names=actions,
        f=f,
        equations=eqs,
        coefficients=coefs,
        constants=p,
    )


def acrobot_equations(model: mujoco.MjModel) -> TrueEquations:
    """The acrobot's ODE (two-link chain, torque at the elbow). Only the kinematic rows have
    finite SINDy coefficients; ``f`` is exact."""
    return _two_link_equations(model, "acrobot", ("torque",))


def reacher_equations(model: mujoco.MjModel) -> TrueEquations:
    """The reacher's ODE (horizontal two-link arm, two torques). Only the kinematic rows have
    finite SINDy coefficients; ``f`` is exact."""
    return _two_link_equations(model, "reacher", ("tau1", "tau2"))
