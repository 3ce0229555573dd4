"""The vector-field contract: shapes, exactness vs numpy/pysindy, mask, gradients, round trip."""

from __future__ import annotations

import numpy as np
import pysindy as ps
import pytest
import torch

from hybridwm.errors import ShapeError
from hybridwm.physics import DiscoverConfig, PhysicsModel, PhysicsVectorField, declare, discover


@pytest.fixture(scope="module")
def model(pendulum_data):
    cfg = DiscoverConfig(library="trig-poly", action_products=("cos(theta)",), threshold=0.01)
    return discover(pendulum_data, config=cfg)


def test_contract_shapes_and_attributes(model, rng):
    field = model.vector_field()
    assert isinstance(field, torch.nn.Module) and isinstance(field, PhysicsVectorField)
    assert field.state_names == ("theta", "omega") and field.action_names == ("torque",)
    x = torch.tensor(rng.normal(size=(5, 3, 2)))
    u = torch.tensor(rng.normal(size=(5, 3, 1)))
    assert field(x, u).shape == (5, 3, 2)
    assert field(x[0, 0], u[0, 0]).shape == (2,)
    assert not any(p.requires_grad for p in field.parameters())
    with pytest.raises(
        ShapeError, match=r"u must have shape \(\.\.\., 1\) for actions \['torque'\]"
    ):
        field(x, torch.zeros(5, 3, 2, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"x must have shape \(\.\.\., 2\)"):
        field(torch.zeros(4, 3, dtype=torch.float64), u[0])


def test_matches_numpy_and_pysindy_predict(model, pendulum_data, rng):
    x = rng.normal(size=(200, 2)) * [2.0, 3.0]
    u = rng.normal(size=(200, 1))
    out = model.vector_field()(torch.tensor(x), torch.tensor(u)).numpy()
    np.testing.assert_allclose(out, model.predict(x, u), rtol=0, atol=1e-10)
    sindy = ps.SINDy(feature_library=model.library.to_pysindy(), optimizer=ps.STLSQ(threshold=0.01))
    tr = pendulum_data[0]
    sindy.fit(tr.x, t=tr.t, u=tr.u, feature_names=["theta", "omega", "torque"])
    sindy.optimizer.coef_ = model.coef_array  # the equivalent pysindy model
    np.testing.assert_allclose(out, sindy.predict(x, u=u), rtol=0, atol=1e-10)


def test_forward_is_features_times_used_coefficients(model, rng):
    field = model.vector_field()
    x = torch.tensor(rng.normal(size=(3, 7, 2)))
    u = torch.tensor(rng.normal(size=(3, 7, 1)))
    feats, coef = field.features(x, u), field.used_coefficients()
    n_used = int(model.mask.any(0).sum())
    assert feats.shape == (3, 7, n_used) and coef.shape == (n_used, 2)
    torch.testing.assert_close(feats @ coef, field(x, u), rtol=0, atol=0)
    with pytest.raises(ShapeError, match=r"u must have shape \(\.\.\., 1\)"):
        field.features(x, None)


def test_gradcheck_wrt_x(model, rng):
    field = model.vector_field()
    x = torch.tensor(rng.normal(size=(4, 2)), requires_grad=True)
    u = torch.tensor(rng.normal(size=(4, 1)))
    assert torch.autograd.gradcheck(lambda xx: field(xx, u), (x,))


def test_trainable_keeps_mask_and_round_trips(model, rng):
    field = model.vector_field(trainable=True)
    trainable = [p for p in field.parameters() if p.requires_grad]
    assert len(trainable) == 1 and trainable[0].shape == (2, len(model.feature_names))
    opt = torch.optim.SGD(field.parameters(), lr=0.1)
    x = torch.tensor(rng.normal(size=(64, 2)))
    u = torch.tensor(rng.normal(size=(64, 1)))
    loss = (field(x, u) - 1.0).pow(2).mean()
    loss.backward()
    opt.step()
    C = field.coefficient_matrix().detach().numpy()
    assert np.all(C[~model.mask] == 0)
    assert not np.allclose(C[model.mask], model.coef_array[model.mask])
    back = PhysicsModel.from_vector_field(field)
    np.testing.assert_allclose(back.coef_array, C, rtol=0, atol=0)
    assert back.n_terms == model.n_terms
    np.testing.assert_allclose(
        back.predict(x.numpy(), u.numpy()), field(x, u).detach().numpy(), atol=1e-10
    )


def test_float32_and_no_action_model(rng):
    m = PhysicsModel(
        ("a", "b"), (), ["a", "b", "a*b"], np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.5]])
    )
    f64 = m.vector_field()
    x = torch.tensor(rng.normal(size=(6, 2)))
    np.testing.assert_allclose(f64(x).numpy(), m.predict(x.numpy()), atol=1e-12)
    np.testing.assert_allclose(
        f64(x, torch.zeros(6, 0, dtype=torch.float64)).numpy(), m.predict(x.numpy())
    )
    f32 = m.vector_field(dtype=torch.float32)
    assert f32(x.float()).dtype == torch.float32


