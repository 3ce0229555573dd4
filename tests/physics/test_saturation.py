"""Declared priors with saturations: finite gradients through sqrt(max(x, 0)), a sharpness per
call, and printed equations that are valid, explicit and consistently substituted."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from hybridwm.errors import ParseError
from hybridwm.physics import PhysicsModel, declare, load_prior, parse_expression


@pytest.mark.parametrize("graph", [False, True], ids=["generated-gradient", "torch-graph"])
def test_sqrt_of_smooth_max_has_a_finite_gradient_at_and_around_zero(graph, monkeypatch):
    # the smooth max underflows to exactly 0 for k*x << 0; torch.sqrt's gradient there is inf,
    # and inf * 0 (the smooth max's own gradient) gave NaN at epoch 2 of a fit
    if graph:  # the torch code's own graph instead of the generated numpy gradient
        monkeypatch.setattr("hybridwm.physics.adjoint.MAX_ROWS", 0)
    else:  # the generated gradient, small as this prior is
        monkeypatch.setattr("hybridwm.physics.adjoint.MIN_NODES", 0)
    prior = declare(["d(x) = -k*sqrt(max(x, 0))"], {"k": 1.0}, sharpness=20.0)
    field = prior.vector_field(trainable=True)
    field.train()
    x = torch.tensor(
        [[-100.0], [-40.0], [-1.0], [-1e-3], [0.0], [1e-12], [1e-3], [1.0]],
        dtype=torch.float64,
        requires_grad=True,
    )
    y = field(x)
    gx, gp = torch.autograd.grad(y.sum(), [x, field.raw_parameters])
    assert torch.isfinite(y).all() and torch.isfinite(gx).all() and torch.isfinite(gp).all()
    assert float(gx[0, 0]) == 0.0  # far below the kink: flat, as the exact max
    # above the kink the gradient is the exact one: d/dx -sqrt(x) = -1/(2 sqrt(x))
    assert float(gx[-1, 0]) == pytest.approx(-0.5, rel=1e-6)
    field.eval()  # exact max: sqrt(0) at x <= 0; the gradient stays finite (clipped at 0)
    gx_eval = torch.autograd.grad(field(x).sum(), x)[0]
    assert torch.isfinite(gx_eval).all() and float(gx_eval[0, 0]) == 0.0


def test_safe_sqrt_works_inside_torch_func_transforms():
    prior = declare(["d(x) = -k*sqrt(x + 1)"], {"k": 2.0})
    field = prior.vector_field()
    x = torch.tensor([[0.0], [3.0]], dtype=torch.float64)
    jac = torch.func.vmap(torch.func.jacrev(field))(x)  # -k / (2 sqrt(x + 1))
    torch.testing.assert_close(jac[:, 0, 0], torch.tensor([-1.0, -0.5], dtype=torch.float64))


def test_sqrt_forward_is_unchanged():
    prior = declare(["d(x) = sqrt(x)"])
    x = torch.linspace(0, 4, 9, dtype=torch.float64)[:, None]
    field = prior.vector_field()
    assert torch.equal(field(x)[:, 0], torch.sqrt(x[:, 0]))


def test_sharpness_per_call_sets_each_saturation_scale(tmp_path):
    path = tmp_path / "prior.toml"
    path.write_text(
        'states = ["h"]\nactions = ["q", "tau"]\nsharpness = 10.0\n'
        'equations = ["d(h) = max(q, 0, sharpness=1e4) + clip(tau, -2, 2, sharpness=5) '
        '+ min(h, 1)"]\n'
    )
    prior = load_prior(path)
    field = prior.vector_field()
    x = torch.tensor([[1.0]], dtype=torch.float64)  # at min(h, 1)'s kink: default k = 10
    u = torch.tensor([[0.0, 2.0]], dtype=torch.float64)  # at max's kink (k = 1e4), clip's (5)
    field.eval()
    assert float(field(x, u)) == pytest.approx(0 + 2 + 1)
    field.train()
    ln2 = np.log(2)
    # each kink is off by log(2)/k of its own k: + for max, - for min (clip's upper side)
    want = 3 + ln2 / 1e4 - ln2 / 5 - ln2 / 10
    assert float(field(x, u)) == pytest.approx(want, abs=1e-6)
    np.testing.assert_allclose(prior.predict([[1.0]], [[0.0, 2.0]]), [[3.0]])  # numpy: exact
    back = PhysicsModel.from_json(prior.to_json())
    assert back.feature_names == prior.feature_names
    assert "max(q, 0, sharpness=10000.0)" in prior.feature_names


def test_sharpness_per_call_without_a_default_smooths_only_that_call():
    prior = declare(["d(h) = max(h, 0, sharpness=100) + min(h, 0)"])
    field = prior.vector_field()
    field.train()
    out = float(field(torch.zeros(1, 1, dtype=torch.float64)))
    assert out == pytest.approx(np.log(2) / 100)  # min stays exact: no default sharpness


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("max(x, 0, sharpness=0)", "sharpness must be a number > 0"),
        ("max(x, 0, sharpness=-1)", "sharpness must be a number > 0"),
        ("max(x, 0, sharpness=x)", "sharpness must be a number > 0"),
        ("max(x, 0, k=3)", "unknown keyword 'k'"),
        ("sin(x, sharpness=3)", "the only keyword argument is sharpness"),
    ],
)
def test_sharpness_keyword_errors(text, match):
    with pytest.raises(ParseError, match=match):
        parse_expression(text, ["x"])


def test_prior_prints_valid_explicit_consistently_substituted_equations():
    prior = declare(
        ["d(h1) = c*min(h1 - x1, q*h1/kc) - a*h1", "d(x1) = -x1 + sqrt(max(h1, 0))"],
        {"a": 1.0, "q": 2.0, "c": 0.25},
        fixed={"kc": 4.0},
    )
    numeric = prior.equations()
    # before: 'd(h1)/dt = 0.25 Min(h1*q/kc, h1 - x1) - 1 h1': no '*', Min, kc left in the term
    assert numeric == [
        "d(h1)/dt = 0.25*min(0.5*h1, h1 - x1) - h1",
        "d(x1)/dt = sqrt(max(0, h1)) - x1",
    ]
    symbolic = prior.equations(symbolic=True)
    assert symbolic == [
        "d(h1)/dt = c*min(h1 - x1, h1*q/kc) - a*h1",
        "d(x1)/dt = sqrt(max(0, h1)) - x1",
    ]
    # both read back (numeric: states only; symbolic: with the parameters) to the same field
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2))
    numeric_back = declare(numeric, state_names=["h1", "x1"])
    np.testing.assert_allclose(numeric_back.predict(x), prior.predict(x), rtol=1e-12)
    symbolic_back = declare(symbolic, prior.parameter_values)
    np.testing.assert_allclose(symbolic_back.predict(x), prior.predict(x), rtol=1e-12)
    assert "min(" in prior.feature_names[0] and "Min" not in repr(prior)


def test_printed_coefficients_keep_sums_in_parentheses():
    prior = declare(["d(x) = (k + 1)*x - (k + 2)*sin(x) - 3"], {"k": 1.0})
    assert prior.equations(symbolic=True) == ["d(x)/dt = -3 + (k + 1)*x - (k + 2)*sin(x)"]
    assert prior.equations() == ["d(x)/dt = -3 + 2*x - 3*sin(x)"]
    expr = parse_expression(prior.equations(symbolic=True)[0].split("=")[1], ["x", "k"])
    assert sp.expand(expr).free_symbols == {sp.Symbol("x", real=True), sp.Symbol("k", real=True)}
