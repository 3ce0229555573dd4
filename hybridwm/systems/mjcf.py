"""The user's own MuJoCo model: states, actions and parameters read from an MJCF file.

:meth:`hybridwm.systems.System.from_mjcf` reads a file with :func:`read_mjcf` and makes a
:class:`~hybridwm.systems.System` of it:

* **states**: the position of every joint, then its velocity (``<joint>`` and
  ``<joint>_vel``); only hinge and slide joints (one position and one velocity each) are
  supported. Hinge positions are angles (``meta["angles"]``).
* **actions**: the actuators' controls, bounded by their ``ctrlrange`` (required).
* **parameters**, overridable by name like a shipped system's: ``<body>.mass``,
  ``<joint>.damping``, ``<joint>.frictionloss``, ``<joint>.armature``, ``<geom>.size0`` (and
  ``size1``, ``size2`` where the geom type has them), ``<actuator>.gear``. Only named elements
  have parameters. A mass scales the body's inertia with it (same shape, denser), whether the
  inertia is explicit or comes from the geoms.
* **events**: simulated samples record ``at_limit`` and ``in_contact``
  (:mod:`hybridwm.systems.events`) in ``meta["events"]``.

An MJCF file is untrusted input: it is read as data and never executes anything. Before MuJoCo
sees it, the file must be at most :data:`MAX_MJCF_BYTES`, hold no DOCTYPE or entity
declarations (no entity expansion) and at most :data:`MAX_MJCF_ELEMENTS` elements counting
``<replicate>`` copies, which bounds the time MuJoCo's parser and compiler take on it. Files it
includes and meshes it loads are read by MuJoCo, relative to the file, as MuJoCo does.
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from hybridwm.errors import DataError, FormatError
from hybridwm.systems.parameter import Parameter

__all__ = ["MAX_MJCF_BYTES", "MAX_MJCF_ELEMENTS", "MjcfFile", "MjcfWriter", "read_mjcf"]

#: Largest MJCF file accepted, in bytes.
MAX_MJCF_BYTES = 8 * 2**20
#: Most elements an MJCF file may hold, ``<replicate>`` copies counted.
MAX_MJCF_ELEMENTS = 100_000

_OBJ = mujoco.mjtObj
_HINGE, _SLIDE = mujoco.mjtJoint.mjJNT_HINGE.value, mujoco.mjtJoint.mjJNT_SLIDE.value
#: size components of each geom type that are its own (a plane, mesh, hfield or sdf has none)
_SIZES = {
    mujoco.mjtGeom.mjGEOM_SPHERE.value: 1,
    mujoco.mjtGeom.mjGEOM_CAPSULE.value: 2,
    mujoco.mjtGeom.mjGEOM_CYLINDER.value: 2,
    mujoco.mjtGeom.mjGEOM_ELLIPSOID.value: 3,
    mujoco.mjtGeom.mjGEOM_BOX.value: 3,
}
_FIX = "Check it with MuJoCo (`python -m mujoco.viewer --mjcf=FILE`) and give a valid MJCF model."


@dataclass(frozen=True)
class MjcfFile:
    """Reads the MJCF file of a System again (each new parameter set is compiled from it).

    Attributes:
        path: the file.
        digest: SHA-256 of its bytes when it was checked; a file changed since is refused.
    """

    path: Path
    digest: str

    def __call__(self) -> mujoco.MjSpec:
        """A fresh ``mujoco.MjSpec`` of the file.

        Raises:
            DataError: if the file changed since it was read.
        """
        if _digest(_read_bytes(self.path)) != self.digest:
            raise DataError(
                f"The MJCF file {self.path} changed since it was loaded. Load it again with "
                f"System.from_mjcf({str(self.path)!r}) so that its states and parameters are "
                f"read anew."
            )
        return mujoco.MjSpec.from_file(str(self.path))


@dataclass(frozen=True)
class MjcfWriter:
    """Writes parameter values into a ``mujoco.MjSpec`` of the file (``System``'s ``apply``).

    Attributes:
        targets: ``(parameter, kind, element, index)``: ``kind`` is ``"mass"``, ``"damping"``,
            ``"frictionloss"``, ``"armature"``, ``"size"`` or ``"gear"``; ``element`` the name
            of the body, joint, geom or actuator; ``index`` the size component.
        defaults: each parameter's value in the file; only values that differ are written, so
            the default model is exactly the file's.
    """

    targets: tuple[tuple[str, str, str, int], ...]
    defaults: Mapping[str, float]

    def __call__(self, spec: mujoco.MjSpec, values: Mapping[str, float]) -> None:
        """Write the ``values`` that differ from the file's into ``spec``."""
        for parameter, kind, element, index in self.targets:
            value, default = values[parameter], self.defaults[parameter]
            if value == default:
                continue
            if kind == "mass":
                _scale_body(spec.body(element), value, value / default)
            elif kind == "size":
                geom = spec.geom(element)
                size = list(geom.size)
                size[index] = value
                geom.size = size
            elif kind == "gear":
                actuator = spec.actuator(element)
                actuator.gear = [value, *list(actuator.gear)[1:]]
            elif kind == "damping":
                joint = spec.joint(element)
                joint.damping = [value, *list(np.atleast_1d(joint.damping))[1:]]
            else:
                setattr(spec.joint(element), kind, value)


def _scale_body(body: Any, mass: float, factor: float) -> None:
    """Give ``body`` the ``mass``: its explicit inertia and its geoms' masses scaled alike."""
    if body.explicitinertial:
        body.mass = mass
        body.inertia = np.asarray(body.inertia) * factor
        full = np.asarray(body.fullinertia)
        if np.isfinite(full).all():
            body.fullinertia = full * factor
    for geom in body.geoms:
        if math.isfinite(geom.mass):
            geom.mass = geom.mass * factor
        geom.density = geom.density * factor


# ---------------------------------------------------------------------------- reading
def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FormatError(
            f"The MJCF file {path} {what}. Give the path of a MuJoCo XML model, e.g. "
            f"`--mjcf robot.xml` or System.from_mjcf('robot.xml')."
        )
    size = path.stat().st_size
    if size > MAX_MJCF_BYTES:
        raise FormatError(
            f"The MJCF file {path} has {size} bytes; at most {MAX_MJCF_BYTES} are read. Split "
            f"it with <include> files or remove unused parts."
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(
            f"Cannot read the MJCF file {path}: {exc}. Check its permissions."
        ) from None


def _elements(node: ET.Element) -> int:
    """Elements under ``node``, each ``<replicate count=N>`` counting its contents N times."""
    inner = sum(_elements(child) for child in node)
    if node.tag == "replicate":
        try:
            return 1 + max(1, int(node.get("count", "1"))) * inner
        except ValueError:
            return 1 + inner
    return 1 + inner


def _check_xml(data: bytes, path: Path) -> str | None:
    """Refuse what could make parsing the file slow or expand it (see the module doc); return
    the model's name (``<mujoco model="...">``), if any."""
    head = data.lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise FormatError(
            f"The MJCF file {path} declares a DOCTYPE or entities, which hybridwm does not "
            f"expand. Remove the <!DOCTYPE ...> and <!ENTITY ...> declarations."
        )
    try:
        root = ET.fromstring(data)  # no DTD: no entity can be expanded
    except ET.ParseError as exc:
        raise FormatError(f"The MJCF file {path} is not well-formed XML: {exc}. {_FIX}") from None
    if root.tag != "mujoco":
        raise FormatError(
            f"The file {path} is XML but not an MJCF model: its root element is <{root.tag}>, "
            f"not <mujoco>. Give a MuJoCo model file."
        )
    count = _elements(root)
    if count > MAX_MJCF_ELEMENTS:
        raise FormatError(
            f"The MJCF file {path} holds {count} elements (replicated copies counted); at most "
            f"{MAX_MJCF_ELEMENTS} are accepted. Reduce the <replicate> counts."
        )
    return root.get("model")


def _compile(path: Path) -> tuple[mujoco.MjModel, MjcfFile, str | None]:
    data = _read_bytes(path)
    label = _check_xml(data, path)
    try:
        spec = mujoco.MjSpec.from_file(str(path))
        model = spec.compile()
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise FormatError(f"MuJoCo cannot load the MJCF file {path}: {message}. {_FIX}") from None
    return model, MjcfFile(path, _digest(data)), label


def _name(model: mujoco.MjModel, kind: Any, i: int) -> str | None:
    return mujoco.mj_id2name(model, kind, i) or None


def _identifier(name: str, taken: set[str]) -> str:
    """``name`` as a Python identifier (for expressions) not in ``taken``; it is then taken."""
    base = re.sub(r"\W", "_", name)
    base = base if base and not base[0].isdigit() else f"q_{base}"
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out


def _signals(model: mujoco.MjModel, path: Path) -> tuple[tuple[str, ...], ...]:
    """``(state_names, action_names, angle_names)`` of a compiled model."""
    taken: set[str] = set()
    positions, angles = [], []
    for j in range(model.njnt):
        kind = int(model.jnt_type[j])
        name = _name(model, _OBJ.mjOBJ_JOINT, j) or f"joint{j}"
        if kind not in (_HINGE, _SLIDE):
            raise FormatError(
                f"Joint {name!r} of {path} is a {mujoco.mjtJoint(kind).name[6:].lower()} joint. "
                f"hybridwm's states are one position and one velocity per joint, so only hinge "
                f"and slide joints are supported: fix the base (remove the freejoint) or model "
                f"a ball joint as three hinges."
            )
        positions.append(_identifier(name, taken))
        if kind == _HINGE:
            angles.append(positions[-1])
    velocities = [_identifier(f"{p}_vel", taken) for p in positions]
    actions = []
    for a in range(model.nu):
        name = _name(model, _OBJ.mjOBJ_ACTUATOR, a) or f"actuator{a}"
        if not model.actuator_ctrllimited[a]:
            raise FormatError(
                f"Actuator {name!r} of {path} has no control range; hybridwm draws actions "
                f'within the bounds. Give it one, e.g. ctrlrange="-1 1".'
            )
        actions.append(_identifier(name, taken))
    return tuple(positions + velocities), tuple(actions), tuple(angles)


def _parameters(model: mujoco.MjModel) -> list[tuple[Parameter, tuple[str, str, str, int]]]:
    """Every overridable parameter of a compiled model with its writer target."""
    out = []
    for b in range(1, model.nbody):
        name = _name(model, _OBJ.mjOBJ_BODY, b)
        if name and model.body_mass[b] > 0:
            p = Parameter(f"{name}.mass", float(model.body_mass[b]), f"mass of body {name}, kg")
            out.append((p, ("mass", name, 0)))
    for j in range(model.njnt):
        name, dof = _name(model, _OBJ.mjOBJ_JOINT, j), int(model.jnt_dofadr[j])
        if not name:
            continue
        unit = "N" if model.jnt_type[j] == _SLIDE else "N m"
        for kind, value, what in (
            ("damping", model.dof_damping[dof], f"viscous damping, {unit} s per unit velocity"),
            ("frictionloss", model.dof_frictionloss[dof], f"Coulomb friction, {unit}"),
            ("armature", model.dof_armature[dof], "armature (reflected rotor inertia)"),
        ):
            p = Parameter(f"{name}.{kind}", float(value), f"{what} of joint {name}", inclusive=True)
            out.append((p, (kind, name, 0)))
    out.extend(_geom_parameters(model))
    for a in range(model.nu):
        name = _name(model, _OBJ.mjOBJ_ACTUATOR, a)
        if name:
            gear = float(model.actuator_gear[a, 0])
            p = Parameter(f"{name}.gear", gear, f"gear of actuator {name}", -math.inf, True)
            out.append((p, ("gear", name, 0)))
    return out


def _geom_parameters(model: mujoco.MjModel) -> list[tuple[Parameter, tuple[str, str, str, int]]]:
    out = []
    for g in range(model.ngeom):
        name = _name(model, _OBJ.mjOBJ_GEOM, g)
        for i in range(_SIZES.get(int(model.geom_type[g]), 0) if name else 0):
            what = f"size[{i}] of geom {name} (MuJoCo's half-size or radius), m"
            p = Parameter(f"{name}.size{i}", float(model.geom_size[g, i]), what)
            out.append((p, ("size", str(name), i)))
    return out


def read_mjcf(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read and check an MJCF file: its states, actions and parameters.

    Args:
        path: the MuJoCo XML model.
        name: the system's name; default: the model's name, else the file's stem.

    Returns:
        The keyword arguments of :class:`~hybridwm.systems.System` for the model (see the
        module doc): ``name``, ``asset`` (the resolved path), ``state_names``,
        ``action_names``, ``angle_names``, ``parameters``, ``apply`` (an :class:`MjcfWriter`),
        ``source`` (an :class:`MjcfFile`), ``description`` and ``events=True``.

    Raises:
        FormatError: the file is missing, too big, not well-formed, not an MJCF model, refused
            by MuJoCo, or has a joint other than hinge/slide or an actuator without a control
            range (each message names the file and the fix).
    """
    file = Path(path).expanduser().resolve()
    model, source, label = _compile(file)
    states, actions, angles = _signals(model, file)
    found = _parameters(model)
    # the writer of a geom's fromto-given length would be ignored by MuJoCo: keep what applies
    spec = source()
    found = [(p, t) for p, t in found if t[0] != "size" or t[2] == 0 or _sized(spec, t[1])]
    parameters = tuple(p for p, _ in found)
    joints = f"{model.njnt} joint(s) ({len(angles)} hinge)"
    return {
        "name": name or label or file.stem,
        "asset": str(file),
        "state_names": states,
        "action_names": actions,
        "angle_names": angles,
        "parameters": parameters,
        "apply": MjcfWriter(
            tuple((p.name, *t) for p, t in found), {p.name: p.default for p in parameters}
        ),
        "source": source,
        "description": f"MJCF model {file.name}: {joints}, {model.nu} actuator(s).",
        "events": True,
    }


def _sized(spec: mujoco.MjSpec, geom: str) -> bool:
    """Whether a geom's second size is its own (not set by ``fromto``)."""
    return not np.isfinite(np.asarray(spec.geom(geom).fromto)).all()
