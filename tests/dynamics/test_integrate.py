"""Integration under held actions: exact linear solutions, solvers, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg as sl
import torch

from hybridwm.dynamics import (
    SOLVERS,
    HeldActions,
    HybridDynamics,
    LinearPhysics,
    PendulumPhysics,
    integrate,
)
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError

A = np.array([[0.0, 1.0], [-4.0, -0.3]])
B = np.array([[0.0], [1.0]])


def linear_field() -> HybridDynamics:
    phys = LinearPhysics(A, B)
    return HybridDynamics(phys.state_names, phys.action_names, phys, None)


def pendulum_hybrid(phys: PendulumPhysics, angles: tuple[str, ...] = ()) -> HybridDynamics:
    """``phys`` plus a seeded (8,) MLP residual with nonzero output, float64."""
    from hybridwm.dynamics import MLP, Normalizer

    torch.manual_seed(0)
    n_x, n_u = len(phys.state_names), len(phys.action_names)
    residual = MLP((8,), init_scale=1.0).build(n_x + len(angles) + n_u, n_x)
    return HybridDynamics(
        phys.state_names, phys.action_names, phys, residual, Normalizer(n_x, n_u), angles=angles
    ).double()


def zoh_exact(x0: np.ndarray, us: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact ZOH solution by the augmented-matrix exponential expm([[A, B], [0, 0]] dt)."""
    n_x, n_u = B.shape
    M = np.zeros((n_x + n_u, n_x + n_u))
    M[:n_x, :n_x], M[:n_x, n_x:] = A, B
    out = np.empty((x0.shape[0], len(t), n_x))
    out[:, 0] = x0
    for k in range(len(t) - 1):
        E = sl.expm(M * (t[k + 1] - t[k]))
        out[:, k + 1] = (np.concatenate([out[:, k], us[:, k]], 1) @ E.T)[:, :n_x]
    return out


def as_t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.fixture
def problem(rng):
    t = np.arange(101) * 0.01
    us = np.repeat(rng.normal(size=(3, 21, 1)), 5, axis=1)[:, :100]
    x0 = rng.normal(size=(3, 2))
    return x0, us, t


def test_rk4_matches_matrix_exponential(problem):
    x0, us, t = problem
    xs = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), solver="rk4").numpy()
    assert xs.shape == (3, 101, 2)
    np.testing.assert_allclose(xs, zoh_exact(x0, us, t), atol=1e-8, rtol=0)


def test_nonuniform_grid_with_substeps(rng):
    t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.005, 0.03, 60))])
    us = rng.normal(size=(2, 60, 1))
    x0 = rng.normal(size=(2, 2))
    xs = integrate(linear_field(), as_t(x0), as_t(us), as_t(t), substeps=3).numpy()
    np.testing.assert_allclose(xs, zoh_exact(x0, us, t), atol=1e-8, rtol=0)


def test_dopri5_with_jumps_matches_rk4_and_exact(problem):
    x0, us, t = problem
    field = linear_field()
    ref = zoh_exact(x0, us, t)
    xd = integrate(field, as_t(x0), as_t(us), as_t(t), solver="dopri5", rtol=1e-10, atol=1e-12)
    xr = integrate(field, as_t(x0), as_t(us), as_t(t), solver="rk4")
    np.testing.assert_allclose(xd.numpy(), ref, atol=1e-8)
    np.testing.assert_allclose(xd.numpy(), xr.numpy(), atol=1e-8)


def test_dopri5_pendulum_held_actions_matches_fine_rk4(rng):
    phys = PendulumPhysics(w0=3.0, damping=0.2, gain=2.0)
    field = HybridDynamics(phys.state_names, phys.action_names, phys, None)
    t = as_t(np.arange(61) * 0.05)
    us = as_t(np.repeat(rng.uniform(-1, 1, (4, 12, 1)), 5, axis=1))
    x0 = as_t(rng.uniform(-1, 1, (4, 2)))
    xd = integrate(field, x0, us, t, solver="dopri5", rtol=1e-10, atol=1e-12)
    xr = integrate(field, x0, us, t, solver="rk4", substeps=20)
    np.testing.assert_allclose(xd.numpy(), xr.numpy(), atol=1e-8)


def test_switch_times_are_only_real_switches():
    t = torch.arange(7, dtype=torch.float64)
    us = torch.tensor([[[0.0], [0.0], [1.0], [1.0], [1.0], [2.0]]], dtype=torch.float64)
    held = HeldActions(us, t)
    assert held.switch_times().tolist() == [2.0, 5.0]


