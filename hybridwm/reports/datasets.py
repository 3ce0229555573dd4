"""The report section of the measured benchmarks (Silverbox, EMPS): the official score table
beside the published rows, rollouts against the measurement on each test record, and the
Silverbox arrow's error over amplitude (where extrapolation starts).

It reads what ``benchmarks/bench_silverbox.py`` and ``bench_emps.py`` write in a folder:
``official.json`` (:class:`~hybridwm.datasets.results.OfficialResults`) and ``rollouts.npz``,
and writes ``datasets.md`` with ``figures/<dataset>-*.png``, atomically. Every text from the
files is escaped for a Markdown table cell.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure

from hybridwm._io import atomic_write_bytes, atomic_write_text
from hybridwm.datasets.results import OfficialResults, OfficialRun
from hybridwm.errors import FormatError
from hybridwm.reports.plots import model_color, to_png

__all__ = ["amplitude_error", "read_official", "render_datasets"]

#: rollouts.npz holds a few float arrays; anything bigger is not one the benchmark wrote
MAX_ROLLOUT_BYTES = 64 * 1024 * 1024


def _cell(text: object) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, ``|`` escaped, one line."""
    table = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "\n": " "})
    return str(text).translate(table)


def read_official(folder: str | os.PathLike[str]) -> tuple[OfficialResults, dict[str, np.ndarray]]:
    """``official.json`` and its rollouts from a benchmark's output folder.

    Raises:
        FormatError: a file is missing or malformed (the message names it and the fix).
    """
    path = Path(folder) / "official.json"
    doc = OfficialResults.read(path)
    npz = path.with_name(Path(doc.rollouts).name)
    try:
        if npz.stat().st_size > MAX_ROLLOUT_BYTES:
            raise FormatError(
                f"{npz} is larger than {MAX_ROLLOUT_BYTES} bytes; not a rollout file."
            )
        with np.load(npz, allow_pickle=False) as data:
            rollouts = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FormatError(f"Cannot read the rollouts {npz}: {exc}") from None
    return doc, rollouts


