"""The vector field's fast path: only the used features, and the terms of the parameters alone
computed once and shared by every call, with the numbers of the full Theta @ (C * mask).T."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from hybridwm.errors import TrainingError
from hybridwm.physics import PhysicsModel, declare
from hybridwm.physics.expressions import smooth_saturation


@pytest.fixture(scope="module")
def prior():
    """A declared prior with every kind of bounds, a fixed parameter, a clip and a sqrt."""
    return declare(
        [
            "d(theta) = omega",
            "d(omega) = -a*sin(theta) - b*omega - fc*omega/sqrt(omega**2 + vs**2)"
            " + c*clip(torque, -tmax, tmax)",
        ],
        {
            "a": {"value": 11.0, "bounds": (0.0, 50.0)},
            "b": {"value": 0.2, "bounds": (0.0, None)},
            "fc": {"value": 0.02, "bounds": (None, 1.0)},
            "c": 2.2,
            "vs": {"value": 0.1, "fixed": True},
            "tmax": {"value": 1.5, "bounds": (0.5, 5.0)},
        },
        action_names=["torque"],
        sharpness=20.0,
    )


@pytest.fixture(scope="module")
def sparse():
    """A discovered-style model using 3 of its 6 features."""
    coef = np.array([[0, 0, 1.0, 0, 0, 0], [0, -14.7, -0.15, 0, 0, 3.0]])
    features = ["1", "sin(theta)", "omega", "cos(theta)", "omega**2", "torque"]
    return PhysicsModel(("theta", "omega"), ("torque",), features, coef)


def _batch(rng, n=64):
    x = torch.tensor(rng.normal(size=(n, 2)) * [1.5, 3.0])
    u = torch.tensor(rng.normal(size=(n, 1)) * 2.0)
    return x, u


def _reference(field, x, u):
    """The full formulation: every feature, times the masked coefficient matrix."""
    with smooth_saturation(field.sharpness, enabled=field.training):
        theta = field._template.library.torch_function()(x, u, field.parameter_tensor())
        return theta @ field.coefficient_matrix().transpose(0, 1)


@pytest.mark.parametrize("kind", ["prior", "sparse"])
@pytest.mark.parametrize("trainable", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_forward_equals_the_full_formulation_to_the_last_bit(
    request, rng, kind, trainable, training
):
    field = request.getfixturevalue(kind).vector_field(trainable=trainable)
    field.train(training)
    x, u = _batch(rng)
    assert torch.equal(field(x, u), _reference(field, x, u))
    assert torch.equal(field(x, u), _reference(field, x, u))  # the shared terms again


def test_only_used_features_are_evaluated(sparse):
    field = sparse.vector_field(trainable=True)
    assert field.used_features.tolist() == [1, 2, 5]
    assert "cos" not in field._features.__source__


@pytest.mark.parametrize("kind", ["prior", "sparse"])
def test_gradients_through_many_calls_equal_the_full_formulation(request, rng, kind):
    field = request.getfixturevalue(kind).vector_field(trainable=True)
    (param,) = [p for p in field.parameters() if p.requires_grad]
    x, u = _batch(rng)
    xs = [x * s for s in (1.0, 0.5, -0.7)]
    (got,) = torch.autograd.grad(sum(field(xi, u).square().sum() for xi in xs), param)
    (want,) = torch.autograd.grad(sum(_reference(field, xi, u).square().sum() for xi in xs), param)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


def test_one_shared_node_per_parameter_values(prior, rng):
    field = prior.vector_field(trainable=True)
    x, u = _batch(rng)
    outs = [field(x * s, u) for s in (1.0, 2.0)]
    nodes = {id(out.grad_fn.next_functions[1][0]) for out in outs}
    assert len(nodes) == 1  # both calls read the same transposed coefficients
    opt = torch.optim.SGD([field.raw_parameters], lr=0.1)
    field(x, u).sum().backward()
    before = field(x, u).detach()
    opt.step()  # an in-place update: the next call recomputes the terms
    after = field(x, u)
    assert not torch.equal(after.detach(), before)
    assert torch.equal(after, _reference(field, x, u))


def test_separate_losses_backpropagate_separately(prior, rng):
    """Two losses sharing the terms each get their own backward (no retain_graph)."""
    field = prior.vector_field(trainable=True)
    x, u = _batch(rng)
    first, second = field(x, u).square().sum(), field(-x, u).sum()
    first.backward()
    second.backward()
    separate = field.raw_parameters.grad.clone()
    field.raw_parameters.grad = None
    (field(x, u).square().sum() + field(-x, u).sum()).backward()
    torch.testing.assert_close(separate, field.raw_parameters.grad, rtol=1e-13, atol=0)


def test_modes_and_requires_grad_are_respected(prior, rng):
    field = prior.vector_field()
    x, u = _batch(rng)
    with torch.no_grad():
        field(x, u)
    field.raw_parameters.requires_grad_(True)  # e.g. adaptation of a frozen prior
    (grad,) = torch.autograd.grad(field(x, u).sum(), field.raw_parameters)
    assert grad.abs().sum() > 0
    field.eval()  # exact min/max: other values where the clip is near its kink
    assert torch.equal(field(x, u), _reference(field, x, u))


def test_second_derivatives_and_torch_func(prior, rng):
    field = prior.vector_field(trainable=True)
    x, u = _batch(rng, 8)
    raw = field.raw_parameters

    def loss(r):
        return torch.func.functional_call(field, {"raw_parameters": r}, (x, u)).square().sum()

    (grad,) = torch.autograd.grad(field(x, u).square().sum(), raw, create_graph=True)
    rows = [torch.autograd.grad(g, raw, retain_graph=True)[0] for g in grad]
    hessian = torch.autograd.functional.hessian(loss, raw.detach())
    torch.testing.assert_close(torch.stack(rows), hessian, rtol=1e-10, atol=1e-12)
    jac = torch.func.jacrev(loss)(raw.detach())
    torch.testing.assert_close(jac, grad.detach(), rtol=1e-12, atol=0)


def test_backward_after_an_in_place_update_is_refused(prior, rng):
    field = prior.vector_field(trainable=True)
    x, u = _batch(rng)
    opt = torch.optim.SGD([field.raw_parameters], lr=0.1)
    field(x, u).sum().backward()
    stale = field(x, u).sum()
    opt.step()
    with pytest.raises(TrainingError, match=r"modified in place .* Compute the loss again"):
        stale.backward()


def test_copies_device_and_dtype_changes(prior, rng):
    field = prior.vector_field(trainable=True)
    x, u = _batch(rng)
    params = list(field.parameters())
    out = field(x, u).sum()
    del field  # the graph does not need the module
    out.backward()
    assert params[0].grad is not None
    field = prior.vector_field(trainable=True)
    field(x, u)
    twin = copy.deepcopy(field)
    assert torch.equal(twin(x, u), field(x, u)) and twin._shared[2] is not field._shared[2]
    single = copy.deepcopy(field).float()
    assert single(x.float(), u.float()).dtype == torch.float32
    with torch.device("meta"):  # how a saved model's shapes are probed
        assert prior.vector_field(trainable=True)(x.to("meta"), u.to("meta")).shape == (64, 2)
