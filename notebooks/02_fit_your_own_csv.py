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
# # Fitting a hybrid model to your own CSV of sensor data
#
# The quick start used data straight from a simulator, with hybridwm's own names and units.
# Real logs look different: the time is in milliseconds, the columns are called whatever the
# firmware called them, several runs are concatenated in one file, there is sensor noise and
# there are columns you do not care about.
#
# This notebook goes from such a file to a tested world model:
#
# 1. read the log with a `ColumnMapping` (time, states, actions, episode label, time unit);
# 2. inspect it and split it into training and held-out runs;
# 3. discover the equations, with smoothed differentiation because the data are noisy;
# 4. fit a purely learned and a hybrid model with the same budget;
# 5. evaluate both on runs they never saw.
#
# **Your data.** So that the notebook runs anywhere, section 0 *writes* a stand-in log: a
# MuJoCo pendulum driven by a motor, logged the way a test rig would log it. To use your own
# file, set `USER_CSV` in the settings cell to its path and edit the `ColumnMapping` in
# section 1 to name your columns; nothing else needs to change. The file must be in *long
# format*: one row per sample, one column per signal, and (if it holds several runs) one
# column labelling the run.
#
# With `HYBRIDWM_NOTEBOOK_TINY=1` all sizes shrink to a smoke test.

# %% [markdown]
# ## Settings

# %%
import os
import re
from pathlib import Path

import numpy as np
import torch

USER_CSV = None  # ← the path of YOUR log, e.g. "data/rig_2024-05-03.csv"; None: write a stand-in

TINY = os.environ.get("HYBRIDWM_NOTEBOOK_TINY") == "1"
OUT = Path(os.environ.get("HYBRIDWM_NOTEBOOK_OUT", "runs/notebooks")) / "02_fit_your_own_csv"

SEED = 0
N_RUNS = 8 if TINY else 40  # runs in the stand-in log
RUN_SECONDS = 3.0 if TINY else 8.0  # longest run of the stand-in log (s)
NOISE = 0.01  # sensor noise of the stand-in log, as a fraction of each signal's std
TEST_FRACTION = 0.25  # share of the runs held out for the final test
EVAL_SECONDS = 1.0 if TINY else 3.0  # open-loop prediction horizon of the test (s)
HIDDEN = (16, 16) if TINY else (64, 64)
EPOCHS = 2 if TINY else 300
MAX_TIME = 4.0 if TINY else 60.0  # wall-clock training budget per model (s)
HORIZON = 10 if TINY else 20

torch.set_num_threads(1)
OUT.mkdir(parents=True, exist_ok=True)
print(f"tiny={TINY}, outputs under {OUT.resolve()}")

# %%
import matplotlib.pyplot as plt
import pandas as pd

from hybridwm.data import ColumnMapping, TrajectorySet, read_trajectories
from hybridwm.evaluation import evaluate
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import get_system, simulate
from hybridwm.training import TrainConfig

# %% [markdown]
# ## 0. A stand-in for your log
#
# *Skip this section when you bring your own file.*
#
# We simulate a pendulum rig whose mass and friction differ from hybridwm's default pendulum (a
# real rig never matches the textbook), under random motor commands, and write it the way a
# data logger would:
#
# | column | meaning |
# |---|---|
# | `run_id` | which run the row belongs to (a string label) |
# | `time_ms` | time since the start of the run, in **milliseconds** |
# | `angle_rad` | encoder angle (0 = hanging), with noise |
# | `rate_rad_s` | angular rate from a gyro, with noise |
# | `motor_cmd` | commanded motor torque, held until the next sample |
# | `supply_v` | supply voltage: logged, but not part of the dynamics |
#
# The runs have different lengths, as real runs do.

# %%
RIG_PARAMS = {"mass": 1.3, "damping": 0.12}

