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
# # Quick start: a hybrid world model of a pendulum
#
# A *world model* answers one question: given the state of a system now and the action applied
# to it, what is the state a moment later? Chained, such steps predict whole trajectories, which
# is what a model-predictive controller, a planner or a model-based RL agent needs.
#
# hybridwm builds world models in three layers:
#
# 1. **physics recovered from data**: SINDy (sparse regression over a library of candidate
#    terms) finds readable equations `dx/dt = f_phys(x, u)` from recorded trajectories;
# 2. **a learned residual**: a small neural network `f_nn(x, u)` is added to the recovered
#    equations and trained through an ODE solver on multi-step rollouts, so that it picks up
#    whatever the equations miss;
# 3. **ground truth to check against**: every model is scored against MuJoCo simulations, both
#    in the distribution it was trained on and outside it.
#
# This notebook walks the whole path on the simplest system there is, a torque-driven pendulum:
# simulate → discover the equations → fit a hybrid model → roll it out → evaluate → save and
# reload. It takes about a minute or two on a laptop CPU with the default settings.
#
# **Running it fast.** With the environment variable `HYBRIDWM_NOTEBOOK_TINY=1` every size below
# shrinks to a smoke test (that is how the test suite runs this notebook). The numbers are then
# meaningless, but every cell runs.

# %% [markdown]
# ## Settings
#
# Every size and budget lives in this one cell. Change them here, not further down.

# %%
import os
from pathlib import Path

import numpy as np
import torch

TINY = os.environ.get("HYBRIDWM_NOTEBOOK_TINY") == "1"
OUT = Path(os.environ.get("HYBRIDWM_NOTEBOOK_OUT", "runs/notebooks")) / "01_quickstart_pendulum"

SEED = 0
N_TRAIN = 8 if TINY else 32  # training episodes
N_EVAL = 4 if TINY else 16  # episodes per evaluation scenario
DURATION = 2.0 if TINY else 5.0  # seconds per training episode
EVAL_DURATION = 2.0 if TINY else 3.0  # seconds of open-loop prediction per evaluation episode
DT = 0.01  # sample and control period (s)
HIDDEN = (16, 16) if TINY else (64, 64)  # hidden widths of the residual network
EPOCHS = 2 if TINY else 300
MAX_TIME = 5.0 if TINY else 60.0  # wall-clock training budget (s)
HORIZON = 10 if TINY else 20  # rollout steps per training window

# Small CPU jobs run fastest on one thread (several threads contend for the cores).
torch.set_num_threads(1)
OUT.mkdir(parents=True, exist_ok=True)
print(f"tiny={TINY}, outputs under {OUT.resolve()}")

# %%
import matplotlib.pyplot as plt

from hybridwm.evaluation import evaluate
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, PhysicsModel, discover
from hybridwm.systems import get_scenario, get_system, list_scenarios, simulate
from hybridwm.training import TrainConfig

# %% [markdown]
# ## 1. The ground truth: a MuJoCo pendulum
#
# A `System` wraps a MuJoCo model (an MJCF file shipped with hybridwm) with named states,
# actions and physical parameters. For the pendulum the state is the angle `theta` (0 hangs
# down) and the angular velocity `omega`; the action is a motor `torque`.

# %%
pendulum = get_system("pendulum")
print(pendulum)
print("parameters:", pendulum.parameters)
print("action bounds:", pendulum.action_bounds.tolist())

# %% [markdown]
# A **scenario** is a distribution of initial states, action signals and physical parameters.
# `train` and `id` (in-distribution) are the same distribution with different random draws;
# the `ood-*` scenarios step outside it on purpose. Here we use `ood-state`: the pendulum starts
# near the upright position, a part of the state space the training data never visits.

# %%
for name in list_scenarios("pendulum"):
    print(f"{name:>11}: {get_scenario('pendulum', name).description}")

# %% [markdown]
# `simulate` runs a batch of episodes through `mujoco.rollout` and returns a `TrajectorySet`:
# a list of episodes, each with times `t`, states `x`, actions `u` and metadata. Actions are
# held constant between samples (zero-order hold), like a real motor command. The seed fixes
# the initial states and the random torques, so every run of this notebook sees the same data.

