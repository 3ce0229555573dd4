"""The systems shipped with hybridwm and the registry that names them.

=========  ===========================================  =========================================
system     states / actions                             angle 0 means
=========  ===========================================  =========================================
pendulum   theta, omega / torque                        rod hanging straight down
cartpole   x, theta, v, omega / force                   pole hanging straight down (pi: upright)
acrobot    theta1, theta2, omega1, omega2 / torque      link 1 hanging down; theta2 relative,
                                                        0 = links aligned
reacher    theta1, theta2, omega1, omega2 / tau1, tau2  link 1 along +x (horizontal plane);
                                                        theta2 relative, 0 = straight arm
=========  ===========================================  =========================================

Positive angles move the link tip towards +x (pendulum, cartpole, acrobot) or counter-clockwise
seen from above (reacher). Every link is a uniform rod with an explicit inertia, so a parameter
override rewrites mass, centre of mass, inertia, geometry and child body positions together.

Each system also comes as an incomplete-physics rig (:mod:`hybridwm.systems.rig`): the same
states, actions, parameters, energy and scenarios, plus Coulomb friction, a first-order motor
lag, motor force saturation and air drag, and no closed-form equations. Their defaults:

============  =====================================  =========  ===========  ===========
rig           Coulomb friction                       motor_tau  force_limit  air_density
============  =====================================  =========  ===========  ===========
pendulum-rig  friction = 0.1 N m                     0.03 s     0.8 N m      1.2 kg/m³
cartpole-rig  cart_friction = 0.3 N,                 0.03 s     4 N          1.2 kg/m³
              pole_friction = 0.005 N m
acrobot-rig   friction1 = friction2 = 0.05 N m       0.03 s     0.8 N m      1.2 kg/m³
reacher-rig   friction1 = friction2 = 0.02 N m       0.03 s     0.2 N m      1.2 kg/m³
============  =====================================  =========  ===========  ===========

The force limits lie inside the ``train`` scenarios' commands (half the action bounds), so
saturation acts in the training data and more so under ``ood-action``. The open-loop nRMSE of
each ideal system on its rig's data over 3 s, effect by effect, is printed by
``benchmarks/bench_rigs.py`` (together: about 0.2 to 0.4).
"""

from __future__ import annotations

from collections.abc import Mapping

import mujoco

from hybridwm.registry import Registry
from hybridwm.systems import equations as eq
from hybridwm.systems.parameter import Parameter
from hybridwm.systems.rig import make_rig
from hybridwm.systems.system import System

__all__ = ["SYSTEMS", "get_system", "list_systems"]

_AXIAL = 1e-3  # axial inertia of a rod, as a fraction of m*l² (keeps the inertia valid)

#: the gravity parameter of the systems in a vertical plane (applied by ``_set_gravity``)
_GRAVITY = Parameter("gravity", 9.81, "gravitational acceleration, m/s²", inclusive=True)


def _set_rod(
    spec: mujoco.MjSpec, body: str, mass: float, length: float, axis: int, sign: float
) -> None:
    """Make ``body`` a uniform rod of ``mass`` and ``length`` along ``sign * axis``."""
    b = spec.body(body)
    b.mass = mass
    ipos = [0.0, 0.0, 0.0]
    ipos[axis] = sign * length / 2
    b.ipos = ipos
    transverse = mass * length**2 / 12
    inertia = [transverse, transverse, transverse]
    inertia[axis] = _AXIAL * mass * length**2
    b.inertia = inertia
    tip = [0.0, 0.0, 0.0]
    tip[axis] = sign * length
    spec.geom(body).fromto = [0.0, 0.0, 0.0, *tip]


def _set_gear(spec: mujoco.MjSpec, actuator: str, gear: float) -> None:
    spec.actuator(actuator).gear = [gear, 0.0, 0.0, 0.0, 0.0, 0.0]


def _set_damping(spec: mujoco.MjSpec, joint: str, damping: float) -> None:
    # MuJoCo 4 joints hold polynomial damping [linear, quadratic, cubic]; only viscous is used.
    spec.joint(joint).damping = [damping, 0.0, 0.0]


def _set_gravity(spec: mujoco.MjSpec, g: float) -> None:
    spec.option.gravity = [0.0, 0.0, -g]


# ---------------------------------------------------------------------------- pendulum
def _apply_pendulum(spec: mujoco.MjSpec, p: Mapping[str, float]) -> None:
    _set_rod(spec, "pole", p["mass"], p["length"], axis=2, sign=-1.0)
    _set_damping(spec, "hinge", p["damping"])
    _set_gear(spec, "torque", p["gear"])
    _set_gravity(spec, p["gravity"])


PENDULUM = System(
    "pendulum",
    asset="pendulum.xml",
    state_names=("theta", "omega"),
    action_names=("torque",),
    angle_names=("theta",),
    parameters=(
        Parameter("mass", 1.0, "rod mass, kg"),
        Parameter("length", 1.0, "rod length, m"),
        Parameter("damping", 0.05, "hinge viscous damping, N m s/rad", inclusive=True),
        Parameter("gear", 1.0, "motor gear, N m per unit torque"),
        _GRAVITY,
    ),
    apply=_apply_pendulum,
    energy=eq.pendulum_energy,
    equations=eq.pendulum_equations,
    description="Uniform rod on a hinge with a torque motor; theta=0 hangs straight down.",
)