def test_held_action_lookup_is_zero_order_hold():
    t = torch.tensor([0.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    us = torch.tensor([[[10.0], [20.0], [30.0]]], dtype=torch.float64)
    held = HeldActions(us, t)
    at = lambda s: float(held(torch.tensor(s, dtype=torch.float64))[0, 0])  # noqa: E731
    assert at(-1.0) == 10.0 and at(0.0) == 10.0 and at(0.49) == 10.0
    assert at(0.5) == 20.0 and at(0.99) == 20.0  # a switch time belongs to the new interval
    assert at(1.0) == 30.0 and at(5.0) == 30.0


def test_no_actions(rng):
    phys = LinearPhysics(A, np.zeros((2, 0)))
    field = HybridDynamics(phys.state_names, (), phys, None)
    x0 = as_t(rng.normal(size=(2, 2)))
    us = torch.zeros(2, 10, 0, dtype=torch.float64)
    xs = integrate(field, x0, us, as_t(np.arange(11) * 0.1), substeps=10)
    expected = x0.numpy() @ sl.expm(A * 1.0).T
    np.testing.assert_allclose(xs[:, -1].numpy(), expected, atol=1e-8)


def test_gradcheck_through_short_rollout(rng):
    phys = PendulumPhysics(w0=2.0, damping=0.1, gain=1.0)
    field = HybridDynamics(phys.state_names, phys.action_names, phys, None)
    t = as_t(np.arange(6) * 0.1)
    x0 = as_t(rng.normal(size=(2, 2))).requires_grad_()
    us = as_t(rng.normal(size=(2, 5, 1))).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: integrate(field, a, b, t), (x0, us))


def test_adjoint_gradients_match_direct(rng):
    field = pendulum_hybrid(PendulumPhysics(w0=2.0))
    t = as_t(np.arange(11) * 0.05)
    x0, us = as_t(rng.normal(size=(3, 2))), as_t(rng.normal(size=(3, 10, 1)))
    grads = []
    for adjoint in (False, True):
        field.zero_grad()
        integrate(field, x0, us, t, adjoint=adjoint).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in field.parameters()]))
    # the adjoint solves its own ODE backwards with rk4: equal up to discretization error
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-4, atol=1e-5)


def test_unknown_solver_lists_valid_names(problem):
    x0, us, t = problem
    with pytest.raises(UnknownNameError, match=r"Unknown solver 'rk5'.*'dopri5'.*'rk4'"):
        integrate(linear_field(), as_t(x0), as_t(us), as_t(t), solver="rk5")
    assert {"rk4", "euler", "midpoint", "dopri5", "bosh3"} <= set(SOLVERS)


def test_shape_errors(problem):
    x0, us, t = problem
    f = linear_field()
    with pytest.raises(ShapeError, match=r"`x0` must be \(batch, n_x\) = \(batch, 2\).*\(3, 3\)"):
        integrate(f, as_t(np.zeros((3, 3))), as_t(us), as_t(t))
    with pytest.raises(ShapeError, match=r"`us` must be .*\(3, 100, 1\).*\(3, 100, 2\)"):
        integrate(f, as_t(x0), as_t(np.zeros((3, 100, 2))), as_t(t))
    with pytest.raises(ShapeError, match="`us` has 50 time rows but `t` has 101"):
        integrate(f, as_t(x0), as_t(us[:, :50]), as_t(t))


def test_trajectory_convention_accepts_t_plus_one_actions(problem):
    x0, us, t = problem
    f = linear_field()
    padded = np.concatenate([us, us[:, -1:]], axis=1)
    a = integrate(f, as_t(x0), as_t(us), as_t(t))
    b = integrate(f, as_t(x0), as_t(padded), as_t(t))
    assert torch.equal(a, b)


def test_field_forward_contract_with_bare_odeint(problem):
    """A Dynamics module is itself a torchdiffeq field once it holds actions."""
    from torchdiffeq import odeint

    x0, us, t = problem
    f = linear_field()
    tt = as_t(t)
    with f.hold(HeldActions(as_t(us), tt)):
        bare = odeint(f, as_t(x0), tt, method="rk4", options={"perturb": True}).transpose(0, 1)
    assert f.actions is None
    np.testing.assert_allclose(bare.numpy(), zoh_exact(x0, us, t), atol=1e-8)
    with pytest.raises(RuntimeError, match="holds no actions"):
        f(tt[0], as_t(x0))