# %%
train = simulate(
    system="pendulum", scenario="train", n_trajectories=N_TRAIN, duration=DURATION, dt=DT, seed=SEED
)
test_id = simulate(
    system="pendulum",
    scenario="id",
    n_trajectories=N_EVAL,
    duration=EVAL_DURATION,
    dt=DT,
    seed=SEED,
)
test_ood = simulate(
    system="pendulum",
    scenario="ood-state",
    n_trajectories=N_EVAL,
    duration=EVAL_DURATION,
    dt=DT,
    seed=SEED,
)
print(train)
train.summary()

# %% [markdown]
# The phase portrait shows what "out of distribution" means here: the training episodes
# (blue) stay in a band around the hanging position, the `ood-state` episodes (red) start near
# `theta = ±π` and swing over regions no training sample covers.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for i, tr in enumerate(train):
    axes[0].plot(tr.t, tr.state("theta"), color="tab:blue", alpha=0.5, lw=1)
    axes[1].plot(
        tr.state("theta"),
        tr.state("omega"),
        color="tab:blue",
        alpha=0.4,
        lw=1,
        label="train" if i == 0 else None,
    )
for i, tr in enumerate(test_ood):
    axes[1].plot(
        tr.state("theta"),
        tr.state("omega"),
        color="tab:red",
        alpha=0.6,
        lw=1,
        label="ood-state" if i == 0 else None,
    )
axes[0].set(xlabel="t [s]", ylabel="theta [rad]", title="training episodes")
axes[1].set(xlabel="theta [rad]", ylabel="omega [rad/s]", title="phase portrait")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Discover the equations with SINDy
#
# SINDy estimates `dx/dt` from the samples and regresses it on a *library* of candidate
# features, keeping only the terms whose coefficients survive a sparsity threshold. The
# `"trig-poly"` library offers 16 candidates for each equation: `1, sin(theta), cos(theta),
# sin(theta)^2, sin(theta)*cos(theta)`, each times `1, omega, omega^2`, plus the torque entering
# linearly. The true equations use three of them (`omega`, `sin(theta)`, `torque`), so the
# threshold has real pruning to do.
#
# Two details matter for controlled systems and are handled by `discover`: the torque is held
# over each sample interval, so the torque regressor is averaged exactly as the finite
# difference averages the derivative (without this alignment the torque gain comes out several
# percent low), and the controls never pass through the trigonometric features (no `sin(torque)`).

# %%
physics = discover(
    train, config=DiscoverConfig(library="trig-poly", angles=("theta",), threshold=0.1)
)
print("\n".join(physics.equations()))

# %% [markdown]
# For a simulated system we know the answer. `true_equations()` derives the equations of motion
# from the compiled MuJoCo model itself (mass, length, damping, armature, gear and gravity), and
# `PhysicsModel.compare` lines the coefficients up term by term. A `true` value of 0 marks a
# spurious term that SINDy kept but the physics does not have.

# %%
truth = pendulum.true_equations()
print(truth)
comparison = physics.compare(truth.coefficients)
comparison.round(5)

# %%
real_terms = comparison[comparison["true"] != 0]
spurious = comparison[(comparison["true"] == 0) & (comparison["found"] != 0)]
print(f"largest relative error of a true coefficient: {real_terms['rel_error'].max():.2%}")
print(f"spurious terms: {len(spurious)}")
print(f"R² of the derivatives on held-out id data: {physics.score(test_id):.5f}")

# %% [markdown]
# The equations are plain data: `to_json()` stores features and coefficients (no pickles), and
# `to_latex()` gives them in a form you can paste into a paper.

# %%
physics.save(OUT / "physics.json")
print(physics.to_latex())
assert PhysicsModel.load(OUT / "physics.json").equations() == physics.equations()

# %% [markdown]
# ## 3. A hybrid world model
#
# `WorldModel.hybrid` integrates `dx/dt = f_phys(x, u) + f_nn(x, u)` with a fixed-step RK4
# solver on the sample grid. The network's output layer starts small, so training starts from
# the recovered physics and only learns a correction. `fit` cuts the episodes into windows of
# `horizon` steps, rolls the model out over each window and minimizes three weighted terms,
# logged separately:
#
# * `rollout`: multi-step prediction error (normalized per state);
# * `pinn`: the mismatch between the model's vector field and the recovered physics at random
#   *collocation points*, sampled from a box 1.5× larger than the training data, so the
#   residual is kept small also where there are no data;
# * `residual`: a small penalty on the size of `f_nn` on the training states.
#
# A fifth of the episodes is held out for validation (seeded split); the weights with the best
# validation error are kept. `max_time` caps the wall-clock time, which is the fair way to
# compare models of different cost.

