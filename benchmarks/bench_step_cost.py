"""Time per optimizer step of physics terms against the 2×64 MLP residual, on one batch.

For each system (default pendulum and cart-pole; the ``-rig`` variants work too), one fixed
batch of 64 windows × 20 steps is drawn from training data of the ``quick`` preset's size
(float64, torch on one thread), and one optimizer step (an rk4 rollout through
:func:`hybridwm.dynamics.integrate` on the sample grid, the MSE to the measured window,
backward, AdamW) is timed for

* ``declared``: a declared prior with a smooth ``clip`` (min/max, ``sharpness`` set, the module
  in training mode) and a square root (smoothed Coulomb friction ``v/sqrt(v^2 + vs^2)``), its
  free parameters trainable (the cart-pole one is the rational sensor-log prior,
  benchmarks/sensor_log/cartpole_prior.toml, solved for the accelerations, with both
  additions);
* ``declared-graph``: the same prior with its features recorded op by op in torch's autograd
  graph, as before session 19, instead of as one node whose gradient is generated numpy code
  (:mod:`hybridwm.physics.adjoint`): the baseline the generated gradient is measured against;
* ``discovered``: :func:`hybridwm.physics.discover` on the training data with the discovery
  settings of the ``quick`` preset (of ``full`` for a system ``quick`` does not run), its
  coefficients trainable;
* ``mlp``: the 2×64 tanh MLP residual alone (``HybridDynamics`` with ``physics=None``);
* ``hybrid``: the discovered physics plus the MLP.

Every model sees the same batch, solver and number of steps. The kinds are timed in turns
(one step of each per round, CPU time), so that a change of machine load falls on all alike;
the table gives the median milliseconds per step, the median forward vector-field evaluation
on the 64 states of one solver stage (no gradient), and the ratios to the MLP (target: physics
<= 1x the MLP).

    .venv/bin/python benchmarks/bench_step_cost.py [--steps 50] [--systems pendulum cartpole]

With ``--physics-lr-sweep``, it instead measures how many Adam steps the trainable parameters
of a declared pendulum prior ``d(omega) = -a*sin(theta) - b*omega + c*torque``, started 30 %
off the MuJoCo truth, take to come within 1 % of it (all of them, and staying there to the end
of the budget) when the physics is fitted alone (``WorldModel.from_kind("physics",
physics=prior)``; ``TrainConfig`` defaults except ``physics_lr``, the budget in steps,
``lr_schedule`` and no early stopping), for each ``physics_lr``:

    .venv/bin/python benchmarks/bench_step_cost.py --physics-lr-sweep [--lrs 3e-3 1e-2 3e-2 0.1]
        [--budget 1500] [--schedule cosine]

With ``--compiled``, it measures whether fusing the operations would close the gap: one
forward + backward evaluation of the declared prior and of the MLP on the batch's first states,
eager and compiled by ``torch.compile`` (``compiled_costs``):

    .venv/bin/python benchmarks/bench_step_cost.py --compiled --systems cartpole
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from hybridwm.data import TrajectorySet, make_windows
from hybridwm.dynamics import MLP, HybridDynamics, Normalizer, ODEModel, integrate
from hybridwm.evaluation import load_preset
from hybridwm.models import WorldModel
from hybridwm.models.normalization import fit_normalizer
from hybridwm.physics import DiscoverConfig, PhysicsModel, declare, discover
from hybridwm.physics.saturation import smooth_saturation
from hybridwm.systems import get_system, simulate
from hybridwm.training import TrainConfig

#: the motor's saturation and the rail's smoothed Coulomb friction, in the cart-pole prior
_FORCE = "clip(force, -fmax, fmax)"
_RAIL = "(bx*v + fc*v/sqrt(v**2 + vs**2))"
_DET = "(Mt*J - mc**2*cos(theta)**2)"

#: declared priors with a smooth saturation (``clip``: min/max) and a square root (Coulomb
#: friction smoothed as ``fc*v/sqrt(v^2 + vs^2)``), per system; starting values are guesses
#: 20-50 % off, as a user's would be.
PRIORS: dict[str, dict] = {
    "pendulum": {
        "equations": [
            "d(theta) = omega",
            "d(omega) = -a*sin(theta) - b*omega - fc*omega/sqrt(omega**2 + vs**2)"
            " + c*clip(torque, -tmax, tmax)",
        ],
        "parameters": {
            "a": {"value": 11.0, "bounds": (0.0, 50.0)},
            "b": {"value": 0.2, "bounds": (0.0, 5.0)},
            "fc": {"value": 0.01, "bounds": (0.0, 1.0)},
            "vs": {"value": 0.1, "fixed": True},
            "c": {"value": 2.2, "bounds": (0.0, 10.0)},
            "tmax": {"value": 2.5, "bounds": (0.5, 5.0)},
        },
        "action_names": ["torque"],
        "sharpness": 20.0,
    },
    "cartpole": {
        "equations": [
            "d(x) = v",
            "d(theta) = omega",
            f"d(v) = (J*({_FORCE} - {_RAIL} + mc*sin(theta)*omega**2)"
            f" + mc*cos(theta)*(mc*g*sin(theta) + bth*omega)) / {_DET}",
            f"d(omega) = -(Mt*(mc*g*sin(theta) + bth*omega)"
            f" + mc*cos(theta)*({_FORCE} - {_RAIL} + mc*sin(theta)*omega**2)) / {_DET}",
        ],
        "parameters": {
            "Mt": {"value": 1.4, "bounds": (0.5, 3.0)},
            "mc": {"value": 0.07, "bounds": (0.01, 0.3)},
            "J": {"value": 0.045, "bounds": (0.005, 0.2)},
            "bx": {"value": 0.3, "bounds": (0.0, 2.0)},
            "bth": {"value": 0.03, "bounds": (0.0, 0.5)},
            "fc": {"value": 0.05, "bounds": (0.0, 1.0)},
            "vs": {"value": 0.05, "fixed": True},
            "fmax": {"value": 8.0, "bounds": (1.0, 20.0)},
            "g": {"value": 9.81, "fixed": True},
        },
        "action_names": ["force"],
        "sharpness": 5.0,
    },
}
KINDS = ("declared", "declared-graph", "discovered", "mlp", "hybrid")


@dataclass(frozen=True)
class Batch:
    """One training batch: ``x0`` (n, n_x), ``us`` (n, H, n_u), ``t`` (H+1,), ``target``
    (n, H+1, n_x)."""

    x0: torch.Tensor
    us: torch.Tensor
    t: torch.Tensor
    target: torch.Tensor


def fixed_batch(data: TrajectorySet, n_windows: int, horizon: int, seed: int) -> Batch:
    """``n_windows`` windows of ``horizon`` steps drawn (seeded) from every window of ``data``."""
    (group,) = make_windows(data, horizon, stride=horizon)
    pick = np.random.default_rng(seed).choice(len(group.x), n_windows, replace=False)
    x = torch.as_tensor(group.x[pick])
    return Batch(x[:, 0], torch.as_tensor(group.u[pick, :-1]), torch.as_tensor(group.t), x)


def field(kind: str, physics: PhysicsModel | None, data: TrajectorySet) -> HybridDynamics:
    """The vector field of a kind: trainable physics, the 2×64 tanh MLP, or both."""
    names, actions = data.state_names, data.action_names
    angles = ("theta",)
    residual = None
    if kind in ("mlp", "hybrid"):
        residual = MLP(hidden=(64, 64)).build(len(names) + len(angles) + len(actions), len(names))
    phys = None if kind == "mlp" else physics.vector_field(trainable=True)  # type: ignore[union-attr]
    if kind == "declared-graph":
        phys._adjoint = None  # type: ignore[union-attr]  # the torch code records its own graph
    dyn = HybridDynamics(
        names, actions, phys, residual, Normalizer(len(names), len(actions)), angles=angles
    )
    fit_normalizer(ODEModel(dyn), data)  # as WorldModel.fit does
    return dyn.to(torch.float64).train()


class Stepper:
    """One optimizer step of a field on a batch: rk4 rollout on the sample grid, MSE, backward,
    AdamW (every trainable tensor of the field, default settings)."""

    def __init__(self, dyn: HybridDynamics, batch: Batch) -> None:
        self.dyn, self.batch = dyn, batch
        self.opt = torch.optim.AdamW([p for p in dyn.parameters() if p.requires_grad], lr=1e-4)

    def step(self) -> None:
        b = self.batch
        xs = integrate(self.dyn, b.x0, b.us, b.t, solver="rk4")
        loss = (xs - b.target).square().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def forward(self) -> None:
        with torch.no_grad():
            self.dyn.vector_field(self.batch.x0, self.batch.us[:, 0])


def interleaved(calls: dict[str, Callable[[], None]], reps: int, warmup: int) -> dict[str, float]:
    """Median CPU milliseconds of each call, timed in turns (one of each per round, so that a
    change of machine load falls on all alike), after ``warmup`` untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + reps):
        for name, call in calls.items():
            start = time.process_time()
            call()
            if i >= warmup:
                times[name].append(1e3 * (time.process_time() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def discovery_settings(system: str, seed: int) -> tuple[dict, str]:
    """The discovery settings of ``system`` in the ``quick`` preset, or in ``full`` when
    ``quick`` does not run it, and the name of the preset they come from."""
    for name in ("quick", "full"):
        preset = load_preset(name)
        if system in preset.systems:
            settings = {**preset.discover.get("*", {}), **preset.discover.get(system, {})}
            return {**settings, "seed": seed}, name
    return {"seed": seed}, "defaults"


def system_physics(system: str, seed: int) -> tuple[TrajectorySet, dict[str, PhysicsModel], str]:
    """Training data of ``system`` (the ``quick`` preset's size and sampling), its declared
    prior (that of the system the variant is of: ``pendulum`` for ``pendulum-rig``) and its
    discovered physics; and the preset whose discovery settings were used."""
    preset = load_preset("quick")
    data = simulate(
        system=system,
        scenario="train",
        n_trajectories=preset.n_train,
        duration=preset.duration,
        dt=preset.dt,
        seed=seed,
    )
    settings, source = discovery_settings(system, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = discover(data, config=DiscoverConfig.from_dict(settings))
    prior = declare(**PRIORS[system.split("-")[0]])
    return data, {"declared": prior, "discovered": found}, source


def step_costs(system: str, args: argparse.Namespace) -> tuple[dict[str, tuple[float, float]], str]:
    """(median ms per optimizer step, median ms per forward evaluation) of each kind, and a
    description of the two physics terms."""
    data, physics, source = system_physics(system, args.seed)
    batch = fixed_batch(data, args.windows, args.horizon, args.seed)
    steppers = {
        kind: Stepper(
            field(kind, physics["declared" if "declared" in kind else "discovered"], data), batch
        )
        for kind in KINDS
    }
    steps = interleaved({k: s.step for k, s in steppers.items()}, args.steps, args.warmup)
    fwd = interleaved({k: s.forward for k, s in steppers.items()}, 20 * args.steps, args.warmup)
    about = (
        "; ".join(
            f"{kind}: {int(m.mask.any(0).sum())} of {m.library.n_features} features, "
            f"{int(m.mask.sum())} terms, {len(m.parameters)} parameters"
            for kind, m in physics.items()
        )
        + f"; discovery settings of the {source!r} preset"
    )
    return {kind: (steps[kind], fwd[kind]) for kind in KINDS}, about


def print_costs(system: str, costs: dict[str, tuple[float, float]], about: str) -> None:
    """One table: ms per step and per forward evaluation, and the ratios to the MLP."""
    step_mlp, fwd_mlp = costs["mlp"]
    print(f"\n{system} ({about})")
    print(f"{'kind':<16}{'ms/step':>10}{'/ MLP':>8}{'fwd ms':>10}{'/ MLP':>8}")
    for kind, (step, fwd) in costs.items():
        print(f"{kind:<16}{step:>10.2f}{step / step_mlp:>8.2f}{fwd:>10.4f}{fwd / fwd_mlp:>8.2f}")


# ---------------------------------------------------------------------------- physics_lr sweep
#: the swept prior's parameters: bounds a user would declare, and the start (30 % off the truth)
SWEEP_BOUNDS = {"a": (1.0, 50.0), "b": (0.0, 1.0), "c": (0.5, 10.0)}
SWEEP_OFF = {"a": 0.7, "b": 1.3, "c": 0.7}


def pendulum_truth() -> dict[str, float]:
    """``a``, ``b``, ``c`` of the MuJoCo pendulum: ``d(omega) = -a sin(theta) - b omega +
    c torque``."""
    coefs = get_system("pendulum").true_equations().coefficients["omega"]
    return {"a": -coefs["sin(theta)"], "b": -coefs["omega"], "c": coefs["torque"]}


def sweep_prior(truth: dict[str, float]) -> PhysicsModel:
    """The declared pendulum prior, every parameter started 30 % off ``truth``."""
    return declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - b*omega + c*torque"],
        {
            name: {"value": SWEEP_OFF[name] * value, "bounds": SWEEP_BOUNDS[name]}
            for name, value in truth.items()
        },
        action_names=["torque"],
    )


def parameter_trace(
    prior: PhysicsModel, data: TrajectorySet, config: TrainConfig
) -> list[dict[str, float]]:
    """The prior's parameter values after each optimizer step of a physics-only fit (recorded
    by an optimizer step hook: the training code is the library's, unchanged)."""
    raws: list[dict[int, torch.Tensor]] = []

    def record(optimizer: torch.optim.Optimizer, *_: object) -> None:
        params = (p for group in optimizer.param_groups for p in group["params"])
        raws.append({id(p): p.detach().clone() for p in params})

    handle = register_optimizer_step_post_hook(record)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = WorldModel.from_kind("physics", physics=prior).fit(data, config)
    finally:
        handle.remove()
    field = model.model_.dynamics.physics
    raw = field.raw_parameters
    trace = []
    with torch.no_grad():
        for values in raws:
            raw.copy_(values[id(raw)])
            trace.append(field.parameter_values())
    return trace


def steps_to_within(
    trace: list[dict[str, float]], truth: dict[str, float], tol: float
) -> int | None:
    """The number of steps after which every parameter stays within ``tol`` (relative) of the
    truth to the end of the trace; None if it never does."""
    within = [all(abs(v[k] / truth[k] - 1) <= tol for k in truth) for v in trace]
    if not within or not within[-1]:
        return None
    last_out = max((i for i, ok in enumerate(within) if not ok), default=-1)
    return last_out + 2


def physics_lr_sweep(args: argparse.Namespace) -> None:
    """Steps for the declared pendulum prior's parameters to come within 1 % of the truth when
    the physics is fitted alone, for each physics learning rate."""
    truth = pendulum_truth()
    preset = load_preset("quick")
    data = simulate(
        system="pendulum",
        scenario="train",
        n_trajectories=preset.n_train,
        duration=preset.duration,
        dt=preset.dt,
        seed=args.seed,
    )
    prior = sweep_prior(truth)
    print(f"truth {truth}; start {prior.parameter_values}; bounds {SWEEP_BOUNDS}")
    print(f"budget {args.budget} Adam steps, lr_schedule={args.schedule!r}, patience off")
    marks = [m for m in (100, 300, 1000) if m <= args.budget]
    head = "".join(f"{'rel. errors @' + str(m):>24}" for m in marks)
    print(f"{'physics_lr':>10}{'steps to 1%':>13}{head}{'final rel. errors':>24}{'s':>6}")
    for lr in args.lrs:
        config = TrainConfig(
            steps=args.budget,
            physics_lr=lr,
            lr_schedule=args.schedule,
            patience=None,
            progress=False,
            seed=args.seed,
        )
        start = time.perf_counter()
        trace = parameter_trace(prior, data, config)
        seconds = time.perf_counter() - start
        errors = [
            " ".join(f"{abs(trace[m - 1][k] / truth[k] - 1):7.1e}" for k in truth)
            for m in [*marks, len(trace)]
        ]
        reached = steps_to_within(trace, truth, 0.01)
        shown = f">{len(trace)}" if reached is None else str(reached)
        cells = "".join(f"{e:>24}" for e in errors)
        print(f"{lr:>10g}{shown:>13}{cells}{seconds:>6.0f}")


# ---------------------------------------------------------------------------- torch.compile
def compiled_costs(system: str, args: argparse.Namespace) -> None:
    """Print the CPU time of one forward + backward evaluation (``sum(f^2)`` on the batch's
    first states and actions) of the declared prior and of the 2×64 MLP, eager and compiled
    by ``torch.compile`` (inductor, fused C++ kernels for the forward and the backward), and
    the ratios to the eager MLP; the prior's coefficients and features as the trained module
    computes them (``TermProgram`` and generated features, smooth min/max)."""
    data, physics, _ = system_physics(system, args.seed)
    batch = fixed_batch(data, args.windows, args.horizon, args.seed)
    prior = physics["declared"].vector_field(trainable=True).to(torch.float64).train()
    program, features, raw = prior._program(), prior._features, prior.raw_parameters
    x, u = batch.x0, batch.us[:, 0]

    def field(raw: torch.Tensor, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        q, c = program(raw, True)
        return features(x, u, q) @ c.transpose(0, 1)

    mlp = MLP(hidden=(64, 64)).build(x.shape[1] + 1 + u.shape[1], x.shape[1]).double()
    inputs = torch.cat([x, torch.cos(x[:, 1:2]), u], dim=-1)
    fns = {
        "prior": lambda: field(raw, x, u),
        "prior compiled": partial(torch.compile(field, dynamic=False), raw, x, u),
        "mlp": lambda: mlp(inputs),
        "mlp compiled": partial(torch.compile(mlp, dynamic=False), inputs),
    }

    def backward(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            with smooth_saturation(prior.sharpness, enabled=True):
                fn().square().sum().backward()

        return call

    calls = {name: backward(fn) for name, fn in fns.items()}
    start = time.perf_counter()
    for call in calls.values():  # the first call of a compiled function compiles it
        call()
    print(f"\n{system}: compiled in {time.perf_counter() - start:.1f} s")
    costs = interleaved(calls, 20 * args.steps, args.warmup)
    for name, ms in costs.items():
        print(f"  {name:<16}{1e3 * ms:>9.1f} us  / eager MLP {ms / costs['mlp']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["pendulum", "cartpole"])
    parser.add_argument("--steps", type=int, default=50, help="timed optimizer steps per kind")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--physics-lr-sweep", action="store_true")
    parser.add_argument("--compiled", action="store_true", help="eager vs torch.compile")
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-3, 1e-2, 3e-2, 0.1])
    parser.add_argument("--budget", type=int, default=1500, help="Adam steps per sweep fit")
    parser.add_argument("--schedule", default="cosine", help="lr_schedule of the sweep fits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.physics_lr_sweep:
        physics_lr_sweep(args)
        return
    if args.compiled:
        for system in args.systems:
            compiled_costs(system, args)
        return
    for system in args.systems:
        print_costs(system, *step_costs(system, args))


if __name__ == "__main__":
    main()
