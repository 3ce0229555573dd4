# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Pure-learned vs physics-constrained rollouts out of distribution
#
# A neural network trained on trajectories learns the dynamics *where the trajectories went*.
# Asked about states, inputs or physical parameters it never saw, it extrapolates, and nothing
# in its training says how. Equations recovered from the same data carry structure (a
# `sin(theta)` keeps behaving like a sine beyond the data), but they are only as right as the
# library they were picked from. A hybrid model adds a learned residual to the equations; the
# question is what that residual does off the data.
#
# This notebook puts four models side by side, trained on **the same data, with the same
# network size, the same seed and the same training budget**:
#
# | model | dynamics | training |
# |---|---|---|
# | `learned` | `f_nn(x, u)` | rollout loss |
# | `physics` | `f_phys(x, u)` from SINDy | none (the equations as discovered) |
# | `hybrid` | `f_phys + f_nn` | rollout loss + PINN residual loss (default `pinn_weight = 1e-3`) |
# | `hybrid-no-pinn` | `f_phys + f_nn` | rollout loss only (`pinn_weight = 0`): an ablation |
#
# and evaluates them on four scenarios: `id` (new draws from the training distribution),
# `ood-state` (initial states outside the training box), `ood-action` (faster, larger inputs)
# and `ood-params` (the physical parameters changed).
#
# The conclusions at the end are **computed from the numbers of this run**, not written in
# advance: change the system, the budget or the seed and they change with them. With
# `HYBRIDWM_NOTEBOOK_TINY=1` every size shrinks to a smoke test and the numbers mean nothing.

# %% [markdown]
# ## Settings

# %%
import os
from pathlib import Path

import numpy as np
import torch

TINY = os.environ.get("HYBRIDWM_NOTEBOOK_TINY") == "1"
OUT = Path(os.environ.get("HYBRIDWM_NOTEBOOK_OUT", "runs/notebooks")) / "03_ood_comparison"

SYSTEM = "pendulum"  # also try "cartpole": its equations are rational in cos(theta)
SCENARIOS = ("id", "ood-state", "ood-action", "ood-params")
SEED = 0
N_TRAIN = 6 if TINY else 32  # training episodes (shared by every model)
N_EVAL = 3 if TINY else 16  # episodes per evaluation scenario
DURATION = 2.0 if TINY else 5.0  # seconds per training episode
EVAL_DURATION = 1.0 if TINY else 3.0  # open-loop prediction horizon (s)
DT = 0.01
HIDDEN = (16, 16) if TINY else (64, 64)  # the same network for the learned model and residuals
EPOCHS = 2 if TINY else 400
MAX_TIME = 3.0 if TINY else 75.0  # wall-clock training budget per model (s)
HORIZON = 10 if TINY else 20
TIE = 0.10  # relative nRMSE difference below which two models count as tied

torch.set_num_threads(1)
OUT.mkdir(parents=True, exist_ok=True)
print(f"tiny={TINY}, system={SYSTEM}, outputs under {OUT.resolve()}")

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd

from hybridwm.evaluation import evaluate, load_preset
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import get_scenario, get_system, simulate
from hybridwm.training import TrainConfig

# %% [markdown]
# ## 1. Data: one training set, four test scenarios
#
# A scenario is data, not code: a box of initial states, an action policy and parameter
# changes, declared in a TOML file shipped with each system.

# %%
system = get_system(SYSTEM)
print(system)
for name in ("train", *SCENARIOS):
    print(f"{name:>11}: {get_scenario(SYSTEM, name).description}")

# %%
train = simulate(
    system=SYSTEM, scenario="train", n_trajectories=N_TRAIN, duration=DURATION, dt=DT, seed=SEED
)
tests = {
    sc: simulate(
        system=SYSTEM,
        scenario=sc,
        n_trajectories=N_EVAL,
        duration=EVAL_DURATION,
        dt=DT,
        seed=SEED,
    )
    for sc in SCENARIOS
}
print(train)

# %% [markdown]
# How far out are the test scenarios? For each state and action, the range of the training
# data against the range of each scenario:

# %%
rows = []
for name, ts in {"train": train, **tests}.items():
    s = ts.summary()
    rows.append(
        {
            "scenario": name,
            **{f"{c} range": f"[{s.loc[c, 'min']:.2f}, {s.loc[c, 'max']:.2f}]" for c in s.index},
        }
    )
pd.DataFrame(rows).set_index("scenario")

# %% [markdown]
# ## 2. The physics
#
# We discover the equations with the same settings the `quick` benchmark preset uses for this
# system (for the pendulum: the `trig-poly` library; for the cartpole, mechanics terms over a
# denominator `1 + d1 cos(theta) + d2 cos(theta)^2` learned from the data, because its
# accelerations are rational in `cos(theta)`).
#
# The derivative R² of the equations on each scenario already says where the physics can be
# trusted. The `ood-params` system has other masses and lengths, so *any* model fitted to the
# training system, with or without physics, has the wrong constants there.

