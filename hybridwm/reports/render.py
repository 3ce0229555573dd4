"""Render a benchmark run directory as ``report.html``, ``report.md`` and ``summary.json``.

The report's content is built once (:func:`~hybridwm.reports.sections.build_report`) as
sections of plain blocks, and written by two jinja2 templates shipped as package data
(``templates/report.md.j2`` and ``templates/report.html.j2``, one macro per block kind), so both
show the same numbers, formatted by :func:`hybridwm.reports.summary.fmt` (``f"{v:.3g}"``).

* ``report.html`` is self-contained: inline CSS (``static/report.css``), figures embedded as
  base64 PNG, no scripts and no external URLs, so it opens offline and can be mailed as one
  file. Every text is HTML-escaped (autoescape).
* ``report.md`` links the figures saved under ``<out_dir>/figures/*.png``. Every text from the
  run directory is escaped there too: ``&``, ``<`` and ``>`` as HTML entities (which Markdown
  renderers show as the characters), ``|`` in table cells, ``<``/``>`` as ``\\lt``/``\\gt`` in
  LaTeX; the readable equations are a ``<pre>`` block, so they show escaped text correctly.
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

from hybridwm._io import atomic_write_bytes, atomic_write_json, atomic_write_text, output_error
from hybridwm.reports.blocks import Cell, Report
from hybridwm.reports.rundir import read_run
from hybridwm.reports.sections import build_report

__all__ = [
    "Report",
    "build_report",
    "render_html",
    "render_markdown",
    "render_report",
    "write_report",
]

_PACKAGE = "hybridwm.reports"


def _package_text(*parts: str) -> str:
    """A text file shipped with this package (``templates/...``, ``static/...``)."""
    return resources.files(_PACKAGE).joinpath(*parts).read_text(encoding="utf-8")


#: the characters that could start HTML in Markdown text, and their entities
_HTML_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _md_text(value: object) -> Markup:
    """Text from a results file, safe in Markdown: ``&``, ``<`` and ``>`` HTML-escaped.

    A Markdown renderer shows the entities as the characters and never sees a tag, so a name
    like ``<script>...</script>`` reads as itself and runs nowhere. Every ``{{ ... }}`` of the
    Markdown templates goes through this (the environment's ``finalize``) unless a filter
    below already made it safe.
    """
    if hasattr(value, "__html__"):  # a macro's output or a filter's: already safe
        return Markup(value)
    return Markup(str(value).translate(_HTML_SPECIAL))


def _md_escape(text: object) -> Markup:
    """Text safe inside a Markdown table cell (HTML-escaped, ``|`` escaped, one line)."""
    return Markup(str(text).translate(_HTML_SPECIAL).replace("|", "\\|").replace("\n", " "))


def _md_cell(cell: Cell) -> Markup:
    text = _md_escape(cell.text)
    return Markup(f"**{text}**") if cell.bold else text


def _md_math(tex: object) -> Markup:
    """LaTeX safe between ``$$`` lines: ``<``/``>`` as ``\\lt``/``\\gt`` (no tag, same math)."""
    return Markup(str(tex).replace("<", "\\lt ").replace(">", "\\gt "))


@functools.lru_cache(maxsize=2)
def _environment(markdown: bool = False) -> jinja2.Environment:
    """The template environment: templates read from the package, every text escaped (HTML
    escaping for the HTML page, :func:`_md_text` for the Markdown report)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _package_text("templates", name)),
        autoescape=True,
        finalize=_md_text if markdown else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_escape"] = _md_escape
    env.filters["md_cell"] = _md_cell
    env.filters["md_math"] = _md_math
    return env


def render_markdown(report: Report, *, figure_dir: str = "figures") -> str:
    """The report as GitHub-flavoured Markdown; figures are linked from ``figure_dir``."""
    template = _environment(markdown=True).get_template("report.md.j2")
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
        OutputError: a file cannot be written (disk full, read-only, ...).
    """
    run = read_run(run_dir)
    return write_report(build_report(run), Path(out_dir) if out_dir is not None else run.path)


def write_report(report: Report, out: Path) -> dict[str, Path]:
    """Write a built report into ``out``: ``figures/*.png``, ``report.md``, ``report.html`` and
    ``summary.json`` (each atomically).

    Returns:
        ``{"html": ..., "markdown": ..., "summary": ..., "figures": <figures folder>}``.

    Raises:
        OutputError: a file cannot be written.
    """
    fig_dir = out / "figures"
    try:
        fig_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, fig_dir) from exc
    for fb in report.figures:
        atomic_write_bytes(fig_dir / fb.filename, fb.png)
    md = atomic_write_text(out / "report.md", render_markdown(report, figure_dir="figures"))
    page = atomic_write_text(out / "report.html", render_html(report))
    summ = atomic_write_json(out / "summary.json", report.summary)
    return {"html": page, "markdown": md, "summary": summ, "figures": fig_dir}