def amplitude_error(
    measured: np.ndarray, predicted: np.ndarray, n_init: int, bins: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """RMSE of ``predicted`` in bins of the measured output's magnitude ``|y|``.

    Args:
        measured: (T,) measured output.
        predicted: (T,) simulated output.
        n_init: samples at the start left out (the initialisation window).
        bins: number of equal-width bins from 0 to ``max |y|``.

    Returns:
        ``(centres, rmse)``: (bins,) bin centres of ``|y|`` and the RMSE in each (NaN if empty).
    """
    y, e = np.abs(measured[n_init:]), (measured - predicted)[n_init:]
    edges = np.linspace(0.0, float(y.max()), bins + 1)
    which = np.clip(np.digitize(y, edges) - 1, 0, bins - 1)
    rmse = np.array(
        [
            np.sqrt(np.mean(e[which == b] ** 2)) if (which == b).any() else np.nan
            for b in range(bins)
        ]
    )
    return (edges[:-1] + edges[1:]) / 2, rmse


def _rows(doc: OfficialResults) -> list[dict[str, Any]]:
    rows = []
    for name in dict.fromkeys(r.model for r in doc.runs):
        mine: list[OfficialRun] = [r for r in doc.runs if r.model == name]
        cells = []
        for split in doc.tests:
            vals = [r.rmse.get(split) for r in mine]
            if any(v is None for v in vals):
                cells.append("diverged")
            else:
                spread = f" ({min(vals):.3g}-{max(vals):.3g})" if len(vals) > 1 else ""
                cells.append(f"**{np.mean(vals):.3g}**{spread}")
        fit = max(r.fit_seconds for r in mine)
        budget = f"{mine[0].steps} steps, fit <= {fit:.0f} s"
        rows.append({"name": f"**{_cell(name)}** ({len(mine)} seed(s))", "cells": cells,
                     "budget": budget, "source": "this run"})  # fmt: skip
    for p in doc.published:
        cells = [f"{p.scores[s]:.3g}" if s in p.scores else "" for s in doc.tests]
        note = f"; {p.note}" if p.note else ""
        rows.append({"name": _cell(p.method), "cells": cells, "budget": "",
                     "source": _cell(f"{p.source} ({p.status}{note})")})  # fmt: skip
    return rows


def _rollout_figure(
    doc: OfficialResults, rollouts: dict[str, np.ndarray], split: str, models: Sequence[str]
) -> Figure:
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    measured = rollouts[f"measured/{split}"]
    k = np.arange(measured.size)
    top.plot(k, measured, color="black", linewidth=0.5, label="measured")
    for m in models:
        pred = rollouts.get(f"{m}/{split}")
        if pred is not None:
            color = model_color(m, models)
            top.plot(k, pred, linewidth=0.5, color=color, label=m)
            bottom.plot(k, (pred - measured) * 1000, linewidth=0.5, color=color, label=m)
    top.set_ylabel("output (SI)", fontsize=8)
    bottom.set_ylabel(f"error [{doc.unit}]", fontsize=8)
    bottom.set_xlabel("sample", fontsize=8)
    top.legend(fontsize=7, frameon=False, loc="upper left")
    fig.suptitle(f"{doc.dataset} {split}: free run against the measurement", fontsize=10)
    return fig


def _amplitude_figure(
    doc: OfficialResults, rollouts: dict[str, np.ndarray], models: Sequence[str]
) -> Figure:
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    measured = rollouts["measured/test_arrow_full"]
    for m in models:
        pred = rollouts.get(f"{m}/test_arrow_full")
        if pred is not None:
            centres, err = amplitude_error(measured, pred, doc.n_init)
            ax.plot(
                centres, err * 1000, marker="o", markersize=3, color=model_color(m, models), label=m
            )
    if doc.train_range:
        ax.axvline(max(abs(v) for v in doc.train_range), color="grey", linestyle="--",
                   label="largest |y| in estimation data")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("|measured y| [V]", fontsize=8)
    ax.set_ylabel(f"RMSE in bin [{doc.unit}]", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Silverbox arrow (full): error over amplitude", fontsize=10)
    return fig


def _section(folder: Path, figures: Path) -> dict[str, Any]:
    doc, rollouts = read_official(folder)
    models = list(dict.fromkeys(r.model for r in doc.runs))
    made = []
    for split in doc.tests:
        made.append((f"{doc.dataset}-{split}.png", _rollout_figure(doc, rollouts, split, models),
                     f"{doc.dataset} {split}: simulated outputs (seed 0) and their error"))  # fmt: skip
    if doc.dataset == "silverbox" and "measured/test_arrow_full" in rollouts:
        made.append((f"{doc.dataset}-arrow-amplitude.png", _amplitude_figure(doc, rollouts, models),
                     "Silverbox arrow: RMSE per bin of |y|; right of the dashed line the "
                     "models extrapolate beyond the estimation data"))  # fmt: skip
    entries = []
    for name, fig, caption in made:
        atomic_write_bytes(figures / name, to_png(fig))
        entries.append({"path": f"figures/{name}", "caption": caption})
    params = {r.model: r.parameters for r in doc.runs if r.seed == 0 and r.parameters}
    text = "; ".join(
        f"{m}: " + ", ".join(f"{k} = {v:.4g}" for k, v in p.items()) for m, p in params.items()
    )
    return {"title": _cell(doc.dataset), "n_init": doc.n_init, "unit": _cell(doc.unit),
            "tests": [_cell(t) for t in doc.tests], "rows": _rows(doc), "figures": entries,
            "parameters": _cell(text), "date": _cell(doc.date)}  # fmt: skip


def render_datasets(
    folders: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
) -> Path:
    """Write ``<out_dir>/datasets.md`` (and its figures) from benchmark output folders.

    Args:
        folders: each a ``bench_silverbox.py`` / ``bench_emps.py`` ``--out`` folder.
        out_dir: where ``datasets.md`` and ``figures/`` go.

    Returns:
        The path of ``datasets.md``.

    Raises:
        FormatError: a folder's files are missing or malformed.
    """
    out = Path(out_dir)
    sections = [_section(Path(f), out / "figures") for f in folders]
    source = resources.files("hybridwm.reports").joinpath("templates", "datasets.md.j2")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True)
    text = env.from_string(source.read_text(encoding="utf-8")).render(sections=sections)
    return atomic_write_text(out / "datasets.md", text)
