"""Headless animation of an episode: MuJoCo offscreen rendering to an animated GIF.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first imported, and hybridwm has
imported it long before a GIF is asked for; so the frames are rendered in a child process
(``_render_child.py``, run by path: it imports mujoco, numpy and Pillow only) started with
``MUJOCO_GL`` set: the user's own value if there is one, else ``egl`` (GPU or Mesa EGL), then
``osmesa`` (software). The scene is the system's model with its parameters, a light, coloured
links and optional markers (a reach target). When no backend works, :func:`write_animation`
returns the reason instead of a file, and the caller reports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import mujoco
import numpy as np

from hybridwm.systems import get_system

__all__ = ["BACKENDS", "scene_xml", "write_animation"]

#: OpenGL backends tried in order when ``MUJOCO_GL`` is not set
BACKENDS = ("egl", "osmesa")

_CHILD = Path(__file__).with_name("_render_child.py")
_TIMEOUT_S = 300
_LINK_RGBA = (0.85, 0.45, 0.1, 1.0)


def scene_xml(
    system: str, parameters: Mapping[str, float], markers: Sequence[Sequence[float]] = ()
) -> str:
    """MJCF of ``system`` with ``parameters``, a light, coloured links and a red sphere at each
    of ``markers`` (x, y, z) (visual only: no contact, no mass)."""
    spec = get_system(system).spec(dict(parameters))
    spec.worldbody.add_light(pos=[0.0, -4.0, 4.0], dir=[0.0, 1.0, -1.0])
    for geom in spec.geoms:
        geom.rgba = _LINK_RGBA
    for point in markers:
        spec.worldbody.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[0.04, 0.0, 0.0],
            pos=[float(v) for v in point],
            rgba=[0.9, 0.1, 0.1, 1.0],
            contype=0,
            conaffinity=0,
            mass=0.0,
        )
    return spec.to_xml()


def write_animation(
    path: str | os.PathLike[str],
    system: str,
    parameters: Mapping[str, float],
    states: np.ndarray,
    *,
    dt: float,
    fps: float = 20.0,
    markers: Sequence[Sequence[float]] = (),
    size: tuple[int, int] = (320, 240),
) -> str | None:
    """Render ``states`` (T, n_x), sampled every ``dt`` s, to an animated GIF at ``path``.

    Frames are every ``max(1, round(1 / (fps * dt)))``-th state; ``size`` is (width, height).
    Returns None when the GIF was written, else the reason (each backend's last error line):
    no exception, since the animation is an extra of an episode's outputs.
    """
    stride = max(1, round(1.0 / (fps * dt)))
    backends = [os.environ["MUJOCO_GL"]] if os.environ.get("MUJOCO_GL") else list(BACKENDS)
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.npz"
        np.savez(
            job,
            xml=scene_xml(system, parameters, markers),
            states=np.asarray(states, dtype=np.float64)[::stride],
            fps=1.0 / (stride * dt),
            top_down=system.startswith("reacher"),
            size=np.asarray(size),
        )
        for backend in backends:
            env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
            cmd = [sys.executable, str(_CHILD), str(job), str(path)]
            try:
                done = subprocess.run(
                    cmd, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                errors.append(f"{backend}: timed out after {_TIMEOUT_S} s")
                continue
            if done.returncode == 0:
                return None
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            errors.append(f"{backend}: {last}")
    return (
        "No animation: MuJoCo offscreen rendering failed with every OpenGL backend ("
        + "; ".join(errors)
        + "). Install EGL (libegl1) or OSMesa (libosmesa6), or set MUJOCO_GL."
    )