if USER_CSV is None:
    sim = simulate(
        system="pendulum",
        scenario="train",
        n_trajectories=N_RUNS,
        duration=RUN_SECONDS,
        dt=0.01,
        seed=SEED,
        params=RIG_PARAMS,
    )
    rng = np.random.default_rng(SEED)
    state_std = np.concatenate([tr.x for tr in sim]).std(axis=0)
    frames = []
    for k, tr in enumerate(sim):
        n = int(len(tr) * rng.uniform(0.6, 1.0))  # runs of different lengths
        x = tr.x[:n] + NOISE * state_std * rng.standard_normal((n, tr.n_x))
        frames.append(
            pd.DataFrame(
                {
                    "run_id": f"run-{k:03d}",
                    "time_ms": np.round(tr.t[:n] * 1000).astype(int),
                    "angle_rad": x[:, 0],
                    "rate_rad_s": x[:, 1],
                    "motor_cmd": tr.u[:n, 0],
                    "supply_v": 24.0 - 0.05 * tr.t[:n] + 0.02 * rng.standard_normal(n),
                }
            )
        )
    csv_path = OUT / "rig_log.csv"
    pd.concat(frames, ignore_index=True).to_csv(csv_path, index=False, float_format="%.6g")
else:
    csv_path = Path(USER_CSV)

print(csv_path)
print("".join(csv_path.open().readlines()[:6]))

# %% [markdown]
# ## 1. Read the log with a column mapping
#
# A `ColumnMapping` says which column plays which role. Everything the mapping does not name
# (here `supply_v`) is ignored.
#
# * `time`: the time column, and `time_scale` the factor from its unit to seconds (0.001 for
#   milliseconds). Times are per run; they need not start at 0.
# * `states`: the measured state columns, in the order the model should use.
# * `actions`: the inputs you command (may be empty for an unforced system). Each action value
#   is taken to be held until the next row (zero-order hold), which is what a digital
#   controller does.
# * `episode`: the column labelling runs (leave it out if the file is one run).
# * optionally `state_names` / `action_names` to rename the columns; here we keep the rig's
#   names, and the equations below will be written in them.
#
# **Edit this cell for your file.**

# %%
mapping = ColumnMapping(
    time="time_ms",
    time_scale=0.001,  # milliseconds -> seconds
    states=["angle_rad", "rate_rad_s"],
    actions=["motor_cmd"],
    episode="run_id",
)
data = read_trajectories(csv_path, columns=mapping)
print(data)

# %% [markdown]
# The same mapping can live in a small TOML file next to the data, which is also what the
# command line takes (`hybridwm discover --data rig_log.csv --columns mapping.toml ...`):

# %%
mapping_toml = OUT / "mapping.toml"
mapping_toml.write_text(
    'time = "time_ms"\n'
    "time_scale = 0.001\n"
    'episode = "run_id"\n'
    'states = ["angle_rad", "rate_rad_s"]\n'
    'actions = ["motor_cmd"]\n'
)
assert ColumnMapping.from_file(mapping_toml) == mapping
print(mapping_toml.read_text())

# %% [markdown]
# ### Look before you fit
#
# `summary()` gives per-column statistics and counts missing values. Check the ranges: a state
# that never moves, an action that is always zero, or a unit mistake (degrees instead of
# radians) shows here. If your log has gaps (NaN), read it with `allow_nan=True` and clean it
# with `data.interpolate()` or `data.dropna()`; if the sampling is irregular, `data.resample(dt)`
# puts it on a uniform grid.

# %%
data.summary()

# %%
lengths = data.lengths
dts = np.concatenate([tr.dt for tr in data])
print(f"{len(data)} runs, {lengths.min()}..{lengths.max()} samples each, {data.n_samples} in all")
print(
    f"sample interval: {np.median(dts) * 1000:.3g} ms (min {dts.min() * 1000:.3g}, max {dts.max() * 1000:.3g})"
)
print("labels:", [tr.meta["episode"] for tr in data[:3]], "...")

# %% [markdown]
# ### Hold runs out, by run
#
# Split by *run*, never by row: neighbouring samples of one run are nearly identical, so a
# row-wise split would test the model on what it has already seen. The split is seeded, so it
# is the same every time. The training part is split again inside `fit` for validation.

