"""The learning loop over kinds and seeds, written as learning.json and rendered as a report."""

from __future__ import annotations

import json

import pytest

from hybridwm.control import PlannerConfig, get_task, run_learning, write_learning_run
from hybridwm.control.learning import LearningConfig
from hybridwm.errors import ConfigError, FormatError, OutputError, UnknownNameError
from hybridwm.reports import render_learning_report
from hybridwm.schemas import LearningRun

TASK = get_task("pendulum-swingup").model_copy(update={"seconds": 0.5})
TINY = PlannerConfig(samples=8, horizon=4)
LOOP = LearningConfig(kind="learned", rounds=2, fit_steps=2, hidden=(4,), collect_seconds=0.5)


def test_every_kind_and_seed_gets_the_same_rounds_and_the_file_is_reproducible(tmp_path, prior):
    run = run_learning(TASK, ["learned", "hybrid"], [0, 1], LOOP, TINY, prior=prior)
    assert [(r.kind, r.seed, r.round) for r in run.rounds] == [
        (k, s, i) for k in ("learned", "hybrid") for s in (0, 1) for i in (0, 1)
    ]
    assert {r.interaction_seconds for r in run.rounds} == {2.0, 2.5}
    assert "kind" not in run.settings and run.settings["fit_steps"] == 2
    assert "seed" not in run.planner and run.planner["samples"] == 8
    path = write_learning_run(tmp_path / "a", run)
    assert LearningRun.read(path) == run
    again = run_learning(TASK, ["learned", "hybrid"], [0, 1], LOOP, TINY, prior=prior)
    # no wall-clock time in the file: the same settings and seeds write the same bytes
    assert write_learning_run(tmp_path / "b", again).read_bytes() == path.read_bytes()
    files = render_learning_report(tmp_path / "a")
    assert "Learning to control: pendulum-swingup" in files["html"].read_text()
    assert (files["figures"] / "learning_curves.png").stat().st_size > 1000
    summary = json.loads(files["summary"].read_text())
    assert summary["kinds"]["hybrid"]["seeds"] == 2


def test_the_oracle_reference_and_the_shifted_rounds_are_kept_in_the_run(tmp_path):
    shifted = LOOP.model_copy(update={"rounds": 1, "shift": {"length": 1.3}, "shift_rounds": 1})
    run = run_learning(TASK, ["learned"], [0, 1], shifted, TINY, oracle=True)
    assert [(r.seed, r.round, r.phase, r.new_seconds) for r in run.rounds] == [
        (s, i, phase, new)
        for s in (0, 1)
        for i, phase, new in ((0, "nominal", 0.0), (1, "shifted", 0.0), (2, "shifted", 0.5))
    ]
    assert [(e.seed, e.phase) for e in run.oracle] == [
        (0, "nominal"), (0, "shifted"), (1, "nominal"), (1, "shifted"),
    ]  # fmt: skip
    assert run.settings["shift"] == {"length": 1.3}
    path = write_learning_run(tmp_path, run)
    assert LearningRun.read(path) == run
    files = render_learning_report(tmp_path)
    summary = json.loads(files["summary"].read_text())
    assert summary["shifted"]["learned"]["seeds"] == 2
    assert summary["oracle"]["shifted"]["seeds"] == 2
    assert (files["figures"] / "shift_curves.png").stat().st_size > 1000
    assert "After the change (length x1.3)" in files["markdown"].read_text()
    plain = run_learning(TASK, ["learned"], [0], LOOP.model_copy(update={"rounds": 1}), TINY)
    assert plain.oracle == [] and {r.phase for r in plain.rounds} == {"nominal"}


