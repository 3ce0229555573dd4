"""A declared prior's features and their gradient as generated numpy code
(:mod:`hybridwm.physics.adjoint`): the torch code's values to the last bit, the derivative of
every supported function, and the cases that keep torch's own graph."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from hybridwm.physics import adjoint, codegen, declare
from hybridwm.physics.adjoint import features_with_adjoint
from hybridwm.physics.saturation import smooth_saturation

#: one equation per kind of operation the code generator prints, over states (a, b), action
#: force and parameters (p, n, c); ``b`` stays positive in the batches below (logs, roots)
EQUATIONS = [
    "d(a) = p*sin(a) + cos(a)*tan(0.3*a) - exp(-a**2)*c + log(b)*tanh(a) + n*sinh(0.5*a)",
    "d(b) = cosh(0.4*a) + atan(a*b) + abs(a)*sign(b) + sqrt(b + c) + 1/sqrt(b) + c/(b + p)"
    " + a**3 - a**(-2)*c + b**1.5 + b**n + clip(force, -c, c) + max(a, b, sharpness=7)"
    " + min(force*a, p) + 2.5",
]
PARAMETERS = {
    "p": {"value": 0.7, "bounds": (0.1, 3.0)},
    "n": {"value": 1.3, "bounds": (0.5, 2.0)},
    "c": {"value": 1.1, "bounds": (0.2, None)},
}


@pytest.fixture(scope="module")
def prior():
    return declare(EQUATIONS, PARAMETERS, action_names=["force"], sharpness=4.0)


@pytest.fixture
def any_size(monkeypatch):
    """The generated node for programs of any size (small ones keep torch's graph)."""
    monkeypatch.setattr(adjoint, "MIN_NODES", 0)


def _inputs(field, n=16, seed=0, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 1.5, n) * rng.choice([-1.0, 1.0], n)
    b = rng.uniform(0.5, 2.0, n)
    x = torch.tensor(np.stack([a, b], -1), dtype=dtype)
    u = torch.tensor(rng.normal(size=(n, 1)) * 2.0, dtype=dtype)
    q = field._shared_terms()[0].detach().to(dtype)
    return x, u, q


def _both(field, x, u, q):
    """The features by the generated node and by the torch code's own graph."""
    node = features_with_adjoint(field._features, field._adjoint, x, u, q)
    return node, field._features(x, u, q)


@pytest.mark.parametrize("smooth", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_values_and_gradients_equal_the_torch_code(prior, smooth, dtype):
    field = prior.vector_field(trainable=True)
    x, u, q = _inputs(field, dtype=dtype)
    x, u, q = (t.requires_grad_() for t in (x, u, q))
    with smooth_saturation(field.sharpness, enabled=smooth):
        node, plain = _both(field, x, u, q)
    assert node.grad_fn.name() == "_AdjointFeaturesBackward"
    assert torch.equal(node, plain)  # the same operations, rounded the same way
    assert node.dtype == dtype
    weights = torch.randn(node.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    got = torch.autograd.grad((node * weights).sum(), (x, u, q))
    want = torch.autograd.grad((plain * weights).sum(), (x, u, q))
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype
        torch.testing.assert_close(g, w, rtol=tol, atol=tol)


def test_gradcheck_against_finite_differences(prior):
    """Every function's derivative rule, checked by finite differences (smooth saturations;
    the exact min/max kinks are away from these points)."""
    field = prior.vector_field(trainable=True)
    x, u, q = (t.requires_grad_() for t in _inputs(field, n=5, seed=3))

    def features(x, u, q):
        with smooth_saturation(field.sharpness, enabled=True):
            return features_with_adjoint(field._features, field._adjoint, x, u, q)

    assert torch.autograd.gradcheck(features, (x, u, q), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize(
    "needs", [(True, False, False), (False, True, False), (False, False, True)]
)
def test_only_the_gradients_asked_for(prior, needs):
    field = prior.vector_field(trainable=True)
    inputs = [t.requires_grad_(need) for t, need in zip(_inputs(field), needs, strict=True)]
    with smooth_saturation(field.sharpness, enabled=True):
        node, plain = _both(field, *inputs)
    wanted = [t for t in inputs if t.requires_grad]
    got = torch.autograd.grad(node.square().sum(), wanted)
    want = torch.autograd.grad(plain.square().sum(), wanted)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    source = field._adjoint.pair(needs).source
    if not needs[2]:
        assert ".sum(1)" not in source  # no sums over the batch for q
        assert source.rstrip().endswith("None")


def test_exact_min_max_split_a_tie_like_torch(any_size):
    prior = declare(["d(a) = max(a, c) + min(a, c)"], {"c": {"value": 0.5, "bounds": (0.0, 1.0)}})
    field = prior.vector_field(trainable=True)
    x = torch.tensor([[0.5], [0.2], [0.9]], dtype=torch.float64, requires_grad=True)
    u = x.new_zeros(3, 0)
    q = field._shared_terms()[0].detach().requires_grad_()
    node, plain = _both(field, x, u, q)  # outside smooth_saturation: exact
    got = torch.autograd.grad(node.sum(), (x, q))
    want = torch.autograd.grad(plain.sum(), (x, q))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_torch_code_runs_where_the_node_would_not_help(prior, monkeypatch):
    field = prior.vector_field(trainable=True)
    assert field._adjoint.graph_nodes >= adjoint.MIN_NODES
    x, u, q = _inputs(field)
    with torch.no_grad():  # no gradient recorded
        assert features_with_adjoint(field._features, field._adjoint, x, u, q).grad_fn is None
    x.requires_grad_()
    small = declare(["d(a) = -k*a"], {"k": {"value": 1.0, "bounds": (0.0, 2.0)}})
    f = small.vector_field(trainable=True)
    out = features_with_adjoint(f._features, f._adjoint, x[:, :1], x[:, :0], f._shared_terms()[0])
    assert out.grad_fn.name() != "_AdjointFeaturesBackward"  # one operation: the graph is cheaper
    monkeypatch.setattr(adjoint, "MAX_ROWS", len(x) - 1)  # a batch above the threshold
    out = features_with_adjoint(field._features, field._adjoint, x, u, q)
    assert out.grad_fn.name() != "_AdjointFeaturesBackward"
    monkeypatch.setattr(adjoint, "MAX_ROWS", len(x))
    out = features_with_adjoint(field._features, field._adjoint, x, u, q)
    assert out.grad_fn.name() == "_AdjointFeaturesBackward"


def test_torch_func_transforms_and_double_backward(prior):
    field = prior.vector_field(trainable=True)
    x, u, q = _inputs(field, n=4)

    def row(xi, ui):
        with smooth_saturation(field.sharpness, enabled=True):
            return features_with_adjoint(field._features, field._adjoint, xi, ui, q)

    jac = torch.func.vmap(torch.func.jacrev(row))(x, u)  # the torch code inside transforms
    x1 = x[:1].clone().requires_grad_()
    (want,) = torch.autograd.grad(row(x1, u[:1])[0, 7], x1)
    torch.testing.assert_close(jac[0, 7], want[0], rtol=1e-12, atol=1e-12)
    # a gradient of a gradient goes through the torch code's graph
    xg = x.clone().requires_grad_()
    assert torch.autograd.gradgradcheck(lambda x_: row(x_, u), (xg,), eps=1e-6, atol=1e-6)


def test_every_generated_function_has_a_derivative_rule():
    handled = set(adjoint._UNARY) | {sp.Min, sp.Max}
    assert set(codegen._FUNC_CODE) <= handled


def test_a_rollout_gradient_equals_the_graphs(prior, monkeypatch):
    """Trained as a vector field (shared terms, many calls, one backward), the parameters get
    the gradient the torch code's graph gives them."""
    field = prior.vector_field(trainable=True).train()
    x0, u, _ = _inputs(field, n=8)

    def loss():
        x = x0
        for _ in range(10):
            x = x + 0.01 * field(x, u)
        return x.square().sum()

    (got,) = torch.autograd.grad(loss(), field.raw_parameters)
    monkeypatch.setattr(adjoint, "MAX_ROWS", 0)  # every call by the torch code
    field._shared = None
    (want,) = torch.autograd.grad(loss(), field.raw_parameters)
    torch.testing.assert_close(got, want, rtol=1e-11, atol=0)


def test_pickled_field_rebuilds_its_generated_gradient(prior):
    import copy

    field = copy.deepcopy(prior.vector_field(trainable=True))
    assert field._adjoint is not None
    x, u, q = _inputs(field)
    out = features_with_adjoint(field._features, field._adjoint, x.requires_grad_(), u, q)
    assert out.grad_fn.name() == "_AdjointFeaturesBackward"


def test_batches_with_more_dimensions(prior):
    """(members, rows, n_x) inputs, as a stacked ensemble evaluates its features."""
    field = prior.vector_field(trainable=True)
    x, u, q = _inputs(field, n=12)
    x3 = x.reshape(3, 4, 2).requires_grad_()
    u3, q = u.reshape(3, 4, 1), q.requires_grad_()
    with smooth_saturation(field.sharpness, enabled=True):
        node, plain = _both(field, x3, u3, q)
    assert node.grad_fn.name() == "_AdjointFeaturesBackward"
    assert node.shape == (3, 4, plain.shape[-1]) and torch.equal(node, plain)
    got = torch.autograd.grad(node.square().sum(), (x3, q))
    want = torch.autograd.grad(plain.square().sum(), (x3, q))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
