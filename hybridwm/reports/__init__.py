"""Reports: read a benchmark run directory and render it as HTML, Markdown and summary.json
(and a learning-loop run directory: :func:`render_learning_report`).

This package imports nothing of hybridwm above ``data``: it works from the files of a run
directory only (its documents are defined in :mod:`hybridwm.schemas`).
"""

from hybridwm.reports.learning import build_learning_report, render_learning_report
from hybridwm.reports.render import render_html, render_markdown, render_report
from hybridwm.reports.rundir import RunData, read_run
from hybridwm.reports.sections import build_report
from hybridwm.reports.summary import aggregate, fmt, summarize

__all__ = [
    "RunData",
    "aggregate",
    "build_learning_report",
    "build_report",
    "fmt",
    "read_run",
    "render_html",
    "render_learning_report",
    "render_markdown",
    "render_report",
    "summarize",
]