def test_declared_parameters_trainable_with_bounds(rng):
    prior = declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) - c*omega + k*torque"],
        parameters={"w0": 3.0, "c": 0.1, "k": 2.0},
        bounds={"w0": (1.0, 4.0), "c": (0.0, None)},
        fixed=["k"],
        action_names=["torque"],
    )
    x = torch.tensor(rng.normal(size=(32, 2)))
    u = torch.tensor(rng.normal(size=(32, 1)))
    exact = prior.vector_field()
    np.testing.assert_allclose(
        exact(x, u).numpy(), prior.predict(x.numpy(), u.numpy()), rtol=0, atol=1e-10
    )
    assert not any(p.requires_grad for p in exact.parameters())
    field = prior.vector_field(trainable=True)
    assert field.free_parameter_names == ("w0", "c")
    assert field.parameter_values() == pytest.approx({"w0": 3.0, "c": 0.1, "k": 2.0}, rel=1e-9)
    np.testing.assert_allclose(
        field(x, u).detach().numpy(), prior.predict(x.numpy(), u.numpy()), atol=1e-8
    )
    opt = torch.optim.SGD(field.parameters(), lr=50.0)
    for _ in range(20):  # push w0 up and c down hard: bounds must hold
        opt.zero_grad()
        (
            field(x, u)[..., 1] * torch.sin(x[..., 0]) + field(x, u)[..., 1] * x[..., 1]
        ).mean().backward()
        opt.step()
    vals = field.parameter_values()
    assert 1.0 <= vals["w0"] <= 4.0 and vals["c"] >= 0.0 and vals["k"] == 2.0
    fitted = PhysicsModel.from_vector_field(field)
    assert fitted.parameter_values == pytest.approx(vals)
    assert torch.autograd.gradcheck(
        lambda xx: exact(xx, u[:3]), (x[:3].clone().requires_grad_(True),)
    )


def test_frozen_is_the_forward_pass_as_a_plain_function(model, rng):
    trained = model.vector_field(trainable=True)
    x = torch.as_tensor(rng.normal(size=(7, 2)))
    u = torch.as_tensor(rng.normal(size=(7, model.n_u)))
    field = trained.eval().frozen()
    with torch.no_grad():
        torch.testing.assert_close(field(x, u), trained(x, u), rtol=0.0, atol=1e-15)
    assert not field(x, u).requires_grad  # fixed values: no autograd through the coefficients
    declared = declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) + b*min(torque, 1.0)"],
        {"a": 9.0, "b": {"value": 2.0, "bounds": [0.0, 5.0]}},
        action_names=["torque"],
    ).vector_field(trainable=True)
    xd, ud = torch.randn(5, 2, dtype=torch.float64), 3 * torch.randn(5, 1, dtype=torch.float64)
    with torch.no_grad():  # min() stays exact, as in evaluation mode
        torch.testing.assert_close(declared.frozen()(xd, ud), declared.eval()(xd, ud))
