"""Incomplete-physics rigs: a shipped system plus the effects real rigs have and ideal models miss.

A rig (``pendulum-rig``, ``cartpole-rig``, ...) is its base system made by
:meth:`~hybridwm.systems.System.extend` with four effects, each with its own parameters so that
scenarios and ``with_parameters`` can change it (and a value that switches it off):

=================  =============================================  ===============================
effect             MuJoCo                                         parameters (off)
=================  =============================================  ===============================
Coulomb friction   joint ``frictionloss``: a friction torque of    one per joint, e.g. ``friction``
                   fixed size against the motion, sticking         or ``cart_friction`` (0)
                   below it (a dead zone around equilibria)
motor lag          actuator ``dyntype="filter"``: the applied      ``motor_tau``, s (0)
                   force follows the command with a first-order
                   lag of time constant ``motor_tau``
force saturation   actuator ``forcerange = ±force_limit``: the     ``force_limit``, in the
                   motor cannot give more than ``force_limit``     action's units before the gear
                   (in the action's units) whatever the command    (a value above the bounds)
air drag           the ellipsoid fluid model of every geom in a    ``air_density``, kg/m³ (0)
                   medium of density ``air_density`` (1.2: air):
                   drag and lift quadratic in the local speeds
=================  =============================================  ===============================

None of them is in the closed-form equations or the usual feature libraries (friction is a sign
function, the lag a hidden state, saturation a clip of the action, drag a sum of ``|v| v`` over
each body's surface), so a model of the ideal system is honestly incomplete on rig data. Sensor
noise is not part of the system: the benchmark adds it to the training states
(``BenchmarkConfig.noise``). The mechanical energy of a rig is its base system's (the motor's
state is not mechanical energy of the links).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco

from hybridwm.errors import UnknownNameError
from hybridwm.systems.parameter import Parameter
from hybridwm.systems.system import System

__all__ = ["AIR_DENSITY", "MOTOR_TAU", "RigEffects", "make_rig"]

#: density of air at 20 °C and sea level, kg/m³
AIR_DENSITY = 1.2
#: default time constant of a rig's motor lag, s (a small DC motor with its driver)
MOTOR_TAU = 0.03


@dataclass(frozen=True)
class RigEffects:
    """Writes a rig's effects into a ``mujoco.MjSpec`` (the ``apply`` of
    :meth:`System.extend`).

    Attributes:
        friction: ``(parameter, joint)`` pairs: the joints with Coulomb friction.
    """

    friction: tuple[tuple[str, str], ...]

    def __call__(self, spec: mujoco.MjSpec, values: Mapping[str, float]) -> None:
        """Apply the rig's parameter ``values`` (every parameter of the rig) to ``spec``."""
        for parameter, joint in self.friction:
            spec.joint(joint).frictionloss = values[parameter]
        tau, limit = values["motor_tau"], values["force_limit"]
        for actuator in spec.actuators:
            if tau > 0:
                actuator.dyntype = mujoco.mjtDyn.mjDYN_FILTER
                actuator.dynprm = [tau, *[0.0] * (len(actuator.dynprm) - 1)]
            actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            actuator.forcerange = [-limit, limit]
        spec.option.density = values["air_density"]
        for geom in spec.geoms:
            geom.fluid_ellipsoid = 1.0  # the ellipsoid model: no buoyancy, drag from each shape


def _force_unit(spec: mujoco.MjSpec, joint: str) -> str:
    """``"N"`` for a force on a slider, ``"N m"`` for a torque on a hinge."""
    return "N" if spec.joint(joint).type == mujoco.mjtJoint.mjJNT_SLIDE else "N m"


def _joint_names(spec: mujoco.MjSpec) -> list[str]:
    return [j.name for j in spec.joints]


def make_rig(
    base: System,
    *,
    friction: Mapping[str, tuple[str, float]],
    force_limit: float,
    motor_tau: float = MOTOR_TAU,
    air_density: float = AIR_DENSITY,
) -> System:
    """The incomplete-physics rig of ``base``: ``<base>-rig`` with the effects of this module.

    Args:
        base: The ideal system the rig extends.
        friction: ``{parameter: (joint, default)}``: the joints with Coulomb friction, the name
            of each one's parameter and its default (N on a slider, N m on a hinge).
        force_limit: Default force limit of every motor, in the units of its action.
        motor_tau: Default time constant of every motor's first-order lag, s.
        air_density: Default density of the air, kg/m³.

    Returns:
        The rig: ``base``'s names, parameters, energy and scenarios, plus the parameters of the
        friction, ``motor_tau``, ``force_limit`` and ``air_density``; no closed-form equations.

    Raises:
        UnknownNameError: for a joint ``base`` does not have (the valid names are listed).
    """
    spec = base.spec()
    for parameter, (joint, _) in friction.items():
        if joint not in _joint_names(spec):
            raise UnknownNameError(
                f"Unknown joint {joint!r} for the friction parameter {parameter!r} of "
                f"{base.name}-rig. Joints of {base.name}: {_joint_names(spec)}."
            )
    unit = _force_unit(spec, spec.actuators[0].target)
    parameters = (
        *(
            Parameter(
                name,
                default,
                f"Coulomb friction of the {joint} joint, {_force_unit(spec, joint)}",
                inclusive=True,
            )
            for name, (joint, default) in friction.items()
        ),
        Parameter("motor_tau", motor_tau, "time constant of the motors' lag, s", inclusive=True),
        Parameter("force_limit", force_limit, f"largest force of each motor, {unit}"),
        Parameter("air_density", air_density, "density of the air (drag), kg/m³", inclusive=True),
    )
    return base.extend(
        f"{base.name}-rig",
        parameters=parameters,
        apply=RigEffects(tuple((name, joint) for name, (joint, _) in friction.items())),
        description=(
            f"{base.name} as a real rig: Coulomb friction, {1000 * motor_tau:g} ms motor lag, "
            f"motor force saturation at {force_limit:g} {unit}, air drag; no closed form."
        ),
    )
