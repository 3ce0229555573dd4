"""ModelSpec (the one copy of the architecture and its defaults) and WorldModel.from_kind."""

from __future__ import annotations

import pytest
from torch import nn

from hybridwm.dynamics import PendulumPhysics
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.models import KINDS, MLP, ModelSpec, WorldModel
from hybridwm.physics import declare

PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)


def prior():
    return declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + torque"],
        parameters={"w0": 2.0},
        state_names=("theta", "omega"),
        action_names=("torque",),
    )


def test_kinds_are_listed_once_in_models():
    assert KINDS == ("learned", "physics", "hybrid")


def test_from_kind_builds_each_kind():
    learned = WorldModel.from_kind("learned", hidden=(8,), latent_dim=1)
    assert learned.kind == "learned" and learned.residual.hidden == (8,)
    assert learned.latent_dim == 1 and learned.physics_model is None
    hybrid = WorldModel.from_kind("hybrid", physics=PHYS, hidden=(16, 4), init="optimize")
    assert hybrid.kind == "hybrid" and hybrid.residual == MLP(hidden=(16, 4))
    assert hybrid.physics_model is PHYS and hybrid.init == "optimize"
    assert hybrid.trainable_physics is False  # a module without free declared parameters
    physics = WorldModel.from_kind("physics", physics=prior(), hidden=(8,))
    assert physics.kind == "physics" and physics.trainable_physics is True  # free w0
    frozen = WorldModel.from_kind("physics", physics=prior(), trainable_physics=False)
    assert frozen.trainable_physics is False
    # the factory gives the same model as the named constructors
    assert (
        WorldModel.from_kind("hybrid", physics=PHYS).check_params()
        == WorldModel.hybrid(PHYS).check_params()
    )
    assert WorldModel.from_kind("learned").check_params() == WorldModel.learned().check_params()


def test_from_kind_errors():
    with pytest.raises(
        UnknownNameError,
        match=r"Unknown WorldModel kind 'neural'. Valid names: \['learned', 'physics', 'hybrid'\]",
    ):
        WorldModel.from_kind("neural")
    with pytest.raises(ConfigError, match=r"A hybrid WorldModel needs `physics`.*Got None"):
        WorldModel.from_kind("hybrid")
    with pytest.raises(ConfigError, match=r"A physics WorldModel needs `physics`"):
        WorldModel.from_kind("physics", hidden=(8,))
    with pytest.raises(ConfigError, match=r"A learned WorldModel takes no physics"):
        WorldModel.from_kind("learned", physics=PHYS)


def test_constructor_defaults_are_the_specs():
    wm = WorldModel("learned", residual=MLP((8,)))
    for name, field in ModelSpec.model_fields.items():
        if name not in ("kind", "residual"):
            assert getattr(wm, name) == field.default, name
    assert wm.check_params() == ModelSpec(kind="learned", residual=MLP((8,)))


def test_constructor_stores_check_params_validates():
    wm = WorldModel.learned(latent_dim=-1, init="bogus")  # stored, not checked
    assert wm.latent_dim == -1
    with pytest.raises(ConfigError, match=r"latent_dim must be greater than or equal to 0. Got -1"):
        wm.check_params()
    wm.latent_dim = 0
    with pytest.raises(ConfigError, match=r"init must be 'encoder' or 'optimize'. Got 'bogus'"):
        wm.check_params()
    wm.init = "optimize"
    assert wm.check_params().init == "optimize"
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['hiden'\].*'latent_dim'"):
        WorldModel("learned", hiden=(8,))


def test_check_params_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown WorldModel kind 'neural'"):
        WorldModel("neural").check_params()
    with pytest.raises(ConfigError, match=r"`residual` must be an MLP\(hidden=.*Got Linear"):
        WorldModel("learned", residual=nn.Linear(2, 2)).check_params()
    with pytest.raises(ConfigError, match=r"A learned WorldModel needs `residual`"):
        WorldModel("learned").check_params()
    with pytest.raises(UnknownNameError, match=r"Unknown solver 'rk45'.*'rk4'"):
        WorldModel.learned(solver="rk45").check_params()
    with pytest.raises(ConfigError, match=r"encoder_window must be greater than or equal to 1"):
        WorldModel.learned(encoder_window=0).check_params()
    with pytest.raises(ConfigError, match=r"rtol must be greater than 0"):
        WorldModel.learned(rtol=0.0).check_params()
    with pytest.raises(ConfigError, match=r"init_window must be greater than or equal to 2"):
        WorldModel.learned(init_window=1).check_params()
    with pytest.raises(ConfigError, match=r"`angles` must be a list of state names"):
        WorldModel.learned(angles=3).check_params()
