"""The off-data PINN term: collocation points weighted by their distance from the training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.dynamics import MLP, HybridDynamics, LinearPhysics, Normalizer
from hybridwm.errors import ConfigError
from hybridwm.training import TrainConfig
from hybridwm.training.pinn import (
    MAX_SUPPORT_POINTS,
    PinnLoss,
    support_points,
    support_weights,
)

A = np.array([[0.0, 1.0], [-4.0, 0.0]])
B = np.array([[0.0], [1.0]])


def dynamics(angles: tuple[str, ...] = ()) -> HybridDynamics:
    torch.manual_seed(0)
    norm = Normalizer(2, 1).set(x_min=[-1.0, -2.0], x_max=[1.0, 2.0], x_std=[0.5, 1.0])
    n_in = 3 + len(angles)
    mlp = MLP((8,), init_scale=1.0).build(n_in, 2)
    return HybridDynamics(("x0", "x1"), ("u0",), LinearPhysics(A, B), mlp, norm, angles=angles)


def test_weights_are_zero_on_the_data_and_grow_with_the_distance():
    dyn = dynamics().double()
    x = torch.tensor([[0.0, 0.0], [0.5, 1.0]], dtype=torch.float64)
    u = torch.zeros(2, 1, dtype=torch.float64)
    support = support_points(dyn, x, u)
    assert support.shape == (2, 3)
    near = torch.tensor([[0.0, 0.0], [0.05, 0.0], [3.0, 0.0]], dtype=torch.float64)
    w = support_weights(dyn, near, torch.zeros(3, 1, dtype=torch.float64), support, 0.5)
    assert w[0] == 0.0 and 0.0 < w[1] < 0.1 and w[2] > 0.999
    # 0.05 in x0 is 0.1 std: weight 1 - exp(-(0.1 / 0.5)^2)
    assert float(w[1]) == pytest.approx(1 - np.exp(-0.04))


def test_angles_are_compared_on_the_circle():
    dyn = dynamics(angles=("x0",)).double()
    support = support_points(
        dyn, torch.tensor([[np.pi - 0.01, 0.0]]), torch.zeros(1, 1, dtype=torch.float64)
    )
    other_side = torch.tensor([[-np.pi + 0.01, 0.0]], dtype=torch.float64)
    w = support_weights(dyn, other_side, torch.zeros(1, 1, dtype=torch.float64), support, 0.5)
    assert float(w[0]) == pytest.approx(1 - np.exp(-((0.02 / 0.5) ** 2)), rel=1e-3)  # not 2π apart


def test_support_keeps_at_most_max_points_evenly_spaced():
    dyn = dynamics().double()
    m = MAX_SUPPORT_POINTS * 2 + 1
    x = torch.linspace(-1, 1, m, dtype=torch.float64).unsqueeze(1).repeat(1, 2)
    support = support_points(dyn, x, torch.zeros(m, 1, dtype=torch.float64))
    assert support.shape[0] == MAX_SUPPORT_POINTS
    assert float(support[0, 0]) == pytest.approx(-2.0) and float(support[-1, 0]) == 2.0


def test_off_data_pinn_ignores_points_on_the_data():
    dyn = dynamics().double()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros(1, 2, dtype=torch.float64)
    u0 = torch.zeros(1, 1, dtype=torch.float64)
    cfg = TrainConfig(n_collocation=1, collocation_box={"x0": (0, 1e-9), "x1": (0, 1e-9)})
    box_cfg = cfg.replace(pinn_region="box", collocation_box=cfg.collocation_box)
    on_data = PinnLoss.from_config(dyn, cfg, gen, support_points(dyn, x0, u0))
    with on_data.fixed_sample():
        on_data._fixed = (x0, u0)
        assert float(on_data(dyn)[0].detach()) == 0.0
    box = PinnLoss.from_config(dyn, box_cfg, gen, support_points(dyn, x0, u0))
    assert box.support is None
    with box.fixed_sample():
        box._fixed = (x0, u0)
        assert float(box(dyn)[0].detach()) > 0.0  # the residual at the data point itself


def test_region_and_radius_are_checked():
    with pytest.raises(ConfigError, match=r"LossConfig.pinn_region must be 'off-data' or 'box'"):
        TrainConfig(pinn_region="data")
    with pytest.raises(ConfigError, match=r"LossConfig.support_radius must be greater than 0"):
        TrainConfig(support_radius=0.0)
