"""First-order hold: actions interpolated linearly between samples, against exact solutions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
import torch

from hybridwm.dynamics import HeldActions, HybridDynamics, LinearPhysics, integrate
from hybridwm.dynamics.actions import STENCILS, stencil_weights
from hybridwm.errors import ConfigError

A = np.array([[0.0, 1.0], [-4.0, -0.3]])
B = np.array([[0.0], [1.0]])


def linear_field() -> HybridDynamics:
    phys = LinearPhysics(A, B)
    return HybridDynamics(phys.state_names, phys.action_names, phys, None)


def foh_exact(x0: np.ndarray, us: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact solution under linear interpolation of ``us`` (n, T+1, 1) between the times ``t``:
    the state ``(x, u, du/dt)`` with ``du/dt`` constant per interval, by the matrix exponential."""
    M = np.zeros((4, 4))
    M[:2, :2], M[:2, 2:3], M[2, 3] = A, B, 1.0
    out = np.empty((x0.shape[0], len(t), 2))
    out[:, 0] = x0
    for k in range(len(t) - 1):
        h = t[k + 1] - t[k]
        slope = (us[:, k + 1] - us[:, k]) / h
        z = np.concatenate([out[:, k], us[:, k], slope], 1)
        out[:, k + 1] = (z @ sl.expm(M * h).T)[:, :2]
    return out


def as_t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.fixture
def smooth(rng):
    """3 samples, 80 steps of 0.02 s, a smooth input sampled at every time (T+1 rows)."""
    t = np.arange(81) * 0.02
    phase = rng.uniform(0, 2 * np.pi, size=(3, 1, 1))
    us = np.sin(3.0 * t[None, :, None] + phase) + 0.5 * np.cos(7.0 * t[None, :, None])
    return rng.normal(size=(3, 2)), us, t


@pytest.mark.parametrize(("solver", "substeps", "atol"), [("rk4", 1, 1e-7), ("rk4", 3, 1e-9),
                                                          ("dopri5", 1, 5e-6)])  # fmt: skip
def test_first_order_hold_matches_the_exact_solution(smooth, solver, substeps, atol):
    x0, us, t = smooth
    xs = integrate(
        linear_field(), as_t(x0), as_t(us), as_t(t), solver=solver, substeps=substeps,
        intersample="foh",
    ).numpy()  # fmt: skip
    exact = foh_exact(x0, us, t)
    np.testing.assert_allclose(xs, exact, atol=atol, rtol=0)
    # the hold is a different signal: its error is orders of magnitude larger
    held = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), solver=solver).numpy()
    assert np.abs(held - exact).max() > 1e3 * atol


def test_first_order_hold_on_per_sample_grids(rng):
    """Each sample on its own jittered grid, fixed-step and adaptive: exact FOH solutions."""
    n, T, dt = 3, 50, 0.02
    ts = np.stack(
        [np.concatenate([[0.0], np.cumsum(dt * rng.uniform(0.8, 1.2, T))]) for _ in range(n)]
    )
    us = np.sin(4.0 * ts)[:, :, None]
    x0 = rng.normal(size=(n, 2))
    for solver, atol in (("rk4", 1e-7), ("dopri5", 1e-6)):
        xs = integrate(
            linear_field(), as_t(x0), as_t(us), as_t(ts), solver=solver, intersample="foh"
        ).numpy()
        for i in range(n):
            exact = foh_exact(x0[i : i + 1], us[i : i + 1], ts[i])[0]
            np.testing.assert_allclose(xs[i], exact, atol=atol, rtol=0)


def test_constant_actions_give_the_hold_bit_for_bit(rng):
    x0, t = rng.normal(size=(2, 2)), np.arange(31) * 0.05
    us = np.repeat(rng.normal(size=(2, 1, 1)), 31, axis=1)
    for solver in ("euler", "midpoint", "rk4"):
        foh = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), solver=solver,
                        intersample="foh")  # fmt: skip
        zoh = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), solver=solver)
        assert torch.equal(foh, zoh)


def test_t_actions_hold_the_last_one_over_the_last_interval(smooth):
    """With T rows (no action at t[T]) the first-order hold keeps us[T-1] over the last step."""
    x0, us, t = smooth
    padded = np.concatenate([us[:, :-1], us[:, -2:-1]], 1)
    a = integrate(linear_field(), as_t(x0), as_t(us[:, :-1]), as_t(t), intersample="foh")
    b = integrate(linear_field(), as_t(x0), as_t(padded), as_t(t), intersample="foh")
    assert torch.equal(a, b)