# %%
train, test = data.split((1 - TEST_FRACTION, TEST_FRACTION), seed=SEED)
print(f"train: {len(train)} runs, test: {len(test)} runs")
print("test runs:", [tr.meta["episode"] for tr in test])

# %% [markdown]
# ## 2. Discover the equations from noisy data
#
# SINDy needs the time derivative of the states, and differentiating noise amplifies it: a
# central difference of a signal with noise `σ` sampled at `Δt` has noise of about `σ/Δt`. A
# Savitzky–Golay filter (a local polynomial fit over a window of samples) smooths before
# differentiating; hybridwm smooths the action regressor with the same filter, so that the
# two stay aligned.
#
# The library is a physical hypothesis: `"trig"` offers `sin` and `cos` of the angle, the rate
# linearly, a constant and the motor command, the form of a rigid pendulum with viscous
# friction. Start small like this and enlarge the library only when the fit says so; a big
# library on noisy data finds many small, mutually cancelling terms (for example, `1`,
# `cos(angle)` and `sin(angle)^2` are nearly collinear for small angles).
#
# Compare plain central differences with the smoothed ones:

# %%
settings = {
    "central differences": DiscoverConfig(library="trig", angles=("angle_rad",), threshold=0.1),
    "Savitzky-Golay (window 21, order 5)": DiscoverConfig(
        library="trig",
        angles=("angle_rad",),
        threshold=0.1,
        differentiation="smoothed_finite_difference",
        window=21,
        polyorder=5,
    ),
}
candidates = {name: discover(train, config=cfg) for name, cfg in settings.items()}
for name, phys in candidates.items():
    print(f"--- {name}: {phys.n_terms} terms, derivative R² on test runs {phys.score(test):.4f}")
    print("\n".join(phys.equations()))

# %% [markdown]
# The R² above compares the equations with derivatives estimated from the *test* runs by each
# model's own differentiation, so it carries the noise too; look at the terms as well. With
# plenty of data at low noise both methods find the same terms; with fewer or noisier runs
# (try the tiny settings, or `NOISE = 0.03`) central differences start to pick up small
# spurious terms such as a constant offset, and every spurious term is one more way to
# extrapolate wrongly. We keep the smoothed model.
#
# Because this stand-in log came from a simulator, we can peek at the answer. With your own
# rig you cannot; the held-out rollouts in section 4 are then your check.

# %%
physics = candidates["Savitzky-Golay (window 21, order 5)"]
physics.save(OUT / "physics.json")
if USER_CSV is None:
    truth = get_system("pendulum").true_equations(parameters=RIG_PARAMS)
    rig_names = {"theta": "angle_rad", "omega": "rate_rad_s", "torque": "motor_cmd"}

    def in_rig_names(text: str) -> str:
        return re.sub(r"\w+", lambda m: rig_names.get(m.group(), m.group()), text)

    renamed = {
        rig_names[state]: {in_rig_names(f): c for f, c in row.items()}
        for state, row in truth.coefficients.items()
    }
    print(physics.compare(renamed).round(4))

# %% [markdown]
# ## 3. Fit a learned and a hybrid model
#
# Both models get the same training runs, the same network size and the same wall-clock budget.
#
# * **learned**: a neural ODE, `d/dt [angle, rate] = f_nn(angle, rate, cmd)`, knowing nothing
#   of physics;
# * **hybrid**: the discovered equations plus a learned residual, `f_phys + f_nn`, where a
#   PINN-style loss keeps the residual small away from the data.
#
# As a baseline that needs no training we add the equations alone (**physics**).

# %%
config = TrainConfig(epochs=EPOCHS, max_time=MAX_TIME, horizon=HORIZON, seed=SEED, progress=False)
models = {
    "learned": WorldModel.learned(hidden=HIDDEN),
    "physics": WorldModel.physics(physics),
    "hybrid": WorldModel.hybrid(physics=physics, hidden=HIDDEN),
}
for name, model in models.items():
    model.fit(train, config=config)
    h = model.history_
    print(
        f"{name:>8}: {len(h) - 1} epochs ({h.stop_reason}), best validation nRMSE {h.best_score:.4g}"
    )
    model.save(OUT / f"model-{name}")

