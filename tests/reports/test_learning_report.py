"""The learning-loop report: first successes, bounds for seeds that never succeeded, errors."""

from __future__ import annotations

import json
import math

import pytest

from hybridwm.errors import FormatError
from hybridwm.reports import build_learning_report, render_learning_report
from hybridwm.reports.learning import first_successes
from hybridwm.schemas import LearningRun


def _row(kind: str, seed: int, i: int, seconds: float, success: bool) -> dict:
    return {
        "kind": kind, "seed": seed, "round": i, "interaction_seconds": seconds,
        "success": success, "total_return": -100.0 + 10 * i, "final_goal_error": 0.1,
    }  # fmt: skip


def _run() -> dict:
    rounds = [_row("hybrid", s, 0, 2.0, True) for s in (0, 1, 2)]
    # learned: seed 0 succeeds at 4 s, seed 1 at 5 s, seed 2 never within 5 s
    for s, hit in ((0, 4.0), (1, 5.0), (2, None)):
        rounds += [_row("learned", s, i, 2.0 + i, hit == 2.0 + i) for i in range(4)]
    return {
        "format_version": 1, "task": "cartpole-swingup", "kinds": ["hybrid", "learned"],
        "seeds": [0, 1, 2], "settings": {"random_seconds": 2.0, "fit_steps": 300},
        "planner": {"samples": 200}, "rounds": rounds,
    }  # fmt: skip


def test_first_successes_and_the_summary_table_show_bounds_for_seeds_that_never_succeeded():
    run = LearningRun.parse(_run(), "test")
    firsts = first_successes(run)
    assert firsts["hybrid"] == {0: 2.0, 1: 2.0, 2: 2.0}
    assert firsts["learned"][0] == 4.0 and firsts["learned"][1] == 5.0
    assert math.isinf(firsts["learned"][2])
    report = build_learning_report(run)
    table = report.sections[0].blocks[1]
    rows = {r[0].text: [c.text for c in r] for r in table.rows}
    assert rows["hybrid"][1:4] == ["3/3", "2 s", "2-2 s"]
    # median of (4, 5, never): 5 s, 2.5x the hybrid's
    assert rows["learned"][1:3] == ["2/3", "5 s"] and rows["learned"][5] == "2.5"
    assert report.summary["kinds"]["learned"]["succeeded"] == 2


def test_a_kind_whose_median_seed_never_succeeded_is_a_lower_bound():
    data = _run()
    data["rounds"] = [r for r in data["rounds"] if not (r["kind"] == "learned" and r["success"])]
    rows = {
        r[0].text: [c.text for c in r]
        for r in build_learning_report(LearningRun.parse(data, "t")).sections[0].blocks[1].rows
    }
    assert rows["learned"][1:3] == ["0/3", "> 5 s"] and rows["learned"][5] == "> 2.5"


def test_render_writes_html_markdown_summary_and_the_curves(tmp_path):
    (tmp_path / "learning.json").write_text(json.dumps(_run()))
    files = render_learning_report(tmp_path)
    html = files["html"].read_text()
    assert "data:image/png;base64," in html and "cartpole-swingup" in html
    assert "figures/learning_curves.png" in files["markdown"].read_text()
    summary = json.loads(files["summary"].read_text())
    assert summary["kinds"]["learned"]["first_success_s"]["2"] == "inf"


def test_malformed_learning_json_names_the_field_and_the_fix(tmp_path):
    with pytest.raises(FormatError, match=r"learning.json' does not exist"):
        render_learning_report(tmp_path)
    data = _run()
    del data["rounds"][0]["success"]
    (tmp_path / "learning.json").write_text(json.dumps(data))
    with pytest.raises(
        FormatError, match=r"rounds\[0\] lacks key\(s\) \['success'\].*hybridwm learn"
    ):
        render_learning_report(tmp_path)
    data = _run()
    data["rounds"][0]["kind"] = "physics"
    (tmp_path / "learning.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match=r"kind 'physics', seed 0 is not among `kinds`"):
        render_learning_report(tmp_path)


def test_an_even_number_of_seeds_gives_a_bound_between_the_middle_values():
    # learned: seed 0 succeeds at 5 s, seed 1 never within 20 s; hybrid: 2 s on both
    rounds = [_row("hybrid", s, 0, 2.0, True) for s in (0, 1)]
    rounds += [_row("learned", 0, i, 2.0 + 3 * i, i == 1) for i in range(2)]
    rounds += [_row("learned", 1, i, 2.0 + 18 * i, False) for i in range(2)]
    data = {**_run(), "seeds": [0, 1], "rounds": rounds}
    report = build_learning_report(LearningRun.parse(data, "t"))
    rows = {r[0].text: [c.text for c in r] for r in report.sections[0].blocks[1].rows}
    # the median of (5, more than 20) is more than (5 + 20) / 2 = 12.5, not more than 20
    assert rows["learned"][2] == "> 12.5 s" and rows["learned"][5] == "> 6.25"
    assert report.summary["kinds"]["learned"]["median_is_lower_bound"] is True
    assert report.summary["kinds"]["hybrid"]["median_is_lower_bound"] is False


def _shifted(kind: str, seed: int, i: int, new: float, success: bool) -> dict:
    return {**_row(kind, seed, i, 2.0 + new, success), "phase": "shifted", "new_seconds": new}


def test_the_shift_section_counts_new_data_and_the_oracle_is_the_reference_row():
    data = _run()
    # hybrid: seed 0 fine unchanged, seed 1 again after 1 s, seed 2 not within 2 s
    for s, hit in ((0, 0.0), (1, 1.0), (2, None)):
        data["rounds"] += [_shifted("hybrid", s, 1 + i, float(i), hit == i) for i in range(3)]
    data["settings"]["shift"] = {"pole_mass": 1.3}
    data["oracle"] = [
        {"seed": s, "phase": phase, "success": s != 2 or phase == "nominal",
         "total_return": -50.0, "final_goal_error": 0.0}
        for s in (0, 1, 2) for phase in ("nominal", "shifted")
    ]  # fmt: skip
    run = LearningRun.parse(data, "t")
    assert first_successes(run, "shifted")["hybrid"] == {0: 0.0, 1: 1.0, 2: math.inf}
    assert first_successes(run)["hybrid"] == {0: 2.0, 1: 2.0, 2: 2.0}  # nominal rounds only
    report = build_learning_report(run)
    nominal = {r[0].text: [c.text for c in r] for r in report.sections[0].blocks[1].rows}
    assert nominal["oracle (MuJoCo as model)"][1:3] == ["3/3", "needs no data"]
    shift = next(s for s in report.sections if s.id == "shift")
    assert shift.title == "After the change (pole_mass x1.3)"
    rows = {r[0].text: [c.text for c in r] for r in shift.blocks[1].rows}
    # unchanged 1/3, again 2/3, median of (0, 1, more than 2) = 1 s
    assert rows["hybrid"][1:4] == ["1/3", "2/3", "1 s"]
    assert rows["oracle (MuJoCo as model)"][1:3] == ["2/3", "2/3"]
    assert "learned" not in rows  # the learned kind has no rounds after the change
    assert report.summary["shifted"]["hybrid"]["succeeded"] == 2
    assert report.summary["oracle"]["shifted"]["succeeded"] == 2