def test_run_learning_errors_name_the_argument(prior, tmp_path):
    with pytest.raises(ConfigError, match=r"`kinds` must be distinct names among"):
        run_learning(TASK, [], [0], LOOP, TINY)
    with pytest.raises(ConfigError, match=r"`kinds` .* Got \['neural'\]"):
        run_learning(TASK, ["neural"], [0], LOOP, TINY)
    with pytest.raises(ConfigError, match=r"`kinds` .* Got \['hybrid', 'hybrid'\]"):
        run_learning(TASK, ["hybrid", "hybrid"], [0], LOOP, TINY, prior=prior)
    with pytest.raises(ConfigError, match=r"`seeds` must be distinct integers"):
        run_learning(TASK, ["learned"], [0, 0], LOOP, TINY)
    with pytest.raises(ConfigError, match=r"`seeds` .* Got \[0.5\]"):
        run_learning(TASK, ["learned"], [0.5], LOOP, TINY)
    with pytest.raises(ConfigError, match=r"`prior` is needed for the kinds \['physics'\]"):
        run_learning(TASK, ["learned", "physics"], [0], LOOP, TINY)
    with pytest.raises(UnknownNameError, match=r"`shift` names \['pole_mass'\]"):
        run_learning(
            TASK, ["learned"], [0], LOOP.model_copy(update={"shift": {"pole_mass": 2}}), TINY
        )
    (tmp_path / "file").write_text("x")
    run = LearningRun(
        format_version=1, task="t", kinds=["learned"], seeds=[0], settings={}, planner={},
        rounds=[],
    )  # fmt: skip
    with pytest.raises(OutputError, match=r"exists and is not a directory"):
        write_learning_run(tmp_path / "file", run)
    stray = {"seed": 5, "phase": "nominal", "success": True, "total_return": -1.0}
    data = {**run.model_dump(mode="json"), "oracle": [{**stray, "final_goal_error": 0.0}]}
    with pytest.raises(FormatError, match=r"oracle episode of seed 5 is not among `seeds`"):
        LearningRun.parse(data, "learning.json")


PENDULUM_PRIOR = """
states = ["theta", "omega"]
actions = ["torque"]
equations = ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"]
[parameters]
a = { value = 10.0, bounds = [0.0, 50.0] }
c = { value = 0.5, bounds = [0.0, 5.0] }
b = { value = 2.0, bounds = [0.0, 10.0] }
"""


def test_cli_learn_writes_the_run_and_its_report(tmp_path, capsys):
    from hybridwm.cli import run

    prior = tmp_path / "prior.toml"
    prior.write_text(PENDULUM_PRIOR)
    out = tmp_path / "loop"
    argv = ["learn", "--task", "pendulum-swingup", "--kind", "hybrid", "--kind", "learned"]
    argv += ["--seed", "3", "--rounds", "1", "--fit-steps", "2", "--hidden", "4"]
    argv += ["--samples", "8", "--horizon", "4", "--prior", str(prior), "--out", str(out)]
    assert run(argv) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "hybrid seed 3 round 0: 2.00 s of data" in printed and "Report:" in printed
    run_file = LearningRun.read(out / "learning.json")
    assert run_file.kinds == ["hybrid", "learned"] and run_file.seeds == [3]
    assert run_file.settings["hidden"] == [4] and run_file.planner["samples"] == 8
    assert (out / "report.html").is_file() and (out / "figures" / "learning_curves.png").is_file()
    assert [e.phase for e in run_file.oracle] == ["nominal"]  # the reference is on by default


def test_cli_learn_shift_continues_on_the_changed_system(tmp_path, capsys):
    from hybridwm.cli import run

    out = tmp_path / "shift"
    argv = ["learn", "--task", "pendulum-swingup", "--kind", "learned", "--seed", "0"]
    argv += ["--rounds", "1", "--fit-steps", "2", "--hidden", "4", "--samples", "8"]
    argv += ["--horizon", "4", "--shift", "mass=0.7", "--shift-rounds", "1"]
    argv += ["--adapt-steps", "2", "--no-oracle", "--no-report", "--out", str(out)]
    assert run(argv) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "learned seed 0 round 2: 3.00 s of data (1.00 s after the change)" in printed
    run_file = LearningRun.read(out / "learning.json")
    assert run_file.settings["shift"] == {"mass": 0.7} and run_file.oracle == []
    assert [r.phase for r in run_file.rounds] == ["nominal", "shifted", "shifted"]


def test_cli_learn_errors_are_one_line(tmp_path, capsys):
    from hybridwm.cli import run

    base = ["learn", "--task", "pendulum-swingup", "--out", str(tmp_path / "o")]
    assert run([*base, "--kind", "hybrid"]) == 2
    assert "--prior TOML is needed for the kinds ['hybrid']" in capsys.readouterr().err
    assert run([*base, "--kind", "neural", "--seed", "0", "--rounds", "1"]) == 2
    assert "`kinds` must be distinct names" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o").exists()
