"""The report's training facts, residual share, physics labels and information-only
scenarios, and the wall-clock times read from timings.json (or from older run directories)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hybridwm.errors import FormatError
from hybridwm.reports import build_report, read_run, render_markdown, render_report, summarize
from hybridwm.reports.summary import fmt


def _edit(run: Path, fn: Any) -> None:
    res = json.loads((run / "results.json").read_text())
    fn(res)
    (run / "results.json").write_text(json.dumps(res))


def _mean(run: Path, system: str, scenario: str, model: str) -> float:
    """The mean nRMSE over seeds of one cell, from results.json."""
    rows = json.loads((run / "results.json").read_text())["metrics"]
    key = (system, model, scenario, "nrmse")
    values = [
        r["value"] for r in rows if (r["system"], r["model"], r["scenario"], r["metric"]) == key
    ]
    return sum(values) / len(values)


def _training_row(system: str, model: str, seed: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "system": system,
        "model": model,
        "scenario": "train",
        "seed": seed,
        "steps": 0 if model == "physics" else 400,
        "best_epoch": 7,
        "stop_reason": "nothing to train" if model == "physics" else "steps",
    }
    if model != "learned":
        row.update(physics_change=0.02 * (1 + seed), physics_change_term="omega: sin(theta)")
    return {**row, **changes}


def _with_training(res: dict[str, Any]) -> None:
    models = ("learned", "physics", "hybrid", "hybrid-no-pinn")
    res["training"] = [
        _training_row(s, m, seed)
        for s in ("pendulum", "cartpole")
        for m in models
        for seed in (0, 1)
    ]
    res["training"][-1]["stop_reason"] = "max_time"  # cartpole hybrid-no-pinn, seed 1
    res["training"][-1]["steps"] = 250
    for r in [r for r in res["metrics"] if r["metric"] == "nrmse" and "hybrid" in r["model"]]:
        res["metrics"].append({**r, "metric": "residual_share", "value": 0.1 + 0.1 * r["seed"]})
    res["systems"]["pendulum"]["incomplete_physics"] = False
    res["systems"]["cartpole"]["incomplete_physics"] = True


@pytest.fixture
def trained(run_factory) -> Path:
    run = run_factory(with_curves=False, with_samples=False)
    _edit(run, _with_training)
    return run


def test_findings_tell_both_situations_and_where_the_hybrid_loses(trained) -> None:
    findings = summarize(read_run(trained))["findings"]
    h = _mean(trained, "pendulum", "ood-state", "hybrid")
    p = _mean(trained, "pendulum", "ood-state", "physics")
    ratio = h / p
    pendulum = next(f for f in findings if f.startswith("pendulum (exact physics)"))
    assert "hybrid beats physics-only in 1 of 2 scenarios" in pendulum
    assert "learned in 2 of 2 scenarios" in pendulum
    assert pendulum.endswith(
        f"it loses to physics-only on ood-state by {fmt(ratio)}× its nRMSE ({fmt(h)} vs {fmt(p)})."
    )
    cartpole = next(f for f in findings if f.startswith("cartpole (incomplete physics)"))
    assert "physics-only in 2 of 2 scenarios" in cartpole and cartpole.endswith("nowhere.")
    assert any(
        f.startswith("Where physics is incomplete (cartpole), hybrid beats") for f in findings
    )
    assert any(f.startswith("Where physics is exact (pendulum), hybrid beats") for f in findings)


def test_a_run_cut_by_max_time_says_so_first(trained) -> None:
    summary = summarize(read_run(trained))
    first = summary["findings"][0]
    assert first.startswith("Budget cut by max_time: results depend on machine speed.")
    assert "hybrid-no-pinn on cartpole (seed 1, train)" in first
    steps = "learned 400, hybrid 400, hybrid-no-pinn 250–400"
    assert (
        f"cartpole: the fits took different numbers of optimizer steps ({steps}); see Training."
        in summary["findings"]
    )
    md = render_markdown(build_report(read_run(trained)))
    assert "> Budget cut by max_time: results depend on machine speed." in md


def test_training_table_shows_steps_stop_reasons_and_best_epochs(trained) -> None:
    md = render_markdown(build_report(read_run(trained)))
    assert "| system | model | fit steps | fit stop | fit best epoch |" in md
    assert "| pendulum | hybrid | 400 | steps | 7 |" in md
    assert "| pendulum | physics | 0 | nothing to train | 7 |" in md
    assert "| cartpole | hybrid-no-pinn | 250–400 | **steps, max_time** | 7 |" in md


def test_physics_table_shows_how_far_the_physics_moved_and_the_residual_share(trained) -> None:
    md = render_markdown(build_report(read_run(trained)))
    header = "| system | model | physics moved | most moved term | id | ood-state |"
    assert header in md
    # physics moved: mean of 0.02 and 0.04; residual share 0.1 and 0.2 over the two seeds
    assert "| pendulum | hybrid | 0.03 | omega: sin(theta) | 0.15 ± 0.0707 | 0.15 ± 0.0707 |" in md
    assert "| pendulum | physics | 0.03 | omega: sin(theta) | – | – |" in md
    assert "| pendulum | learned |" not in md.split("#### Physics and residual")[1]


def test_a_run_without_training_rows_has_no_training_section(run_factory) -> None:
    report = build_report(read_run(run_factory(with_curves=False, with_samples=False)))
    assert "training" not in [s.id for s in report.sections]


def _with_ood_params(res: dict[str, Any]) -> None:
    extra = []
    for r in res["metrics"]:
        if r["scenario"] == "id" and r["metric"] == "nrmse":
            value = 10.0 if r["model"] == "hybrid" else r["value"]
            extra.append({**r, "scenario": "ood-params", "value": value})
            extra.append({**r, "scenario": "ood-params-adapted", "value": r["value"]})
    res["metrics"].extend(extra)


def test_zero_shot_ood_params_is_information_only(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)
    _edit(run, _with_ood_params)
    data = read_run(run)
    summary = summarize(data)
    assert all(r["scenario"] != "ood-params" for r in summary["hybrid_losses"])
    info = {(r["scenario"], r["info_only"]) for r in summary["hybrid_comparison"]}
    assert ("ood-params", True) in info and ("ood-params-adapted", False) in info
    note = (
        "ood-params is information only: no model knows the new parameters (zero-shot); the "
        "headline is ood-params-adapted. Its cells are shown but not counted as hybrid losses."
    )
    assert note in summary["findings"]
    md = render_markdown(build_report(data))
    section = md.split("## Where the hybrid loses")[1].split("\n## ")[0]
    assert f"> {note}" in section
    assert "ood-params |" not in section  # no row of the losses table is a zero-shot cell


def test_timings_json_gives_the_costs_and_the_run_times(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)
    _edit(run, lambda r: [r["setup"].pop(k) for k in ("started", "finished")])
    rows = [
        {"system": "pendulum", "model": "hybrid", "scenario": "train", "seed": s,
         "metric": "fit_time", "value": v}
        for s, v in ((0, 10.0), (1, 14.0))
    ]  # fmt: skip
    timings = {"format_version": 1, "started": "2030-01-01T00:00:00", "finished": "2030-01-01T00:09:00", "timings": rows}  # fmt: skip
    (run / "timings.json").write_text(json.dumps(timings))
    data = read_run(run)
    assert data.times == {"started": "2030-01-01T00:00:00", "finished": "2030-01-01T00:09:00"}
    assert list(data.costs["value"]) == [10.0, 14.0]
    md = render_report(run)["markdown"].read_text()
    assert "finished 2030-01-01T00:09:00" in md.splitlines()[2]  # the subtitle
    assert "| finished | 2030-01-01T00:09:00 |" in md
    assert "| pendulum | hybrid | 12 ± 2.83 |" in md


def test_an_old_run_with_cost_rows_among_its_metrics_still_renders(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)
    cost = {"system": "pendulum", "model": "hybrid", "scenario": "train", "seed": 0}
    _edit(run, lambda r: r["metrics"].append({**cost, "metric": "fit_time", "value": 5.0}))
    data = read_run(run)
    assert "fit_time" not in set(data.metrics["metric"]) and "train" not in data.scenarios
    assert list(data.costs["metric"]) == ["fit_time"]
    assert data.times["finished"] == "2025-01-01T10:05:00"  # from the old setup
    md = render_report(run)["markdown"].read_text()
    assert "| pendulum | hybrid | 5 ± 0 |" in md
    assert "| finished | 2025-01-01T10:05:00 |" in md


def test_a_malformed_timings_json_is_named(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)
    (run / "timings.json").write_text(json.dumps({"format_version": 1, "timings": [{"x": 1}]}))
    with pytest.raises(FormatError, match=r"timings\.json': timings\[0\] lacks key\(s\)"):
        read_run(run)


def test_training_rows_name_known_systems(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)
    _edit(run, lambda r: r.update(training=[_training_row("acrobot", "hybrid", 0)]))
    with pytest.raises(FormatError, match=r"training\[0\] names system 'acrobot'"):
        read_run(run)


def test_summary_lists_the_comparison_with_its_physics_label(trained) -> None:
    rows = summarize(read_run(trained))["hybrid_comparison"]
    labels = {(r["system"], r["physics"]) for r in rows}
    assert labels == {("pendulum", "exact physics"), ("cartpole", "incomplete physics")}
    row = next(
        r for r in rows if (r["system"], r["scenario"], r["other"]) == ("pendulum", "id", "learned")
    )
    assert row["ratio"] == pytest.approx(row["hybrid_mean"] / row["other_mean"])
    assert re.fullmatch(r"[a-z-]+", row["other"])


def test_a_hybrid_equal_to_its_physics_is_a_tie_not_a_win(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)

    def hybrid_is_its_physics(res: dict[str, Any]) -> None:
        physics = {
            (r["system"], r["scenario"], r["seed"], r["metric"]): r["value"]
            for r in res["metrics"]
            if r["model"] == "physics"
        }
        for r in res["metrics"]:
            if r["model"] == "hybrid":
                r["value"] = physics[(r["system"], r["scenario"], r["seed"], r["metric"])]

    _edit(run, hybrid_is_its_physics)
    findings = summarize(read_run(run))["findings"]
    pendulum = next(f for f in findings if f.startswith("pendulum ("))
    assert "physics-only in 0 of 2 scenarios (2 tied; hybrid/physics 1×)" in pendulum


def test_a_loss_smaller_than_the_shown_digits_is_still_shown_as_one(run_factory) -> None:
    run = run_factory(with_curves=False, with_samples=False)

    def hybrid_a_hair_worse(res: dict[str, Any]) -> None:
        physics = {
            (r["system"], r["scenario"], r["seed"]): r["value"]
            for r in res["metrics"]
            if r["model"] == "physics" and r["metric"] == "nrmse"
        }
        for r in res["metrics"]:
            if r["model"] == "hybrid" and r["metric"] == "nrmse" and r["system"] == "pendulum":
                r["value"] = 1.001 * physics[(r["system"], r["scenario"], r["seed"])]

    _edit(run, hybrid_a_hair_worse)
    findings = summarize(read_run(run))["findings"]
    pendulum = next(f for f in findings if f.startswith("pendulum ("))
    assert "it loses to physics-only on id by 1.001× its nRMSE" in pendulum