# ---------------------------------------------------------------------------- cartpole
def _apply_cartpole(spec: mujoco.MjSpec, p: Mapping[str, float]) -> None:
    cart = spec.body("cart")
    cart.mass = p["cart_mass"]
    _set_rod(spec, "pole", p["pole_mass"], p["pole_length"], axis=2, sign=-1.0)
    _set_damping(spec, "slider", p["cart_damping"])
    _set_damping(spec, "hinge", p["pole_damping"])
    _set_gear(spec, "force", p["gear"])
    _set_gravity(spec, p["gravity"])


CARTPOLE = System(
    "cartpole",
    asset="cartpole.xml",
    state_names=("x", "theta", "v", "omega"),
    action_names=("force",),
    angle_names=("theta",),
    parameters=(
        Parameter("cart_mass", 1.0, "cart mass, kg"),
        Parameter("pole_mass", 0.1, "pole mass, kg"),
        Parameter("pole_length", 1.0, "pole length, m"),
        Parameter("cart_damping", 0.1, "rail viscous damping, N s/m", inclusive=True),
        Parameter("pole_damping", 0.01, "hinge viscous damping, N m s/rad", inclusive=True),
        Parameter("gear", 1.0, "motor gear, N per unit force"),
        _GRAVITY,
    ),
    apply=_apply_cartpole,
    energy=eq.cartpole_energy,
    equations=eq.cartpole_equations,
    description="Cart on a rail with a hinged uniform pole; theta=0 hangs down, pi is upright.",
)


# ---------------------------------------------------------------------------- two-link chains
def _apply_two_link(spec: mujoco.MjSpec, p: Mapping[str, float], axis: int, sign: float) -> None:
    _set_rod(spec, "link1", p["mass1"], p["length1"], axis=axis, sign=sign)
    _set_rod(spec, "link2", p["mass2"], p["length2"], axis=axis, sign=sign)
    pos = [0.0, 0.0, 0.0]
    pos[axis] = sign * p["length1"]
    spec.body("link2").pos = pos
    _set_damping(spec, "shoulder", p["damping1"])
    _set_damping(spec, "elbow", p["damping2"])


def _link_parameters(mass: float, length: float, damping: float) -> tuple[Parameter, ...]:
    return tuple(
        Parameter(f"{kind}{i}", value, f"{what} of link {i}", inclusive=kind == "damping")
        for i in (1, 2)
        for kind, value, what in (
            ("mass", mass, "mass (kg)"),
            ("length", length, "length (m)"),
            ("damping", damping, "joint viscous damping (N m s/rad)"),
        )
    )


def _apply_acrobot(spec: mujoco.MjSpec, p: Mapping[str, float]) -> None:
    _apply_two_link(spec, p, axis=2, sign=-1.0)
    _set_gear(spec, "torque", p["gear"])
    _set_gravity(spec, p["gravity"])


ACROBOT = System(
    "acrobot",
    asset="acrobot.xml",
    state_names=("theta1", "theta2", "omega1", "omega2"),
    action_names=("torque",),
    angle_names=("theta1", "theta2"),
    parameters=(
        *_link_parameters(1.0, 1.0, 0.02),
        Parameter("gear", 1.0, "elbow motor gear, N m per unit torque"),
        _GRAVITY,
    ),
    apply=_apply_acrobot,
    energy=eq.two_link_energy,
    equations=eq.acrobot_equations,
    description="Two uniform links, torque at the elbow only; theta1=0 hangs down, theta2 relative.",
)


def _apply_reacher(spec: mujoco.MjSpec, p: Mapping[str, float]) -> None:
    _apply_two_link(spec, p, axis=0, sign=1.0)
    _set_gear(spec, "tau1", p["gear1"])
    _set_gear(spec, "tau2", p["gear2"])


REACHER = System(
    "reacher",
    asset="reacher.xml",
    state_names=("theta1", "theta2", "omega1", "omega2"),
    action_names=("tau1", "tau2"),
    angle_names=("theta1", "theta2"),
    parameters=(
        *_link_parameters(0.5, 0.5, 0.1),
        Parameter("gear1", 1.0, "shoulder motor gear, N m per unit tau1"),
        Parameter("gear2", 1.0, "elbow motor gear, N m per unit tau2"),
    ),
    apply=_apply_reacher,
    energy=eq.two_link_energy,
    equations=eq.reacher_equations,
    description="Planar two-link arm in a horizontal plane, two torques; theta1=0 along +x.",
)


# ---------------------------------------------------------------------------- rigs
PENDULUM_RIG = make_rig(PENDULUM, friction={"friction": ("hinge", 0.1)}, force_limit=0.8)
CARTPOLE_RIG = make_rig(
    CARTPOLE,
    friction={"cart_friction": ("slider", 0.3), "pole_friction": ("hinge", 0.005)},
    force_limit=4.0,
)
ACROBOT_RIG = make_rig(
    ACROBOT,
    friction={"friction1": ("shoulder", 0.05), "friction2": ("elbow", 0.05)},
    force_limit=0.8,
)
REACHER_RIG = make_rig(
    REACHER,
    friction={"friction1": ("shoulder", 0.02), "friction2": ("elbow", 0.02)},
    force_limit=0.2,
)

SYSTEMS: Registry[System] = Registry("system", "`system`")
for _system in (
    PENDULUM,
    CARTPOLE,
    ACROBOT,
    REACHER,
    PENDULUM_RIG,
    CARTPOLE_RIG,
    ACROBOT_RIG,
    REACHER_RIG,
):
    SYSTEMS.register(_system.name, _system)


def get_system(name: str) -> System:
    """The system registered as ``name`` (default parameters).

    Raises:
        UnknownNameError: if there is no such system; the message lists the valid names.
    """
    return SYSTEMS[name]


def list_systems() -> list[str]:
    """Names of the registered systems, sorted."""
    return SYSTEMS.names()