def test_per_sample_jittered_grids_match_matrix_exponential(rng):
    """Each sample on its own jittered grid (±20 % of dt), batched: exact ZOH solution."""
    n, T, dt = 4, 60, 0.02
    ts = np.stack(
        [np.concatenate([[0.0], np.cumsum(dt * rng.uniform(0.8, 1.2, T))]) for _ in range(n)]
    )
    us = np.repeat(rng.normal(size=(n, T // 3 + 1, 1)), 3, axis=1)[:, :T]
    x0 = rng.normal(size=(n, 2))
    xs = integrate(linear_field(), as_t(x0), as_t(us), as_t(ts), solver="rk4", substeps=2).numpy()
    assert xs.shape == (n, T + 1, 2)
    for i in range(n):
        exact = zoh_exact(x0[i : i + 1], us[i : i + 1], ts[i])[0]
        np.testing.assert_allclose(xs[i], exact, atol=1e-8, rtol=0)
    # an adaptive solver on the same per-sample grids
    xd = integrate(linear_field(), as_t(x0), as_t(us), as_t(ts), solver="dopri5").numpy()
    for i in range(n):
        exact = zoh_exact(x0[i : i + 1], us[i : i + 1], ts[i])[0]
        np.testing.assert_allclose(xd[i], exact, atol=1e-6, rtol=0)


def test_per_sample_grid_shape_error():
    with pytest.raises(ShapeError, match=r"Per-sample times `t` must be \(batch, T\+1\)"):
        integrate(linear_field(), torch.zeros(2, 2), torch.zeros(2, 3, 1), torch.zeros(3, 4))


def test_angle_embedding_makes_the_residual_periodic():
    from hybridwm.dynamics import MLP, HybridDynamics

    torch.manual_seed(0)
    names = ("theta", "omega")
    res = MLP((8,), init_scale=1.0).build(3 + 1, 2)
    dyn = HybridDynamics(names, ("u",), None, res, angles=("theta",)).double()
    assert dyn.n_embed == 3 and dyn.embedding.angles == ("theta",)
    x = torch.tensor(
        [[0.3, 1.0], [0.3 + 2 * np.pi, 1.0], [0.3 - 6 * np.pi, 1.0]], dtype=torch.float64
    )
    f = dyn.vector_field(x, torch.ones(3, 1, dtype=torch.float64))
    torch.testing.assert_close(f[1], f[0])
    torch.testing.assert_close(f[2], f[0])
    with pytest.raises(ShapeError, match="embed to 3 columns"):
        HybridDynamics(names, ("u",), None, MLP((8,)).build(3, 2), angles=("theta",))
    with pytest.raises(ShapeError, match=r"Angles \['phi'\] are not states"):
        HybridDynamics(names, ("u",), None, res, angles=("phi",))


@pytest.mark.parametrize("solver", ["euler", "midpoint", "rk4"])
@pytest.mark.parametrize("grid", ["shared", "per-sample"])
@pytest.mark.parametrize("substeps", [1, 3])
def test_fixed_step_loop_is_bit_identical_to_torchdiffeq(rng, solver, grid, substeps):
    """The fixed-step loop (the default without the adjoint) gives torchdiffeq's states bit for
    bit, and its gradients up to the order of summation; passing ``options`` sends the same solve
    through torchdiffeq."""
    field = pendulum_hybrid(PendulumPhysics(w0=2.0, damping=0.1), angles=("theta",))
    n, T = 4, 12
    if grid == "shared":  # non-uniform, shared by the batch
        t = as_t(np.concatenate([[0.0], np.cumsum(rng.uniform(0.03, 0.07, T))]))
    else:
        t = as_t(np.cumsum(rng.uniform(0.03, 0.07, (n, T + 1)), axis=1))
    x0 = as_t(rng.normal(size=(n, 2))).requires_grad_()
    us = as_t(rng.normal(size=(n, T, 1))).requires_grad_()
    runs = []
    for options in (None, {"perturb": True}):  # the loop, then torchdiffeq's odeint
        field.zero_grad()
        xs = integrate(field, x0, us, t, solver=solver, substeps=substeps, options=options)
        gx, gu = torch.autograd.grad(xs.pow(2).sum(), (x0, us))
        runs.append((xs.detach(), gx, gu))
    assert torch.equal(runs[0][0], runs[1][0])
    for fast, reference in zip(runs[0][1:], runs[1][1:], strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-13, atol=1e-13)


def test_fixed_step_and_step_sizes_are_what_integrate_takes():
    from hybridwm.dynamics.integrate import fixed_step, step_sizes

    t = torch.tensor([0.0, 0.1, 0.25, 0.45], dtype=torch.float64)
    h = step_sizes(t, 2)
    assert h.shape == (6,) and torch.allclose(h.reshape(3, 2).sum(1), t[1:] - t[:-1])
    assert torch.equal(step_sizes(t, 1), t[1:] - t[:-1])
    stage = fixed_step("rk4")
    y = torch.tensor([[1.0]], dtype=torch.float64)
    # dy/dt = -y: one 3/8-rule step of 0.1 is exp(-0.1) to fourth order
    assert abs(float(y + stage(lambda x: -x, y, torch.tensor(0.1))) - math.exp(-0.1)) < 1e-6
    with pytest.raises(ConfigError, match=r"`method` must be a fixed-step solver .* 'dopri5'"):
        fixed_step("dopri5")
    with pytest.raises(UnknownNameError, match=r"rk5"):
        fixed_step("rk5")
