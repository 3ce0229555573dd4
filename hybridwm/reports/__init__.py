"""Reports: read a benchmark run directory and render it as HTML, Markdown and summary.json.

This package imports nothing of hybridwm above ``data``: it works from the files of a run
directory only (its documents are defined in :mod:`hybridwm.schemas`).
"""

from hybridwm.reports.render import render_html, render_markdown, render_report
from hybridwm.reports.rundir import RunData, read_run
from hybridwm.reports.sections import build_report
from hybridwm.reports.summary import aggregate, fmt, summarize

__all__ = [
    "RunData",
    "aggregate",
    "build_report",
    "fmt",
    "read_run",
    "render_html",
    "render_markdown",
    "render_report",
    "summarize",
]
