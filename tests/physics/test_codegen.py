"""Generated code: the hoisted split gives the same numbers as the one-function form, and the
shorter spellings (subtraction, reciprocal, one unbind per argument) round as the long ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.physics.codegen import compile_expressions, compile_hoisted
from hybridwm.physics.expressions import parse_expression, smooth_saturation
from hybridwm.physics.features import FeatureLibrary

STATES, ACTIONS, PARAMS = ("x", "v"), ("f",), ("J", "M", "m", "fmax", "vs")
FEATURES = [
    "v/(J*M - m**2*cos(x)**2)",
    "cos(x)*clip(f, -fmax, fmax)/(J*M - m**2*cos(x)**2)",
    "v/sqrt(v**2 + vs**2)",
    "max(v, 0, sharpness=3.0)*sqrt(abs(x))",
    "J*M",
    "m - 2*x - 3*v*sin(x)",
    "1",
    "pi*x",
]


def _inputs(rng, requires_grad=False):
    x = torch.tensor(rng.normal(size=(50, 2)) * [1.5, 2.0], requires_grad=requires_grad)
    u = torch.tensor(rng.normal(size=(50, 1)) * 15.0)
    p = torch.tensor([0.045, 1.4, 0.07, 8.0, 0.05], dtype=torch.float64)
    p.requires_grad_(requires_grad)
    return x, u, p


@pytest.fixture(scope="module")
def exprs():
    names = STATES + ACTIONS + PARAMS
    return [parse_expression(f, names) for f in FEATURES]


@pytest.mark.parametrize("smooth", [False, True])
def test_hoisted_functions_equal_the_plain_one_to_the_last_bit(exprs, rng, smooth):
    plain = compile_expressions(exprs, (STATES, ACTIONS, PARAMS), backend="torch")
    hoisted = compile_hoisted(exprs, STATES, ACTIONS, PARAMS)
    x, u, p = _inputs(rng)
    with smooth_saturation(5.0, enabled=smooth):
        want = plain(x, u, p)
        got = hoisted.evaluate(x, u, hoisted.prepare(p))
    assert got.shape == (50, len(FEATURES))
    assert torch.equal(got, want)


def test_prepare_computes_the_subterms_of_the_parameters_once(exprs, rng):
    hoisted = compile_hoisted(exprs, STATES, ACTIONS, PARAMS)
    _, _, p = _inputs(rng)
    q = dict(zip(hoisted.names, hoisted.prepare(p).tolist(), strict=True))
    values = list(q.values())
    assert 0.045 * 1.4 in values and 0.07**2 in values and -8.0 in values  # J*M, m^2, -fmax
    assert "(-1.0*" not in hoisted.evaluate.__source__  # -fmax is read from q


def test_gradients_of_the_hoisted_split_match_the_plain_function(exprs, rng):
    plain = compile_expressions(exprs, (STATES, ACTIONS, PARAMS), backend="torch")
    hoisted = compile_hoisted(exprs, STATES, ACTIONS, PARAMS)
    x, u, p = _inputs(rng, requires_grad=True)
    w = torch.tensor(rng.normal(size=(50, len(FEATURES))))
    want = torch.autograd.grad((plain(x, u, p) * w).sum(), (x, p))
    got = torch.autograd.grad((hoisted.evaluate(x, u, hoisted.prepare(p)) * w).sum(), (x, p))
    assert torch.equal(got[0], want[0])
    torch.testing.assert_close(got[1], want[1], rtol=1e-13, atol=0)


def test_subtraction_and_reciprocal_round_as_the_sum_of_the_negated_term(rng):
    names = ("a", "b", "c", "d")
    exprs = [parse_expression(t, names) for t in ("a - 3*b + c - b*d - 2", "1/(a - b)")]
    cols = rng.normal(size=(1000, 4))
    out = compile_expressions(exprs, (names,))(cols)
    # the long form: every term of the sum (as sympy orders them) added left to right
    terms = [compile_expressions([t], (names,))(cols)[:, 0] for t in exprs[0].args]
    assert any(t.as_coeff_Mul()[0] < 0 for t in exprs[0].args[1:])
    want = terms[0]
    for t in terms[1:]:
        want = want + t
    assert np.array_equal(out[:, 0], want)
    assert np.array_equal(out[:, 1], 1.0 / (cols[:, 0] + (-1.0 * cols[:, 1])))
    torch_fn = compile_expressions(exprs, (names,), backend="torch")
    assert torch.equal(torch_fn(torch.tensor(cols)), torch.tensor(out))
    assert "torch.reciprocal" in torch_fn.__source__ and " - " in torch_fn.__source__


def test_torch_function_of_some_columns_equals_those_of_all(rng):
    lib = FeatureLibrary(FEATURES, STATES, ACTIONS, PARAMS)
    x, u, p = _inputs(rng)
    full = lib.torch_function()(x, u, p)
    assert torch.equal(lib.torch_function([5, 1])(x, u, p), full[:, [5, 1]])
    hoisted = lib.torch_hoisted([2, 4])
    assert torch.equal(hoisted.evaluate(x, u, hoisted.prepare(p)), full[:, [2, 4]])
    assert lib.torch_function([5, 1]) is lib.torch_function((5, 1))  # compiled once


def test_no_parameters_or_no_columns():
    hoisted = compile_hoisted([parse_expression("x*v", STATES)], STATES, (), ())
    x = torch.ones(3, 2, dtype=torch.float64)
    q = hoisted.prepare(torch.zeros(0, dtype=torch.float64))
    assert q.shape == (0,) and hoisted.names == ()
    assert torch.equal(hoisted.evaluate(x, x[:, :0], q), torch.ones(3, 1, dtype=torch.float64))
    empty = compile_hoisted([], STATES, (), ("k",))
    assert empty.evaluate(x, x[:, :0], empty.prepare(torch.ones(1))).shape == (3, 0)
