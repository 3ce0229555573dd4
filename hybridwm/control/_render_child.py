"""Child process of :func:`hybridwm.control.rendering.write_animation`: run by file path, so it
imports only mujoco, numpy and Pillow (no torch, no hybridwm), with ``MUJOCO_GL`` already set.

Usage: ``python _render_child.py JOB.npz OUT.gif``; the job holds ``xml`` (the scene),
``states`` (T, nq + nv), ``fps``, ``top_down`` and ``size`` (width, height).
"""

import sys

import mujoco
import numpy as np
from PIL import Image


def _camera(model: mujoco.MjModel, top_down: bool) -> mujoco.MjvCamera:
    """A free camera on the origin: from the side (-y) for the vertical x-z plane, from above
    for a horizontal one."""
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = (0.0, 0.0, 0.0)
    cam.distance = 3.0 * max(float(model.stat.extent), 0.5)
    cam.azimuth, cam.elevation = (90.0, -90.0) if top_down else (90.0, 0.0)
    return cam


def main(job: str, out: str) -> None:
    """Render the job's states to the animated GIF ``out``."""
    with np.load(job) as npz:
        xml, states = str(npz["xml"]), npz["states"]
        fps, top_down = float(npz["fps"]), bool(npz["top_down"])
        width, height = (int(v) for v in npz["size"])
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    cam = _camera(model, top_down)
    frames = []
    with mujoco.Renderer(model, height, width) as renderer:
        for x in states:
            data.qpos[:], data.qvel[:] = x[: model.nq], x[model.nq :]
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=cam)
            frames.append(Image.fromarray(renderer.render()))
    duration = max(20, round(1000 / fps))
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=duration, loop=0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