# %%
discover_settings = load_preset("quick").discover.get(SYSTEM, {})
physics = discover(train, config=DiscoverConfig.from_dict(dict(discover_settings)))
print("\n".join(physics.equations()))
print()
print("derivative R²:", {sc: round(physics.score(ts), 4) for sc, ts in tests.items()})

# %% [markdown]
# ## 3. Four models, one budget
#
# Every model gets the same `TrainConfig`: the same epochs *and* the same wall-clock cap, so
# that a slower model cannot win by computing longer. The only difference of the ablation is
# `pinn_weight=0`: without the PINN loss, nothing ties the residual to the physics away from
# the training states.

# %%
config = TrainConfig(epochs=EPOCHS, max_time=MAX_TIME, horizon=HORIZON, seed=SEED, progress=False)
specs = {
    "learned": (WorldModel.learned(hidden=HIDDEN), config),
    "physics": (WorldModel.physics(physics), config),
    "hybrid": (WorldModel.hybrid(physics=physics, hidden=HIDDEN), config),
    "hybrid-no-pinn": (
        WorldModel.hybrid(physics=physics, hidden=HIDDEN),
        config.replace(pinn_weight=0.0),
    ),
}
models, fit_seconds = {}, {}
for name, (model, cfg) in specs.items():
    start = time.perf_counter()
    models[name] = model.fit(train, config=cfg)
    fit_seconds[name] = time.perf_counter() - start
    h = model.history_
    print(
        f"{name:>15}: {fit_seconds[name]:6.1f} s, {len(h) - 1} epochs ({h.stop_reason}), "
        f"best validation nRMSE {h.best_score:.4g}"
    )
    model.save(OUT / SYSTEM / name)

# %% [markdown]
# ## 4. Evaluation
#
# Each model predicts every test episode open loop from its first state under the recorded
# actions, for `EVAL_DURATION` seconds. `nrmse` normalizes the error of each state by its
# standard deviation in that scenario; `inf` means at least one rollout diverged (the table of
# diverged episodes says how many). `vpt` is the valid prediction time: how long the normalized
# error stays below 0.1.

# %%
evaluations = {(m, sc): evaluate(models[m], ts) for m in models for sc, ts in tests.items()}
records = [{"model": m, "scenario": sc, **ev.metrics} for (m, sc), ev in evaluations.items()]
results = pd.DataFrame(records)
results.to_csv(OUT / f"{SYSTEM}-results.csv", index=False)
nrmse_table = results.pivot(index="model", columns="scenario", values="nrmse").loc[
    list(models), list(SCENARIOS)
]
nrmse_table.style.format("{:.4f}").highlight_min(axis=0, props="font-weight: bold")

# %%
vpt_table = results.pivot(index="model", columns="scenario", values="vpt").loc[
    list(models), list(SCENARIOS)
]
diverged_table = results.pivot(index="model", columns="scenario", values="diverged").loc[
    list(models), list(SCENARIOS)
]
print(f"valid prediction time [s] (of {EVAL_DURATION} s):")
print(vpt_table.round(2).to_string())
print("\ndiverged episodes (of", N_EVAL, "):")
print(diverged_table.astype(int).to_string())

# %%
colors = dict(zip(models, ["tab:red", "tab:green", "tab:blue", "tab:purple"], strict=True))
styles = dict(zip(models, ["-", "-", "--", ":"], strict=True))  # overlapping lines stay visible
fig, ax = plt.subplots(figsize=(8, 3.8))
width = 0.8 / len(models)
finite = nrmse_table.replace(np.inf, np.nan)
top = float(np.nanmax(finite.to_numpy())) * 3 if np.isfinite(finite.to_numpy()).any() else 1.0
for i, m in enumerate(models):
    vals = nrmse_table.loc[m].to_numpy(dtype=float)
    ax.bar(
        np.arange(len(SCENARIOS)) + i * width,
        np.where(np.isfinite(vals), vals, top),
        width,
        color=colors[m],
        label=m,
    )
    for j, v in enumerate(vals):
        if not np.isfinite(v):
            ax.text(j + i * width, top, "div.", ha="center", va="bottom", fontsize=8)
ax.set_xticks(np.arange(len(SCENARIOS)) + 0.4 - width / 2, SCENARIOS)
ax.set(
    yscale="log", ylabel="nRMSE (log)", title=f"{SYSTEM}: open-loop error over {EVAL_DURATION} s"
)
ax.set_ylim(top=ax.get_ylim()[1] * 30)  # room for the legend
ax.legend(ncols=4, fontsize=8, loc="upper center")
fig.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(3.2 * len(SCENARIOS), 3.2), sharey=True)
for ax, sc in zip(np.atleast_1d(axes), SCENARIOS, strict=True):
    for m in models:
        ev = evaluations[(m, sc)]
        ax.plot(ev.t[1:], ev.curve[1:], color=colors[m], ls=styles[m], label=m)
    ax.set(title=sc, xlabel="horizon [s]", yscale="log")
np.atleast_1d(axes)[0].set_ylabel("nRMSE")
np.atleast_1d(axes)[0].legend(fontsize=8)
fig.suptitle("error vs prediction horizon")
fig.tight_layout()
plt.show()