def test_held_actions_interpolate_under_first_order_hold():
    us = torch.tensor([[[0.0], [2.0], [-2.0]]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    foh = HeldActions(us, t, "foh")
    for time, want in ((0.0, 0.0), (0.25, 0.5), (1.0, 2.0), (1.5, 0.0), (2.0, -2.0), (3.0, -2.0)):
        assert float(foh(torch.tensor(time, dtype=torch.float64))) == pytest.approx(want)
    assert foh.switch_times().tolist() == [1.0]  # the kink
    line = HeldActions(torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64), t, "foh")
    assert line.switch_times().numel() == 0
    zoh = HeldActions(us[:, :2], t)
    assert float(zoh(torch.tensor(1.5, dtype=torch.float64))) == 2.0


def test_intersample_errors(smooth):
    x0, us, t = smooth
    with pytest.raises(
        ConfigError, match=r"`intersample` must be 'zoh' .*'foh' .*'cubic' .*'quintic' .*got 'sinc'"
    ):
        integrate(linear_field(), as_t(x0), as_t(us), as_t(t), intersample="sinc")
    with pytest.raises(ValueError, match=r"must be one of \('zoh', 'foh', 'cubic', 'quintic'\)"):
        HeldActions(as_t(us), as_t(t), "linear")
    with pytest.raises(ValueError, match=r"T\+1 rows under 'foh'"):
        HeldActions(as_t(us[:, :-1]), as_t(t), "foh")


def test_cubic_is_exact_for_quadratics_and_continuous_with_its_slope():
    t = torch.arange(8, dtype=torch.float64) * 0.5
    quad = (1.0 + 0.3 * t - 0.2 * t**2)[None, :, None]
    cubic = HeldActions(quad, t, "cubic")
    for time in (0.6, 1.3, 2.0, 2.25, 2.9):  # interior intervals (each has two neighbours)
        want = 1.0 + 0.3 * time - 0.2 * time**2
        assert float(cubic(torch.tensor(time, dtype=torch.float64))) == pytest.approx(want)
    at = [float(cubic(torch.tensor(s, dtype=torch.float64))) for s in (1.5 - 1e-7, 1.5 + 1e-7)]
    assert at[0] == pytest.approx(at[1], abs=1e-6)
    assert cubic.switch_times().numel() == 0


def test_cubic_follows_a_band_limited_input_closer_than_the_linear_hold(rng):
    """A sinusoid at 9 samples per period (Silverbox's resonance): the reference integrates the
    exact input sampled 64x finer; the cubic's error is far below the linear hold's."""
    dt, n, fine = 0.1, 60, 64
    omega = 2 * np.pi / (9 * dt)
    x0 = rng.normal(size=(2, 2))
    t_f = np.arange(n * fine + 1) * dt / fine
    us_f = np.stack([np.sin(omega * t_f), np.cos(omega * t_f)])[:, :, None]
    ref = integrate(linear_field(), as_t(x0), as_t(us_f), as_t(t_f), intersample="foh")[:, ::fine]
    t, us = t_f[::fine], us_f[:, ::fine]
    err = {}
    for kind in ("zoh", "foh", "cubic", "quintic"):
        xs = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), substeps=8, intersample=kind)
        err[kind] = float((xs - ref).abs().max())
    assert err["quintic"] < err["cubic"] / 2
    assert err["cubic"] < err["foh"] / 3 < err["zoh"] / 9
    ad = integrate(
        linear_field(), as_t(x0), as_t(us), as_t(t), solver="dopri5", intersample="cubic"
    )
    assert float((ad - ref).abs().max()) < 2 * err["cubic"]


@pytest.mark.parametrize("kind", sorted(STENCILS))
def test_stencils_are_exact_on_polynomials_up_to_the_ends(kind):
    """Shifted inward at the ends, every interval (the first and last too) reproduces a
    polynomial of the stencil's degree; a record shorter than the stencil uses all it has."""
    degree = 5 if kind == "quintic" else 2  # Catmull-Rom inside: quadratics
    t = torch.arange(9, dtype=torch.float64) * 0.5
    coef = [0.3 - 0.1 * i for i in range(degree + 1)]
    held = HeldActions(sum(a * t**i for i, a in enumerate(coef))[None, :, None], t, kind)
    for time in (0.1, 0.7, 2.2, 3.6, 3.95):
        want = sum(a * time**i for i, a in enumerate(coef))
        got = float(held(torch.tensor(time, dtype=torch.float64)))
        assert got == pytest.approx(want, abs=1e-9)
    x0 = torch.zeros(1, 2, dtype=torch.float64)
    quad = (1.0 + t[:3] ** 2)[None, :, None]
    short = integrate(linear_field(), x0, quad, t[:3], intersample=kind)
    line = integrate(linear_field(), x0, quad, t[:3], intersample="foh")
    assert short.shape == (1, 3, 2) and torch.isfinite(short).all()
    assert not torch.equal(short, line)  # three samples: the quadratic through them


@pytest.mark.parametrize("kind", sorted(STENCILS))
def test_stencils_sum_to_one_interpolate_samples_and_hold_constants(kind):
    for c in (0.0, 0.2, 0.5, 0.9, 1.0):
        w = stencil_weights(kind, c)
        assert len(w) == STENCILS[kind][1] and sum(w) == pytest.approx(1.0, abs=1e-14)
        wt = stencil_weights(kind, torch.tensor(c, dtype=torch.float64))
        np.testing.assert_allclose([float(v) for v in wt], w, atol=1e-15)
    assert stencil_weights(kind, 0.0)[STENCILS[kind][0]] == pytest.approx(1.0)
    t = torch.arange(6, dtype=torch.float64)
    const = HeldActions(torch.full((2, 6, 1), 0.7, dtype=torch.float64), t, kind)
    for time in (0.0, 0.3, 2.5, 4.99, 5.0):
        np.testing.assert_allclose(const(torch.tensor(time, dtype=torch.float64)), 0.7)
