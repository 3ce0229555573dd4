"""Report figures (matplotlib, no pyplot state: every function returns a new ``Figure``).

The figures are drawn on the Agg canvas, so they work headless and in threads. Each model keeps
one colour across all figures (:func:`model_color`). :func:`to_png` renders a figure to bytes.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "model_color",
    "plot_calibration_curve",
    "plot_coefficients",
    "plot_error_vs_horizon",
    "plot_ood_ratio",
    "plot_rollouts",
    "plot_vpt",
    "to_png",
]

_KNOWN_COLORS = {
    "truth": "#222222",
    "learned": "#d1495b",
    "physics": "#00798c",
    "hybrid": "#edae49",
    "hybrid-no-pinn": "#8f5bb5",
}
_EXTRA = ["#30638e", "#66a182", "#a05195", "#f95d6a", "#2f4b7c", "#ffa600"]


def model_color(name: str, models: Sequence[str] = ()) -> str:
    """A stable colour for a model (or ``"truth"``); unknown names cycle through a palette."""
    if name in _KNOWN_COLORS:
        return _KNOWN_COLORS[name]
    extra = [m for m in models if m not in _KNOWN_COLORS]
    i = extra.index(name) if name in extra else zlib.crc32(name.encode("utf-8"))
    return _EXTRA[i % len(_EXTRA)]


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=8)


def _right_legend(fig: Figure, ax: Any) -> None:
    """The legend of ``ax``'s artists, outside the axes at the figure's upper right."""
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False)


def _titled(fig: Figure, title: str, target: Any = None) -> Figure:
    """``fig`` with a bold ``title`` (on ``target``'s axes, else over the whole figure)."""
    if title:
        if target is None:
            fig.suptitle(title, fontsize=11, fontweight="bold")
        else:
            target.set_title(title, fontsize=11, fontweight="bold")
    return fig


def to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def plot_rollouts(
    samples: Mapping[str, pd.DataFrame],
    state_names: Sequence[str],
    *,
    models: Sequence[str] = (),
    max_states: int = 4,
    episode: int | None = None,
    title: str = "",
    bands: Mapping[str, pd.DataFrame] | None = None,
) -> Figure:
    """Rollouts against ground truth: rows are scenarios, columns the first states.

    Args:
        samples: ``{scenario: DataFrame}`` in the samples long format (columns ``episode, t,
            source`` and one column per state; ``source`` is ``"truth"`` or a model name).
        state_names: the states to plot, in order; at most ``max_states`` are shown.
        models: display order of the model sources.
        max_states: number of state columns.
        episode: which episode to show; ``None`` for the first one in each file.
        title: figure title.
        bands: optional ``{scenario: DataFrame}`` of prediction intervals, shaded in each
            model's colour: columns ``episode, t, source, bound`` (``"lower"``/``"upper"``) and
            one column per state.
    """
    scenarios = list(samples)
    first = next(iter(samples.values()))
    states = [s for s in state_names if s in first.columns][:max_states]
    n_r, n_c = max(len(scenarios), 1), max(len(states), 1)
    fig = _figure(min(3.0 * n_c + 1.0, 12.0), 2.1 * n_r + 0.6)
    axes = np.atleast_2d(fig.subplots(n_r, n_c, squeeze=False, sharex="row"))
    handles: dict[str, Any] = {}
    for i, sc in enumerate(scenarios):
        df = samples[sc]
        ep = df["episode"].min() if episode is None else episode
        d = df[df["episode"] == ep]
        sources = [s for s in ["truth", *models] if s in set(d["source"])]
        sources += [s for s in dict.fromkeys(d["source"]) if s not in sources]
        for j, st in enumerate(states):
            ax = axes[i, j]
            _style(ax)
            for src in sources:
                part = d[d["source"] == src].sort_values("t")
                truth = src == "truth"
                (line,) = ax.plot(
                    part["t"].to_numpy(),
                    part[st].to_numpy(dtype=float),
                    color=model_color(src, models),
                    lw=2.2 if truth else 1.5,
                    ls="-" if truth else "--",
                    alpha=0.9,
                    zorder=3 if truth else 2,
                    label=src,
                )
                handles.setdefault(src, line)
                if bands is not None and sc in bands and not truth:
                    _band(ax, bands[sc], ep, src, st, model_color(src, models))
            if i == 0:
                ax.set_title(st, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{sc}\n(episode {ep})", fontsize=9)
            if i == n_r - 1:
                ax.set_xlabel("t [s]", fontsize=8)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=len(handles),
        frameon=False,
        fontsize=9,
    )
    return _titled(fig, title)


def _scenario_panels(
    curves: pd.DataFrame, scenarios: Sequence[str], width: float
) -> tuple[Figure, Any, list[str]]:
    """A figure with one panel of ``width`` inches per scenario present in ``curves`` (in
    ``scenarios``' order), sharing the y axis: ``(fig, axes, scenarios)``."""
    present = [s for s in scenarios if s in set(curves["scenario"])]
    n = max(len(present), 1)
    fig = _figure(min(width * n + 0.8, 12.0), 3.0)
    return fig, fig.subplots(1, n, squeeze=False, sharey=True)[0], present


def _seed_lines(
    ax: Any, d: pd.DataFrame, x: str, y: str, models: Sequence[str], **line: Any
) -> None:
    """One line per model of ``d``: the mean of ``y`` over seeds at each ``x``, shaded
    between the min and max over seeds."""
    for m in [m for m in models if m in set(d["model"])]:
        g = d[d["model"] == m].groupby(x)[y]
        mean, lo, hi = g.mean(), g.min(), g.max()
        c = model_color(m, models)
        ax.plot(mean.index, mean.to_numpy(), color=c, lw=1.6, label=m, **line)
        ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), color=c, alpha=0.15, lw=0)