# %% [markdown]
# ## 4. Test on held-out runs
#
# `predict(data)` rolls a model out open loop over every run, from the first recorded state,
# under the recorded commands; runs may have different lengths. Here is a whole test run:

# %%
run = test[:1]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharex=True)
for j, name in enumerate(data.state_names):
    axes[j].plot(run[0].t, run[0].x[:, j], "k", lw=2, alpha=0.7, label="log")
    for mname, model in models.items():
        axes[j].plot(run[0].t, model.predict(run)[0].x[:, j], ls="--", label=mname)
    axes[j].set(xlabel="t [s]", ylabel=name)
axes[0].legend()
fig.suptitle(f"open-loop prediction of test run {run[0].meta['episode']}")
fig.tight_layout()
plt.show()

# %% [markdown]
# For numbers, we cut every test run into segments of `EVAL_SECONDS` and predict each segment
# open loop from its first sample: this scores the model at the horizon you care about (for
# model-predictive control, your planning horizon) and uses every test sample. `evaluate` needs
# segments on one shared time grid, which this gives.


# %%
def segments(ts: TrajectorySet, seconds: float) -> TrajectorySet:
    """Non-overlapping pieces of ``seconds`` of every run (the remainder of a run is dropped)."""
    pieces = []
    for tr in ts:
        n = round(float(seconds / np.median(tr.dt))) + 1
        pieces += [tr.slice(s, s + n) for s in range(0, len(tr) - n + 1, n - 1)]
    return TrajectorySet(pieces)


test_segments = segments(test, EVAL_SECONDS)
print(f"{len(test_segments)} test segments of {EVAL_SECONDS} s")
scale = np.concatenate([tr.x for tr in train]).std(axis=0)  # one error scale for all models
evaluations = {name: evaluate(m, test_segments, scale=scale) for name, m in models.items()}
table = pd.DataFrame({name: ev.metrics for name, ev in evaluations.items()}).T
table[["nrmse", "vpt", "diverged"]]

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, ev in evaluations.items():
    ax.plot(ev.t[1:], ev.curve[1:], label=name)  # t = 0 has no error: left out of the log plot
ax.set(xlabel="prediction horizon [s]", ylabel="nRMSE", yscale="log", title="test error vs horizon")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The noise floor: the logged states carry `NOISE` of sensor noise, so even a perfect model
# shows an nRMSE of about that size against the log. A model at the floor over the whole
# horizon cannot be told apart from the truth with these data.

# %%
best = table["nrmse"].idxmin()
print(f"lowest test nRMSE at {EVAL_SECONDS} s: {best} ({table.loc[best, 'nrmse']:.4f})")
for name in table.index:
    print(
        f"{name:>8}: nRMSE {table.loc[name, 'nrmse']:.4f} = {table.loc[name, 'nrmse'] / NOISE:.1f}× the noise level"
    )

# %% [markdown]
# ## What you have now
#
# Under `OUT` you find `rig_log.csv` (the stand-in log), `mapping.toml`, `physics.json` (the
# equations) and one run directory per model. `WorldModel.load(OUT / "model-hybrid")` gives the
# hybrid model back, ready for `rollout(x0, us, t)` or `step(x, u, dt)` in a controller.
#
# For your own rig:
#
# * keep runs with rich excitation (the commands should move every state through its range);
# * hold out whole runs, and if you can, runs under conditions you did not train on (another
#   payload, another speed): that is where hybrid and learned models differ most, see
#   `03_ood_comparison.py`;
# * if SINDy finds many small terms, raise `threshold`, shrink the library, or increase the
#   smoothing `window`; `DiscoverConfig(ensemble=20)` bags the fit over runs and reports how
#   often each term is selected (`physics.inclusion_probability`).
