"""render_report on a small real run directory: files, self-contained HTML, numbers, losses."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from hybridwm.errors import OutputError
from hybridwm.reports import build_report, read_run, render_report
from hybridwm.reports.summary import fmt

FIGURES = {
    "rollouts_pendulum.png",
    "rollouts_cartpole.png",
    "horizon_pendulum.png",
    "horizon_cartpole.png",
    "vpt_pendulum.png",
    "vpt_cartpole.png",
    "ood_id_ratio.png",
    "coefficients_pendulum.png",  # cartpole has no true coefficients
}


# ---------------------------------------------------------------------------- helpers
def expected_aggregates(run_dir: Path, metric: str) -> dict[tuple[str, str, str], tuple]:
    """(system, model, scenario) -> (mean, std) computed directly from results.json."""
    res = json.loads((run_dir / "results.json").read_text())
    groups: dict[tuple[str, str, str], list[float]] = {}
    for r in res["metrics"]:
        if r["metric"] == metric:
            groups.setdefault((r["system"], r["model"], r["scenario"]), []).append(r["value"])
    return {
        k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
        for k, v in groups.items()
    }


def md_section(md: str, title: str, level: int = 2) -> str:
    """The text of the Markdown section ``title`` up to the next heading of the same level."""
    marker = "#" * level + " "
    start = md.index(f"{marker}{title}\n")
    rest = md[start + len(marker) + len(title) + 1 :]
    m = re.search(rf"^{'#' * level} ", rest, flags=re.M)
    return rest[: m.start()] if m else rest


def md_table_after(text: str, heading: str) -> list[list[str]]:
    """The rows (header first) of the first Markdown table after the line ``heading``."""
    lines = text[text.index(heading) :].splitlines()[1:]
    rows, started = [], False
    for line in lines:
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not re.fullmatch(r"\|[-|]+\|", line.strip()):  # skip the |---|---| rule
                rows.append(cells)
        elif started:
            break
    return rows


def parse_cell(cell: str) -> tuple[float, float, bool]:
    bold = cell.startswith("**") and cell.endswith("**")
    mean, std = cell.strip("*").split(" ± ")
    return float(mean), float(std), bold


# ---------------------------------------------------------------------------- files
def test_files_written(rendered):
    run, paths = rendered
    assert set(paths) == {"html", "markdown", "summary", "figures"}
    assert paths["html"] == run / "report.html"
    assert paths["markdown"] == run / "report.md"
    assert paths["summary"] == run / "summary.json"
    for key in ("html", "markdown", "summary"):
        assert paths[key].stat().st_size > 0
    pngs = {p.name for p in paths["figures"].glob("*.png")}
    assert pngs == FIGURES
    for p in paths["figures"].glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # atomic writes leave no temporary files behind
    assert not list(run.rglob("*.tmp"))


def test_markdown_links_every_figure(rendered):
    _, paths = rendered
    md = paths["markdown"].read_text()
    links = set(re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", md))
    assert links == FIGURES


def test_html_is_self_contained(rendered):
    _, paths = rendered
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert refs, "expected image sources and in-page links"
    external = [
        r for r in refs if not (r.startswith("#") or r.startswith("data:image/png;base64,"))
    ]
    assert external == []
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "<style>" in page


def test_html_and_markdown_show_the_same_numbers(rendered):
    _, paths = rendered
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    cells = set(re.findall(r"\d[\d.e+-]* ± \d[\d.e+-]*", md))
    assert cells
    for c in cells:
        assert c in page


# ---------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("metric", "heading", "lower_is_better"),
    [("nrmse", "nRMSE", True), ("vpt", "Valid prediction time", False)],
)
@pytest.mark.parametrize("system", ["pendulum", "cartpole"])
def test_markdown_table_equals_results_json(rendered, metric, heading, lower_is_better, system):
    run, paths = rendered
    expected = expected_aggregates(run, metric)
    results = md_section(paths["markdown"].read_text(), "Results")
    rows = md_table_after(results, f"#### {heading} — {system}")
    header, body = rows[0], rows[1:]
    assert header == ["model", "id", "ood-state"]
    assert [r[0] for r in body] == ["learned", "physics", "hybrid", "hybrid-no-pinn"]
    for j, scenario in enumerate(header[1:], start=1):
        column = {}
        for row in body:
            mean, std = expected[(system, row[0], scenario)]
            assert row[j].strip("*") == f"{fmt(mean)} ± {fmt(std)}"
            got_mean, got_std, bold = parse_cell(row[j])
            assert got_mean == pytest.approx(mean, rel=5e-3)
            assert got_std == pytest.approx(std, rel=5e-3, abs=1e-12)
            column[row[0]] = (mean, bold)
        pick = min if lower_is_better else max
        best = pick(column, key=lambda m: column[m][0])
        assert [m for m, (_, b) in column.items() if b] == [best]


def test_summary_json_matches_results(rendered):
    run, paths = rendered
    summary = json.loads(paths["summary"].read_text())
    assert summary["format_version"] == 1
    assert summary["models"] == ["learned", "physics", "hybrid", "hybrid-no-pinn"]
    assert summary["scenarios"] == ["id", "ood-state"]
    expected = expected_aggregates(run, "nrmse")
    table = {
        (r["system"], r["model"], r["scenario"]): r
        for r in summary["table"]
        if r["metric"] == "nrmse"
    }
    assert set(table) == set(expected)
    for k, (mean, std) in expected.items():
        assert table[k]["mean"] == pytest.approx(mean, rel=1e-12)
        assert table[k]["std"] == pytest.approx(std, rel=1e-12)
        assert table[k]["n_seeds"] == 2
    best = {
        (r["system"], r["scenario"]): r["model"] for r in summary["best"] if r["metric"] == "nrmse"
    }
    for (system, scenario), model in best.items():
        cands = {m: v[0] for (s, m, sc), v in expected.items() if (s, sc) == (system, scenario)}
        assert model == min(cands, key=cands.get)
    ratios = {(r["system"], r["model"], r["scenario"]): r["ratio"] for r in summary["ood_id_ratio"]}
    assert len(ratios) == 8
    for (system, model, scenario), ratio in ratios.items():
        assert scenario == "ood-state"
        want = expected[(system, model, "ood-state")][0] / expected[(system, model, "id")][0]
        assert ratio == pytest.approx(want)
    assert summary["findings"] and all(isinstance(f, str) for f in summary["findings"])


# ---------------------------------------------------------------------------- where hybrid loses
def _loss_cells(md: str) -> set[tuple[str, str, str]]:
    section = md_section(md, "Where the hybrid loses")
    rows = md_table_after(section, "In ")
    assert rows[0][:4] == ["system", "scenario", "hybrid nRMSE", "best other model"]
    return {(r[0], r[1], r[3]) for r in rows[1:]}


def test_where_the_hybrid_loses_lists_exactly_the_right_cells(rendered):
    run, paths = rendered
    md = paths["markdown"].read_text()
    expected = expected_aggregates(run, "nrmse")
    # recompute from results.json: every cell where hybrid is worse than the best other model
    want = set()
    for system in ("pendulum", "cartpole"):
        for scenario in ("id", "ood-state"):
            others = {
                m: expected[(system, m, scenario)][0]
                for m in ("learned", "physics", "hybrid-no-pinn")
            }
            best = min(others, key=others.get)
            if expected[(system, "hybrid", scenario)][0] > others[best]:
                want.add((system, scenario, best))
    assert want == {("pendulum", "ood-state", "physics"), ("cartpole", "id", "hybrid-no-pinn")}
    assert _loss_cells(md) == want
    # the numbers shown are the aggregates
    section = md_section(md, "Where the hybrid loses")
    rows = {(r[0], r[1]): r for r in md_table_after(section, "In ")[1:]}
    for system, scenario, best in want:
        row = rows[(system, scenario)]
        mean, std = expected[(system, "hybrid", scenario)]
        assert row[2] == f"{fmt(mean)} ± {fmt(std)}"
        mean, std = expected[(system, best, scenario)]
        assert row[4] == f"{fmt(mean)} ± {fmt(std)}"
    summary = json.loads(paths["summary"].read_text())
    assert {(r["system"], r["scenario"], r["best_model"]) for r in summary["hybrid_losses"]} == want


def test_where_the_hybrid_loses_says_none(run_factory):
    run = run_factory(hybrid_best_everywhere=True, with_curves=False, with_samples=False)
    report = build_report(read_run(run))
    from hybridwm.reports import render_markdown

    md = render_markdown(report)
    section = md_section(md, "Where the hybrid loses")
    assert section.strip().startswith("None")
    assert "|" not in section
    assert report.summary["hybrid_losses"] == []


# ---------------------------------------------------------------------------- variants
def test_out_dir_and_optional_files(run_factory, tmp_path):
    run = run_factory(with_curves=False, with_samples=False)
    (run / "config.json").unlink()
    out = tmp_path / "elsewhere"
    paths = render_report(run, out_dir=out)
    assert paths["html"] == out / "report.html"
    assert not (run / "report.html").exists()
    names = {p.name for p in (out / "figures").glob("*.png")}
    assert names == {
        "vpt_pendulum.png",
        "vpt_cartpole.png",
        "ood_id_ratio.png",
        "coefficients_pendulum.png",
    }
    md = paths["markdown"].read_text()
    assert "config.json was not found" in md


def test_non_finite_values_are_reported_not_fatal(run_factory):
    run = run_factory(with_samples=False)
    res = json.loads((run / "results.json").read_text())
    for r in res["metrics"]:
        if (r["system"], r["model"], r["scenario"], r["seed"], r["metric"]) == (
            "pendulum",
            "hybrid",
            "id",
            1,
            "nrmse",
        ):
            r["value"] = None
        if (r["system"], r["model"], r["scenario"], r["seed"], r["metric"]) == (
            "cartpole",
            "learned",
            "id",
            0,
            "nrmse",
        ):
            r["value"] = "inf"
    (run / "results.json").write_text(json.dumps(res))
    paths = render_report(run)
    summary = json.loads(paths["summary"].read_text())
    losses = {(r["system"], r["scenario"]) for r in summary["hybrid_losses"]}
    assert ("pendulum", "id") in losses  # a NaN mean ranks worst
    md = paths["markdown"].read_text()
    assert "nan ± nan" in md
    assert any("NaN/inf" in f for f in summary["findings"])
    best = {
        (r["system"], r["scenario"]): r["model"] for r in summary["best"] if r["metric"] == "nrmse"
    }
    assert best[("pendulum", "id")] == "hybrid-no-pinn"


# ---------------------------------------------------------------------------- untrusted text
EVIL = "<script>alert(1)</script>"


def _poison(run: Path) -> None:
    """Put a script into a system, a scenario, a model and an equation name of ``run``."""
    names = {
        '"pendulum"': f'"pendulum{EVIL}"',
        '"ood-state"': f'"ood{EVIL}"',
        '"hybrid-no-pinn"': f'"nopinn{EVIL}"',
        "d(theta)/dt = 1.000 omega": f"d(theta)/dt = 1.000 omega{EVIL}",
        r"\\dot{\\theta} = 1.000\\,\\omega": r"\\dot{\\theta} = 1.000\\,\\omega" + EVIL,
        '"d(omega)/dt"': f'"d(omega)/dt{EVIL}"',
        '"2025-01-01T10:05:00"': f'"a & b | c{EVIL}"',
    }
    for name in ("results.json", "config.json"):
        text = (run / name).read_text()
        for old, new in names.items():
            text = text.replace(old, new.replace("/", "\\/"))
        (run / name).write_text(text)


def test_untrusted_names_are_escaped_in_markdown_and_html(run_factory):
    """Issue 19, item 7: report.md escapes text from the results file like report.html does."""
    run = run_factory(with_curves=False, with_samples=False)
    _poison(run)
    results = json.loads((run / "results.json").read_text())
    assert any(EVIL in r["system"] for r in results["metrics"])  # the poison is in place
    paths = render_report(run)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    for text in (md, page):
        assert "<script" not in text.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for name in (f"pendulum{EVIL}", f"ood{EVIL}", f"nopinn{EVIL}", f"1.000 omega{EVIL}"):
        escaped = name.replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in md, name
    # the Markdown stays Markdown: tables keep their columns, LaTeX stays LaTeX
    assert r"\lt script\gt alert(1)\lt /script\gt " in md
    assert "a &amp; b \\| c&lt;script&gt;" in md  # a table cell: '|' escaped too
    tables = re.findall(r"(?:^\|.*\n)+", md, flags=re.M)
    assert len(tables) > 5
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table  # every row has the header's columns


def test_an_unwritable_out_dir_is_a_named_error(run_factory, tmp_path):
    run = run_factory(with_curves=False, with_samples=False)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    with pytest.raises(OutputError, match=r"Cannot write .*not-a-dir/figures.*--out"):
        render_report(run, out_dir=blocker)
    assert blocker.read_text() == "a file"