def _band(ax: Any, bands: pd.DataFrame, episode: Any, source: str, state: str, color: str) -> None:
    """Shade ``source``'s interval of ``state`` in ``episode`` (nothing if it has none)."""
    d = bands[(bands["episode"] == episode) & (bands["source"] == source)]
    lo = d[d["bound"] == "lower"].sort_values("t")
    hi = d[d["bound"] == "upper"].sort_values("t")
    if len(lo) and len(lo) == len(hi):
        t = lo["t"].to_numpy(dtype=float)
        low, up = lo[state].to_numpy(dtype=float), hi[state].to_numpy(dtype=float)
        ax.fill_between(t, low, up, color=color, alpha=0.2, lw=0, zorder=1)


def plot_calibration_curve(
    curves: pd.DataFrame, *, scenarios: Sequence[str], models: Sequence[str], title: str = ""
) -> Figure:
    """Observed coverage against the nominal level of central intervals (a calibration
    curve), one panel per scenario, one line per model; the diagonal is perfect calibration.

    Args:
        curves: rows with columns ``model, scenario, seed, level, observed``; the line is the
            mean over seeds, the band the min–max.
        scenarios: panel order. models: line order.
        title: figure title.
    """
    fig, axes, scenarios = _scenario_panels(curves, scenarios, 3.0)
    for ax, sc in zip(axes, scenarios, strict=False):
        _style(ax)
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls=":", label="ideal")
        d = curves[curves["scenario"] == sc]
        _seed_lines(ax, d, "level", "observed", models, marker="o", ms=3)
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
        ax.set_title(sc, fontsize=10)
        ax.set_xlabel("nominal level", fontsize=8)
    axes[0].set_ylabel("observed coverage", fontsize=9)
    _right_legend(fig, axes[0])
    return _titled(fig, title)


def plot_error_vs_horizon(
    curves: pd.DataFrame,
    *,
    scenarios: Sequence[str],
    models: Sequence[str],
    title: str = "",
) -> Figure:
    """nRMSE against prediction horizon, one panel per scenario, one line per model.

    Args:
        curves: rows of one system with columns ``model, scenario, seed, t, nrmse``. The line
            is the mean over seeds and the band spans the min and max over seeds.
        scenarios: panel order. models: line order.
        title: figure title.
    """
    fig, axes, scenarios = _scenario_panels(curves, scenarios, 3.4)
    use_log = bool((curves["nrmse"] > 0).all() and np.isfinite(curves["nrmse"]).all())
    for ax, sc in zip(axes, scenarios, strict=False):
        _style(ax)
        d = curves[curves["scenario"] == sc]
        _seed_lines(ax, d, "t", "nrmse", models)
        ax.set_title(sc, fontsize=10)
        ax.set_xlabel("horizon t [s]", fontsize=8)
        if use_log:
            ax.set_yscale("log")
    axes[0].set_ylabel("nRMSE", fontsize=9)
    _right_legend(fig, axes[0])
    return _titled(fig, title)


def _grouped_bars(
    ax: Any,
    groups: Sequence[str],
    models: Sequence[str],
    values: Mapping[tuple[str, str], tuple[float, float]],
) -> None:
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(groups))
    for k, m in enumerate(models):
        means = [values.get((g, m), (math.nan, 0.0))[0] for g in groups]
        errs = [values.get((g, m), (math.nan, 0.0))[1] for g in groups]
        ax.bar(
            x + (k - (len(models) - 1) / 2) * width,
            means,
            width * 0.92,
            yerr=errs if any(e > 0 for e in errs) else None,
            capsize=2,
            color=model_color(m, models),
            label=m,
            error_kw={"lw": 0.8},
        )
    ax.set_xticks(x, list(groups))


