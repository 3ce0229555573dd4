"""EMPS: how far richer friction physics goes when fitted by simulation error over whole records.

    python benchmarks/bench_emps_friction.py [--fit-on estimation|train_val] [--model friction]

A numpy reference outside the WorldModel pipeline (issue 17's EMPS target): the rigid-body
prior of ``benchmarks/emps_prior.toml`` extended, its parameters fitted by
``scipy.optimize.least_squares`` to the free-run simulation error (RK4 at the record's step from
q[19] and a central difference, as the README's reference, scored after the official 20
samples) of the whole fitting record, then scored on the validation half and the test record.

Models (``--model``):
  published  M q'' = gtau*vir - Fv q' - Fc sign(q') - offset, the published IDIM-LS values
             refitted;
  friction   direction-dependent viscous and Coulomb friction (Fv+, Fv-, Fc+, Fc-) and a
             Stribeck term dFs exp(-(q'/vs)^2) sign(q'), sign smoothed as tanh(q'/1e-4);
  position   the published model plus a force of the position (6 Chebyshev terms on [0, 0.25] m).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import least_squares

from hybridwm.datasets import load_dataset

EMPS = load_dataset("emps")
P = EMPS.parameters
START = 19  # the README's reference starts at q[19]


def _friction(name: str, th: np.ndarray, v: float, q: float) -> float:
    if name == "published":
        return th[1] * v + th[2] * np.sign(v) + th[3]
    if name == "position":
        z = np.clip(q / 0.125 - 1, -1.2, 1.2)
        return th[1] * v + th[2] * np.sign(v) + th[3] + np.polynomial.chebyshev.chebval(z, th[4:])
    fv, fc = (th[1], th[2]) if v > 0 else (th[6], th[7])
    s = np.tanh(v / 1e-4)
    return fv * v + fc * s + th[4] * np.exp(-((v / max(th[5], 1e-4)) ** 2)) * s + th[3]


def simulate(name: str, th: np.ndarray, q: np.ndarray, u: np.ndarray, dt: float) -> np.ndarray:
    """(T,) positions: the measured q[:20], then the free run from q[19]."""

    def f(x: np.ndarray, uu: float) -> np.ndarray:
        return np.array([x[1], (P["gtau"] * uu - _friction(name, th, x[1], x[0])) / th[0]])

    x = np.array([q[START], (q[START] - q[START - 2]) / (2 * dt)])
    out = list(q[: START + 1])
    for k in range(START, len(q) - 1):
        k1 = f(x, u[k])
        k2 = f(x + dt / 2 * k1, u[k])
        k3 = f(x + dt / 2 * k2, u[k])
        k4 = f(x + dt * k3, u[k])
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x[0])
    return np.array(out)


def errors_mm(name: str, th: np.ndarray, split: str) -> np.ndarray:
    tr = EMPS.split(split)[0]
    pred = simulate(name, th, tr.x[:, 0], tr.u[:, 0], float(tr.t[1] - tr.t[0]))
    return 1000 * (pred[EMPS.n_init :] - tr.x[EMPS.n_init :, 0])


def start(name: str) -> tuple[np.ndarray, list[float], tuple[list[float], list[float]]]:
    """Starting values (the published identification), scales and bounds of ``name``."""
    base = [P["M"], P["Fv"], P["Fc"], P["offset"]]
    lo, hi = [10.0, 0.0, 0.0, -50.0], [1000.0, 2000.0, 200.0, 50.0]
    scale = [10.0, 20.0, 2.0, 1.0]
    if name == "friction":
        base += [0.0, 0.01, P["Fv"], P["Fc"]]
        lo, hi = [*lo, -50.0, 1e-4, 0.0, 0.0], [*hi, 50.0, 1.0, 2000.0, 200.0]
        scale += [2.0, 0.01, 20.0, 2.0]
    elif name == "position":
        base += [0.0] * 6
        lo, hi = [*lo] + [-100.0] * 6, [*hi] + [100.0] * 6
        scale += [1.0] * 6
    return np.array(base), scale, (lo, hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit-on", default="train_val", choices=["estimation", "train_val"])
    parser.add_argument(
        "--model", default="friction", choices=["published", "friction", "position"]
    )
    parser.add_argument("--max-nfev", type=int, default=40)
    args = parser.parse_args()
    th0, scale, bounds = start(args.model)
    began = time.perf_counter()
    fit = least_squares(lambda th: errors_mm(args.model, th, args.fit_on), th0, x_scale=scale,
                        bounds=bounds, max_nfev=args.max_nfev)  # fmt: skip
    print(f"{args.model} fitted on {args.fit_on} in {time.perf_counter() - began:.0f} s: "
          f"{np.round(fit.x, 4).tolist()}")  # fmt: skip
    for split in ("estimation", "validation", "test"):
        rmse = float(np.sqrt(np.mean(errors_mm(args.model, fit.x, split) ** 2)))
        print(f"  {split}: RMSE {rmse:.3f} mm")


if __name__ == "__main__":
    main()
