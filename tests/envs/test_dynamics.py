"""as_dynamics: the planners' dynamics(state, action) -> next_state contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.envs import as_dynamics
from hybridwm.errors import ConfigError, NotFittedError
from hybridwm.models import KINDS, WorldModel

from .conftest import ACTIONS, DT, STATES


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_and_torch_batches(models, kind):
    model = models[kind]
    dynamics = as_dynamics(model, DT)
    assert dynamics.state_names == STATES and dynamics.action_names == ACTIONS
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=(7, 3)), rng.uniform(-2, 2, size=(7, 1))
    out = dynamics(x, u)
    assert isinstance(out, np.ndarray) and out.shape == (7, 3)
    np.testing.assert_array_equal(out, model.step(x, u, DT))
    xt = torch.as_tensor(x, dtype=torch.float64)
    ut = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    out_t = dynamics(xt, ut)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.detach().numpy(), out, rtol=0, atol=1e-12)
    out_t.sum().backward()  # differentiable in the actions, for gradient-based planners
    assert ut.grad is not None and torch.isfinite(ut.grad).all()


def test_errors(models):
    with pytest.raises(ConfigError, match="`dt` of as_dynamics must be the model's step"):
        as_dynamics(models["learned"], -1.0)
    with pytest.raises(NotFittedError, match="given to as_dynamics is not fitted"):
        as_dynamics(WorldModel.learned(), DT)
    with pytest.raises(ConfigError, match="`model` of as_dynamics must be a fitted"):
        as_dynamics(lambda x, u: x, DT)
