"""Vector fields: hybrid composition by name, normalization, MLP specs, latent encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.dynamics import (
    MLP,
    Encoder,
    HybridDynamics,
    LinearPhysics,
    Normalizer,
    ODEModel,
    PendulumPhysics,
)
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError


def test_small_init_residual_starts_at_physics():
    torch.manual_seed(0)
    phys = PendulumPhysics(w0=3.0)
    dyn = HybridDynamics(
        phys.state_names, phys.action_names, phys, MLP((32, 32), init_scale=1e-3).build(3, 2)
    ).double()
    x, u = torch.randn(50, 2, dtype=torch.float64), torch.randn(50, 1, dtype=torch.float64)
    full, p = dyn.vector_field(x, u), dyn.physics_term(x, u)
    assert (full - p).abs().max() < 1e-2 * p.abs().max()
    assert torch.allclose(full, p + dyn.residual_term(x, u))


def test_physics_acts_on_its_coordinates_by_name():
    phys = PendulumPhysics(w0=2.0)  # states theta, omega
    names = ("omega", "z0", "theta")
    dyn = HybridDynamics(names, ("torque",), phys, None)
    x = torch.tensor([[0.5, 7.0, 0.3]], dtype=torch.float64)
    u = torch.tensor([[0.2]], dtype=torch.float64)
    out = dyn.vector_field(x, u)
    ref = phys(torch.tensor([[0.3, 0.5]], dtype=torch.float64), u)
    assert out[0, 2] == ref[0, 0] and out[0, 0] == ref[0, 1] and out[0, 1] == 0


def test_physics_names_must_exist_in_model():
    phys = PendulumPhysics()
    with pytest.raises(
        ShapeError, match=r"declared over states \['theta', 'omega'\].*\['x', 'v'\]"
    ):
        HybridDynamics(("x", "v"), ("torque",), phys, None)


def test_residual_sees_normalized_inputs_and_scales_outputs():
    norm = Normalizer(1, 1).set(
        x_mean=[10.0], x_std=[2.0], u_mean=[1.0], u_std=[4.0], dx_scale=[100.0]
    )
    mlp = MLP((4,), init_scale=1.0).build(2, 1).double()
    phys = LinearPhysics(np.zeros((1, 1)), np.zeros((1, 1)))
    dyn = HybridDynamics(phys.state_names, phys.action_names, None, mlp, norm)
    x = torch.tensor([[14.0]], dtype=torch.float64)
    u = torch.tensor([[9.0]], dtype=torch.float64)
    z = torch.tensor([[2.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(dyn.vector_field(x, u), 100.0 * mlp(z))
    assert torch.allclose(dyn.residual_normalized(x, u), mlp(z))


def test_normalizer_replaces_zero_spread():
    norm = Normalizer(2, 0).set(x_std=[0.0, 3.0], dx_scale=[np.nan, 2.0])
    assert norm.x_std.tolist() == [1.0, 3.0] and norm.dx_scale.tolist() == [1.0, 2.0]
    with pytest.raises(ShapeError, match=r"x_mean needs shape \(2,\)"):
        norm.set(x_mean=[1.0])


def test_mlp_spec_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown activation 'swish'.*'silu'"):
        MLP(activation="swish")
    with pytest.raises(ConfigError, match=r"MLP.hidden.1 must be greater than 0. Got 0"):
        MLP(hidden=(8, 0))
    with pytest.raises(ConfigError, match=r"MLP.hidden.0 must be a valid integer.*Got 2.5"):
        MLP(hidden=(2.5,))
    with pytest.raises(ConfigError, match=r"MLP.hidden must be a sequence .* e.g. \(64,\)"):
        MLP(hidden=64)
    with pytest.raises(ConfigError, match=r"MLP.init_scale must be greater than or equal to 0"):
        MLP(init_scale=-0.1)
    with pytest.raises(ConfigError, match="needs a physics module, a residual, or both"):
        HybridDynamics(("a",), (), None, None)


def test_mlp_spec_is_positional_and_round_trips_through_a_dict():
    spec = MLP((16,), init_scale=0.1)
    assert (spec.hidden, spec.activation, spec.init_scale) == ((16,), "tanh", 0.1)
    data = spec.to_dict()
    assert data == {"hidden": [16], "activation": "tanh", "init_scale": 0.1}
    assert MLP.from_dict(data) == spec
    assert spec.build(3, 2).net[0].out_features == 16


def test_odemodel_encoder_places_hidden_coordinates():
    phys = PendulumPhysics()
    dyn = HybridDynamics(("theta", "omega"), ("torque",), phys, None)
    enc = Encoder(1, 1, 1, window=3, hidden=(8,)).double()
    model = ODEModel(dyn, ("theta",), enc)
    obs = torch.randn(5, 4, 1, dtype=torch.float64)
    us = torch.randn(5, 4, 1, dtype=torch.float64)
    t = torch.arange(4, dtype=torch.float64) * 0.1
    x0 = model.initial_state(obs, us, t)
    assert x0.shape == (5, 2)
    assert torch.equal(x0[:, 0], obs[:, 0, 0])
    assert torch.equal(x0[:, 1:], enc(obs, us, t))
    pred = model(obs, us[:, :3], t)
    assert pred.shape == (5, 4, 1) and torch.equal(pred[:, 0], obs[:, 0])
    with pytest.raises(ShapeError, match="an Encoder is needed"):
        ODEModel(dyn, ("theta",), None)


def test_fully_observed_model_builds_no_encoder():
    phys = PendulumPhysics()
    dyn = HybridDynamics(phys.state_names, phys.action_names, phys, None)
    model = ODEModel(dyn, None, Encoder(2, 1, 1))
    assert model.encoder is None and model.fully_observed


def test_trainable_reference_physics_never_writes_into_the_callers_array() -> None:
    a = np.array([[0.0, 1.0], [-2.0, -0.1]])
    b = np.array([[0.0], [1.0]])
    phys = LinearPhysics(a, b, trainable=True)
    with torch.no_grad():
        for p in phys.parameters():
            p.add_(1.0)
    np.testing.assert_array_equal(a, [[0.0, 1.0], [-2.0, -0.1]])
    np.testing.assert_array_equal(b, [[0.0], [1.0]])


def test_tanh_takes_the_sigmoid_identity_only_for_large_batches_outside_autograd():
    from hybridwm.dynamics.fields import FAST_TANH_MIN, FAST_TANH_MIN_FLOAT64, Tanh

    act = Tanh()
    x = torch.linspace(-30.0, 30.0, 4 * FAST_TANH_MIN, dtype=torch.float64)
    with torch.inference_mode():
        fast = act(x)
    assert (fast - torch.tanh(x)).abs().max() < 5e-16
    assert not torch.equal(fast, torch.tanh(x))  # the identity did run (it differs by round-off)
    assert (act(x.float()) - torch.tanh(x.float())).abs().max() < 3e-7
    small = x[: FAST_TANH_MIN_FLOAT64 - 1]
    assert torch.equal(act(small), torch.tanh(small))
    mid = torch.linspace(-3.0, 3.0, FAST_TANH_MIN_FLOAT64, dtype=torch.float64)
    with torch.inference_mode():  # float64 switches at fewer elements than float32
        assert not torch.equal(act(mid), torch.tanh(mid))
        assert torch.equal(act(mid.float()), torch.tanh(mid.float()))
    tracked = x.clone().requires_grad_(True)  # training: torch.tanh and its own gradient
    out = act(tracked)
    assert torch.equal(out, torch.tanh(x))
    out.sum().backward()
    assert torch.allclose(tracked.grad, 1 - torch.tanh(x) ** 2)
    assert isinstance(MLP((4,)).build(2, 1).net[1], torch.nn.Tanh)  # still an nn.Tanh