# %% [markdown]
# One `ood-state` episode, first state, every model:

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
ev0 = evaluations[("learned", "ood-state")]
ax.plot(ev0.times[0], ev0.truth[0][:, 0], "k", lw=2.5, alpha=0.6, label="MuJoCo")
for m in models:
    pred = evaluations[(m, "ood-state")].pred[0][:, 0]
    ax.plot(
        ev0.times[0],
        np.where(np.abs(pred) < 1e3, pred, np.nan),
        color=colors[m],
        ls=styles[m],
        label=m,
    )
ax.set(xlabel="t [s]", ylabel=ev0.state_names[0], title="ood-state, episode 0")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. What the numbers say
#
# The statements below are generated from the table above. Two models whose nRMSE differs by
# less than `TIE` (relative) count as tied.


# %%
def compare(a: str, b: str, sc: str) -> str:
    """One sentence comparing models a and b on scenario sc."""
    ea, eb = nrmse_table.loc[a, sc], nrmse_table.loc[b, sc]
    da, db = diverged_table.loc[a, sc], diverged_table.loc[b, sc]
    if not np.isfinite(ea) or not np.isfinite(eb):
        if np.isfinite(ea):
            return f"{a} stays finite while {b} diverges on {int(db)} episode(s)"
        if np.isfinite(eb):
            return f"{b} stays finite while {a} diverges on {int(da)} episode(s)"
        return f"both {a} and {b} diverge on some episodes"
    if abs(ea - eb) <= TIE * max(ea, eb):
        return f"{a} and {b} are tied (nRMSE {ea:.3g} vs {eb:.3g})"
    better, worse = (a, b) if ea < eb else (b, a)
    ratio = max(ea, eb) / min(ea, eb)
    return f"{better} beats {worse} {ratio:.1f}× (nRMSE {min(ea, eb):.3g} vs {max(ea, eb):.3g})"


def winners(sc: str) -> list[str]:
    col = nrmse_table[sc]
    best = col.min()
    if not np.isfinite(best):
        return []
    return [m for m in col.index if col[m] <= best * (1 + TIE)]


lines = []
for sc in SCENARIOS:
    w = winners(sc)
    lines.append(f"**{sc}**: best {', '.join(w) if w else '(every model diverged)'}.")
    lines.append(f"  - learned vs hybrid: {compare('learned', 'hybrid', sc)}.")
    lines.append(f"  - physics vs hybrid: {compare('physics', 'hybrid', sc)}.")
    lines.append(f"  - PINN loss: {compare('hybrid', 'hybrid-no-pinn', sc)}.")

ood = [s for s in SCENARIOS if s.startswith("ood")]
if ood:
    worst_case = nrmse_table[ood].max(axis=1)  # each model's worst OOD scenario
    listing = ", ".join(f"{m} {worst_case[m]:.3g}" for m in worst_case.index)
    if np.isfinite(worst_case.min()):
        robust = [m for m in worst_case.index if worst_case[m] <= worst_case.min() * (1 + TIE)]
        verdict = f"smallest worst case: {', '.join(robust)}"
    else:
        verdict = "every model diverges somewhere out of distribution"
    lines.append(f"**Worst nRMSE over the OOD scenarios**: {listing}; {verdict}.")
    with np.errstate(divide="ignore"):
        typical = np.exp(np.log(nrmse_table[ood]).mean(axis=1))  # geometric mean
    order = typical.sort_values()
    lines.append(
        "**Typical OOD error** (geometric mean of nRMSE over the OOD scenarios), best first: "
        + ", ".join(f"{m} {v:.3g}" for m, v in order.items())
        + "."
    )
summary = "\n".join(lines)
print(summary)

# %% [markdown]
# ### How to read this
#
# * **In distribution**, every trained model has seen states like these; the learned model
#   can be competitive, and the physics alone is limited by how complete its equations are.
# * **`ood-state` and `ood-action`** probe extrapolation in state and input. The learned model
#   has no reason to be right there; a hybrid model is right to the extent that its physics is
#   and its residual stays small off the data.
# * **The PINN loss** (compare `hybrid` with `hybrid-no-pinn`) ties the model's vector field to
#   the recovered equations at collocation points far from the data. That is a trade-off, not a
#   free gain: it guards against a residual that invents corrections where it has never seen
#   data, and it also pulls the model toward the equations' own errors. When the equations are
#   nearly exact (the pendulum with noise-free data), the rollout loss alone may fit better;
#   when the residual has real work to do (an incomplete library, noisy data),
#   the guard matters more. The numbers above say which effect won in this run.
# * **`ood-params`** changes the system itself. No model trained on the old system knows the new
#   constants; structure helps only in that the errors grow smoothly. Closing this gap needs
#   data from the new system: `model.adapt(calibration)` re-fits the physics coefficients of a
#   physics or hybrid model (or every weight of a learned one) on a few new runs.
#
# Caveats: one seed, one budget, one system. For a claim you want to publish, run the grid over
# several seeds: `hybridwm benchmark --preset quick` (or `hybridwm.evaluation.benchmark`) does
# exactly this comparison for several systems and seeds, caches every step in a run directory,
# and `hybridwm report` renders it as HTML and Markdown.