# %%
model = WorldModel.hybrid(physics=physics, hidden=HIDDEN)
config = TrainConfig(
    epochs=EPOCHS,
    max_time=MAX_TIME,
    horizon=HORIZON,
    seed=SEED,
    progress=False,
)
model.fit(train, config=config)
history = model.history_
print(model)
print(
    f"stopped after {len(history) - 1} epochs ({history.stop_reason}); "
    f"best epoch {history.best_epoch}, validation nRMSE {history.best_score:.4g}"
)

# %%
epochs = history["epoch"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for part in ("train_rollout", "train_pinn", "train_residual"):
    ep = [e for e, v in zip(epochs, history[part], strict=True) if v is not None]
    vals = [v for v in history[part] if v is not None]
    ax.semilogy(ep, vals, label=part)
val = [(e, v) for e, v in zip(epochs, history["val_nrmse"], strict=True) if v is not None]
ax.semilogy(*zip(*val, strict=True), "k--", label="val_nrmse")
ax.set(xlabel="epoch", title="training losses")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Roll it out
#
# `rollout(x0, us, t)` is the raw interface: a batch of initial states `(batch, n_x)`, the
# actions `(batch, T, n_u)` (action `k` acts on `[t_k, t_{k+1})`) and the `T+1` sample times. It
# predicts open loop: the model never sees the recorded states after the first one. Here we
# replay the recorded torques of one `ood-state` episode.

# %%
episode = test_ood[0]
pred = model.rollout(episode.x[:1], episode.u[None, :-1], episode.t)[0]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharex=True)
for ax, j, name in zip(axes, range(2), train.state_names, strict=True):
    ax.plot(episode.t, episode.x[:, j], "k", lw=2, label="MuJoCo")
    ax.plot(episode.t, pred[:, j], "tab:orange", ls="--", label="hybrid")
    ax.set(xlabel="t [s]", ylabel=name)
axes[0].legend()
fig.suptitle("open-loop prediction of an ood-state episode")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Evaluate in and out of distribution
#
# `evaluate` does this for every episode of a scenario and scores it: `nrmse` is the root mean
# squared error divided by each state's standard deviation (so 1.0 is as bad as predicting the
# mean), `vpt` is the *valid prediction time*, the mean time until the normalized error first
# exceeds 0.1, and `curve` gives the error as a function of the prediction horizon.

# %%
results = {"id": evaluate(model, test_id), "ood-state": evaluate(model, test_ood)}
for name, ev in results.items():
    m = ev.metrics
    print(
        f"{name:>9}: nRMSE {m['nrmse']:.4f}, valid prediction time {m['vpt']:.2f} s "
        f"(of {ev.t[-1]:.2f} s), diverged {int(m['diverged'])}/{int(m['n_episodes'])}"
    )

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, ev in results.items():
    ax.plot(ev.t, ev.curve, label=name)
ax.axhline(0.1, color="gray", ls=":", label="validity threshold")
ax.set(xlabel="prediction horizon [s]", ylabel="nRMSE", title="error vs horizon")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Save and reload
#
# `save` writes a run directory: `config.json` (kind, architecture, names), `physics.json`,
# the weights as `safetensors` (no pickles are read back), the training history and the
# training config. `WorldModel.load` rebuilds the model from these files alone, and the
# reloaded model predicts exactly what the original did.

# %%
model_dir = model.save(OUT / "pendulum-hybrid")
print(sorted(p.name for p in model_dir.iterdir()))

reloaded = WorldModel.load(model_dir)
pred_again = reloaded.rollout(episode.x[:1], episode.u[None, :-1], episode.t)[0]
np.testing.assert_allclose(pred_again, pred, rtol=0, atol=1e-12)
print("reloaded model reproduces the predictions:", reloaded)

# %% [markdown]
# ## Where next
#
# * The same steps from a shell: `hybridwm simulate`, `hybridwm discover`, `hybridwm fit`,
#   `hybridwm rollout` (see `hybridwm --help`).
# * `02_fit_your_own_csv.py`: the same pipeline on a CSV log from your own rig, with noise and
#   your own column names.
# * `03_ood_comparison.py`: learned, physics-only and hybrid models side by side, in and out of
#   distribution.
