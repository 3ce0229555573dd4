"""Render a benchmark run directory as ``report.html``, ``report.md`` and ``summary.json``.

The report's content is built once (:func:`~hybridwm.reports.sections.build_report`) as
sections of plain blocks, and written by two jinja2 templates shipped as package data
(``templates/report.md.j2`` and ``templates/report.html.j2``, one macro per block kind), so both
show the same numbers, formatted by :func:`hybridwm.reports.summary.fmt` (``f"{v:.3g}"``).

* ``report.html`` is self-contained: inline CSS (``static/report.css``), figures embedded as
  base64 PNG, no scripts and no external URLs, so it opens offline and can be mailed as one
  file. Every text is HTML-escaped (autoescape).
* ``report.md`` links the figures saved under ``<out_dir>/figures/*.png``.
* ``summary.json`` holds the aggregated numbers (:class:`hybridwm.schemas.Summary`).

Every file is written atomically.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from hybridwm._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from hybridwm.reports.blocks import Cell, Report
from hybridwm.reports.rundir import read_run
from hybridwm.reports.sections import build_report

__all__ = ["Report", "build_report", "render_html", "render_markdown", "render_report"]

_PACKAGE = "hybridwm.reports"


def _package_text(*parts: str) -> str:
    """A text file shipped with this package (``templates/...``, ``static/...``)."""
    return resources.files(_PACKAGE).joinpath(*parts).read_text(encoding="utf-8")


def _md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_cell(cell: Cell) -> str:
    text = _md_escape(cell.text)
    return f"**{text}**" if cell.bold else text


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The template environment: templates read from the package, HTML autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _package_text("templates", name)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_escape"] = _md_escape
    env.filters["md_cell"] = _md_cell
    return env


def render_markdown(report: Report, *, figure_dir: str = "figures") -> str:
    """The report as GitHub-flavoured Markdown; figures are linked from ``figure_dir``."""
    template = _environment().get_template("report.md.j2")
    return template.render(report=report, figure_dir=figure_dir).rstrip() + "\n"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, base64 PNG figures, no scripts)."""
    css = Markup(_package_text("static", "report.css"))  # our own stylesheet, not user text
    return _environment().get_template("report.html.j2").render(report=report, css=css)


def render_report(
    run_dir: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``summary.json`` and ``figures/*.png`` for a run.

    Args:
        run_dir: a benchmark run directory (format: :mod:`hybridwm.schemas`).
        out_dir: where to write; defaults to ``run_dir``.

    Returns:
        ``{"html": ..., "markdown": ..., "summary": ..., "figures": <figures folder>}``.

    Raises:
        FormatError: if the run directory is missing or malformed (see
            :func:`~hybridwm.reports.rundir.read_run`).
    """
    run = read_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path
    report = build_report(run)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for fb in report.figures:
        atomic_write_bytes(fig_dir / fb.filename, fb.png)
    md = atomic_write_text(out / "report.md", render_markdown(report, figure_dir="figures"))
    page = atomic_write_text(out / "report.html", render_html(report))
    summ = atomic_write_json(out / "summary.json", report.summary)
    return {"html": page, "markdown": md, "summary": summ, "figures": fig_dir}
