"""read_run: the run-directory format and every error it raises."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridwm.errors import FormatError, IncompatibleVersionError
from hybridwm.reports import read_run, render_report


def _edit_results(run, fn):
    res = json.loads((run / "results.json").read_text())
    fn(res)
    (run / "results.json").write_text(json.dumps(res))


def test_read_run_parses_everything(run_factory):
    run = read_run(run_factory("run-a"))
    assert run.name == "run-a"
    assert run.config is not None and run.config["preset"] == "quick"
    assert list(run.systems) == ["pendulum", "cartpole"]
    assert run.models == ["learned", "physics", "hybrid", "hybrid-no-pinn"]
    assert run.scenarios == ["id", "ood-state"]
    assert list(run.metrics.columns) == ["system", "model", "scenario", "seed", "metric", "value"]
    assert len(run.metrics) == 2 * 4 * 2 * 2 * 4
    assert run.metrics["value"].dtype == np.float64
    assert run.curves is not None and len(run.curves) == 2 * 4 * 2 * 2 * 11
    assert set(run.samples) == {
        (s, sc) for s in ("pendulum", "cartpole") for sc in ("id", "ood-state")
    }
    parquet = pd.read_parquet(run.path / "metrics.parquet")
    assert len(parquet) == len(run.metrics)


def test_unknown_names_are_ordered_after_known(run_factory):
    run = run_factory()

    def add(res):
        res["metrics"].append(
            {
                "system": "pendulum",
                "model": "zeta",
                "scenario": "custom",
                "seed": 0,
                "metric": "nrmse",
                "value": 1.0,
            }
        )

    _edit_results(run, add)
    data = read_run(run)
    assert data.models[-1] == "zeta"
    assert data.scenarios == ["id", "ood-state", "custom"]


def test_missing_directory(tmp_path):
    with pytest.raises(FormatError, match=r"does not exist.*hybridwm benchmark"):
        read_run(tmp_path / "nope")


def test_a_file_is_not_a_run_directory(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{}")
    with pytest.raises(FormatError, match=r"is a file, but a run directory is expected"):
        read_run(path)


def test_missing_results_json(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FormatError, match=r"has no results\.json"):
        render_report(tmp_path)


def test_invalid_json(run_factory):
    run = run_factory()
    (run / "results.json").write_text("{not json")
    with pytest.raises(FormatError, match="is not valid JSON"):
        read_run(run)


def test_wrong_format_version(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r.update(format_version=2))
    with pytest.raises(
        IncompatibleVersionError, match="format_version 2; this hybridwm reads format_version 1"
    ):
        read_run(run)
    assert issubclass(IncompatibleVersionError, FormatError)


@pytest.mark.parametrize("key", ["format_version", "setup", "systems", "metrics"])
def test_missing_top_level_key(run_factory, key):
    run = run_factory()
    _edit_results(run, lambda r: r.pop(key))
    with pytest.raises(FormatError, match=rf"lacks key\(s\) \['{key}'\]"):
        read_run(run)


def test_system_missing_key(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r["systems"]["cartpole"].pop("equations"))
    with pytest.raises(FormatError, match=r"systems\['cartpole'\] lacks key\(s\) \['equations'\]"):
        read_run(run)


def test_metric_row_missing_key(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r["metrics"][3].pop("seed"))
    with pytest.raises(FormatError, match=r"metrics\[3\] lacks key\(s\) \['seed'\]"):
        read_run(run)


def test_metric_row_unknown_system(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r["metrics"][0].update(system="acrobot"))
    with pytest.raises(FormatError, match=r"names system 'acrobot', which is not in `systems`"):
        read_run(run)


def test_metric_value_must_be_numeric(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r["metrics"][0].update(value="big"))
    with pytest.raises(
        FormatError, match=r"`value` must be a number, null, 'inf' or '-inf'. Got 'big'"
    ):
        read_run(run)


def test_metrics_must_be_a_list(run_factory):
    run = run_factory()
    _edit_results(run, lambda r: r.update(metrics={}))
    with pytest.raises(FormatError, match="`metrics` must be a list of rows"):
        read_run(run)


def test_curves_missing_column(run_factory):
    run = run_factory()
    df = pd.read_parquet(run / "curves.parquet").drop(columns=["nrmse"])
    df.to_parquet(run / "curves.parquet")
    with pytest.raises(FormatError, match=r"curves table .* lacks column\(s\) \['nrmse'\]"):
        read_run(run)


def test_bad_sample_file_name(run_factory):
    run = run_factory()
    (run / "samples" / "pendulum__id.parquet").rename(run / "samples" / "pendulum-id.parquet")
    with pytest.raises(FormatError, match=r"must be named '<system>__<scenario>\.parquet'"):
        read_run(run)


def _cost_rows() -> list[dict]:
    rows = []
    for seed, (fit, adapt) in enumerate([(10.0, 2.0), (14.0, 4.0)]):
        key = {"system": "pendulum", "model": "hybrid", "seed": seed}
        rows.append({**key, "scenario": "train", "metric": "fit_time", "value": fit})
        rows.append(
            {**key, "scenario": "ood-params-adapted", "metric": "adapt_time", "value": adapt}
        )
    return rows


def test_cost_rows_are_read_and_shown_in_the_setup(run_factory):
    run = run_factory(with_curves=False, with_samples=False)
    _edit_results(run, lambda r: r.update(fit=_cost_rows()))
    data = read_run(run)
    assert len(data.costs) == 4 and set(data.costs["metric"]) == {"fit_time", "adapt_time"}
    md = render_report(run)["markdown"].read_text()
    row = next(line for line in md.splitlines() if line.startswith("| pendulum | hybrid | 12"))
    assert row == "| pendulum | hybrid | 12 ± 2.83 | 3 ± 1.41 |"  # sample std (ddof=1)
    assert "| system | model | fit [s] | adapt for ood-params [s] |" in md


def test_results_without_cost_rows_have_an_empty_cost_table(run_factory):
    data = read_run(run_factory(with_curves=False, with_samples=False))
    assert data.costs is not None and data.costs.empty


def test_cost_row_missing_key(run_factory):
    run = run_factory()
    rows = _cost_rows()
    rows[1].pop("metric")
    _edit_results(run, lambda r: r.update(fit=rows))
    with pytest.raises(FormatError, match=r"fit\[1\] lacks key\(s\) \['metric'\]"):
        read_run(run)


def test_adapted_scenarios_are_not_ood_id_ratios(run_factory):
    from hybridwm.reports import summarize

    run = run_factory(with_curves=False, with_samples=False)

    def add_adapted(r: dict) -> None:
        extra = [
            {**row, "scenario": "ood-params-adapted", "value": 1e-6}
            for row in r["metrics"]
            if row["scenario"] == "id" and row["metric"] == "nrmse"
        ]
        r["metrics"].extend(extra)

    _edit_results(run, add_adapted)
    summary = summarize(read_run(run))
    scenarios = {r["scenario"] for r in summary["ood_id_ratio"]}
    assert scenarios and not any(s.endswith("-adapted") for s in scenarios)
    assert "ood-params-adapted" in {r["scenario"] for r in summary["table"]}


def test_scenario_descriptions_are_shown_and_checked(run_factory):
    run = run_factory(with_curves=False, with_samples=False)
    _edit_results(run, lambda r: r.update(scenarios={"pendulum": {"ood-params": "Heavier."}}))
    assert read_run(run).scenario_descriptions == {"pendulum": {"ood-params": "Heavier."}}
    md = render_report(run)["markdown"].read_text()
    assert "| pendulum | ood-params | Heavier. |" in md
    _edit_results(run, lambda r: r.update(scenarios={"pendulum": ["ood-params"]}))
    with pytest.raises(FormatError, match="`scenarios` must map each system"):
        read_run(run)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(setup=[]), r"results\.json': `setup` must be an object. Got \[\]"),
        (
            lambda r: r["systems"]["pendulum"].update(equations="d(theta)/dt = omega"),
            r"systems\['pendulum'\]: `equations` must be a valid list",
        ),
        (
            lambda r: r["metrics"].__setitem__(5, 3),
            r"metrics\[5\] must be a JSON object with keys \['system', 'model'",
        ),
        (
            lambda r: r["metrics"][2].update(seed="first"),
            r"metrics\[2\]: `seed` must be a valid integer.*Got 'first'",
        ),
        (
            lambda r: r["systems"]["pendulum"]["coefficients"]["d(omega)/dt"].update(tau="2.0"),
            r"systems\['pendulum'\]: `coefficients\['d\(omega\)/dt'\]\['tau'\]` must be a number",
        ),
        (lambda r: r.update(fit={}), r"`fit` must be a list of rows"),
    ],
)
def test_malformed_results_json_names_the_file_and_field(run_factory, edit, message):
    run = run_factory(with_curves=False, with_samples=False)
    _edit_results(run, edit)
    with pytest.raises(FormatError, match=message) as info:
        read_run(run)
    text = str(info.value)
    assert str(run / "results.json") in text  # the file
    assert "Rerun `hybridwm benchmark`" in text  # the fix


def test_many_problems_are_counted_not_all_listed(run_factory):
    run = run_factory(with_curves=False, with_samples=False)
    _edit_results(run, lambda r: [row.update(value="x") for row in r["metrics"][:10]])
    with pytest.raises(FormatError, match=r"metrics\[0\]: .*\(and 7 more problem\(s\)\)"):
        read_run(run)


def test_results_json_must_be_an_object(run_factory):
    run = run_factory(with_curves=False, with_samples=False)
    (run / "results.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match=r"the top level must be a JSON object with keys"):
        read_run(run)


def test_results_round_trip_through_the_schema(run_factory):
    from hybridwm.schemas import RunResults

    path = run_factory(with_curves=False, with_samples=False) / "results.json"
    raw = json.loads(path.read_text())
    raw["metrics"][0]["value"] = "inf"
    raw["metrics"][1]["value"] = None
    doc = RunResults.parse(raw, "results.json")
    assert doc.metrics[0].value == float("inf") and np.isnan(doc.metrics[1].value)
    # the file format is kept (NaN as null, infinities as text); optional parts get written
    assert doc.to_dict() == {**raw, "scenarios": {}, "training": [], "fit": []}


def test_summary_json_reads_back_through_its_schema(rendered):
    from hybridwm.schemas import Summary

    _, paths = rendered
    summary = Summary.read(paths["summary"])
    assert summary.models == ["learned", "physics", "hybrid", "hybrid-no-pinn"]
    assert summary.to_dict() == json.loads(paths["summary"].read_text())