def plot_vpt(
    agg: pd.DataFrame,
    *,
    scenarios: Sequence[str],
    models: Sequence[str],
    title: str = "",
) -> Figure:
    """Valid prediction time bars (mean ± std over seeds) per scenario and model.

    Args:
        agg: aggregated rows of one system with columns ``model, scenario, metric, mean, std``
            (rows with ``metric == "vpt"`` are used).
        scenarios: group order. models: bar order.
        title: figure title.
    """
    d = agg[agg["metric"] == "vpt"]
    vals = {(r.scenario, r.model): (r.mean, r.std) for r in d.itertuples()}
    scenarios = [s for s in scenarios if any(k[0] == s for k in vals)]
    models = [m for m in models if any(k[1] == m for k in vals)]
    fig = _figure(min(1.6 * len(scenarios) + 3.0, 10.0), 3.0)
    ax = fig.subplots()
    _style(ax)
    _grouped_bars(ax, scenarios, models, vals)
    ax.set_ylabel("valid prediction time [s]", fontsize=9)
    _right_legend(fig, ax)
    return _titled(fig, title, ax)


def plot_ood_ratio(
    ratios: pd.DataFrame,
    *,
    systems: Sequence[str],
    scenarios: Sequence[str],
    models: Sequence[str],
) -> Figure:
    """OOD/ID nRMSE ratio per model, one panel per system (1 = no degradation).

    Args:
        ratios: rows with columns ``system, model, scenario, ratio``.
        systems: panel order. scenarios: group order (non-ID only). models: bar order.
    """
    systems = [s for s in systems if s in set(ratios["system"])]
    n = max(len(systems), 1)
    fig = _figure(min(4.2 * n + 0.6, 12.0), 3.0)
    axes = fig.subplots(1, n, squeeze=False)[0]
    positive = ratios["ratio"][np.isfinite(ratios["ratio"])]
    use_log = bool(len(positive) and (positive > 0).all() and positive.max() / positive.min() > 20)
    for ax, system in zip(axes, systems, strict=False):
        _style(ax)
        d = ratios[ratios["system"] == system]
        vals = {(r.scenario, r.model): (r.ratio, 0.0) for r in d.itertuples()}
        scs = [s for s in scenarios if s in set(d["scenario"])]
        ms = [m for m in models if m in set(d["model"])]
        _grouped_bars(ax, scs, ms, vals)
        ax.axhline(1.0, color="#555555", lw=0.8, ls=":")
        ax.set_title(system, fontsize=10)
        if use_log:
            ax.set_yscale("log")
    axes[0].set_ylabel("nRMSE(OOD) / nRMSE(ID)", fontsize=9)
    _right_legend(fig, axes[0])
    return fig


def plot_coefficients(
    coefficients: Mapping[str, Mapping[str, float]],
    true_coefficients: Mapping[str, Mapping[str, float]],
    *,
    std: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "",
) -> Figure:
    """Discovered against true coefficients, one horizontal bar pair per term.

    Args:
        coefficients: ``{equation: {feature: value}}`` discovered.
        true_coefficients: the same layout, ground truth.
        std: the same layout, ensemble std (drawn as error bars), or ``None``.
        title: figure title.

    Terms are those non-zero in either; the equation's left-hand side labels the group.
    """
    terms: list[tuple[str, str]] = []
    for src in (true_coefficients, coefficients):
        for eq, feats in src.items():
            for f, v in feats.items():
                if v != 0 and (eq, f) not in terms:
                    terms.append((eq, f))
    n = max(len(terms), 1)
    fig = _figure(7.5, 0.32 * n + 1.2)
    ax = fig.subplots()
    _style(ax)
    y = np.arange(len(terms))[::-1]
    disc = [coefficients.get(eq, {}).get(f, 0.0) for eq, f in terms]
    tru = [true_coefficients.get(eq, {}).get(f, 0.0) for eq, f in terms]
    err = [(std or {}).get(eq, {}).get(f, 0.0) for eq, f in terms]
    ax.barh(y + 0.2, tru, 0.38, color="#9aa5b1", label="true")
    ax.barh(
        y - 0.2, disc, 0.38, xerr=err, color="#00798c", label="discovered", error_kw={"lw": 0.8}
    )
    ax.set_yticks(y, [f"{eq.split('=')[0].strip()}: {f}" for eq, f in terms], fontsize=8)
    ax.axvline(0, color="#555555", lw=0.6)
    ax.set_xlabel("coefficient", fontsize=9)
    _right_legend(fig, ax)
    return _titled(fig, title, ax)
