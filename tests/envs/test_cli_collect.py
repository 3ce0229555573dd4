"""``hybridwm collect``: a gymnasium environment's episodes to a file, and its errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import typer

from hybridwm.cli import app, run
from hybridwm.cli.collect import CollectConfig
from hybridwm.data import read_trajectories


def test_collect_writes_episodes(tmp_path, capsys):
    out = tmp_path / "pendulum.parquet"
    args = ["collect", "--env", "Pendulum-v1", "--episodes", "3", "--out", str(out)]
    more = ["--policy", "piecewise", "--seed", "2", "--max-episode-steps", "12", "--num-envs", "2"]
    names = ["--state-names", "cos_theta,sin_theta,theta_dot", "--action-names", "torque"]
    assert run([*args, *more, *names, "--env-param", "g=9.81"]) == 0
    assert "Wrote 3 episodes (13-13 samples, dt 0.05 s) of Pendulum-v1" in capsys.readouterr().out
    data = read_trajectories(out)
    assert len(data) == 3 and data.state_names == ("cos_theta", "sin_theta", "theta_dot")
    meta = data[0].meta
    assert meta["env_kwargs"] == {"g": 9.81, "max_episode_steps": 12}
    assert meta["policy"] == "piecewise" and meta["seed"] == 2
    assert [tr.meta["copy"] for tr in data] == [0, 1, 0]
    np.testing.assert_allclose(data[0].t, 0.05 * np.arange(13))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--env", "Pendulum-v9"], "gymnasium cannot make the environment 'Pendulum-v9'"),
        (["--env", "Pendulum-v1", "--env-param", "g"], "must look like NAME=VALUE"),
        (["--env", "Pendulum-v1", "--seconds", "2"], "Give exactly one of `episodes`"),
        (["--env", "Pendulum-v1", "--env-param", "mass=2"], "refused the parameters"),
        (["--env", "Pendulum-v1", "--num-envs", "0"], "num_envs"),
        (
            ["--env", "Pendulum-v1", "--policy", "sines"],
            "CollectConfig.policy must be 'random' or 'piecewise'. Got 'sines'",
        ),
    ],
)
def test_collect_errors(tmp_path, capsys, extra, message):
    out = tmp_path / "data.parquet"
    assert run(["collect", "--episodes", "1", "--out", str(out), *extra]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_every_setting_is_a_flag_and_the_help_keeps_its_text(capsys):
    command = typer.main.get_command(app).commands["collect"]  # type: ignore[attr-defined]
    flags = {flag for p in command.params for flag in p.opts}
    renamed = {"env_params": "--env-param"}
    for field in CollectConfig.field_names():
        assert renamed.get(field, "--" + field.replace("_", "-")) in flags, field
    assert run(["collect", "--help"]) == 0
    out = capsys.readouterr().out
    assert "[default: Pendulum-v1]" in " ".join(out.split())
    assert not re.search(r"\w \.(\s|$)", out)
