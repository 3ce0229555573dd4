"""Feature expressions and libraries: parsing, numpy/torch agreement, built-in families."""

from __future__ import annotations

import numpy as np
import pysindy as ps
import pytest
import torch

from hybridwm.errors import ConfigError, ParseError, UnknownNameError
from hybridwm.physics import FeatureLibrary, guess_angles, make_library, parse_expression

STATES = ("theta", "omega", "h1")
ACTIONS = ("u0",)


def test_custom_features_numpy_and_torch_agree(rng):
    exprs = [
        "1",
        "u0*cos(theta)",
        "sqrt(h1)",
        "omega^2*sin(theta)",
        "exp(-h1)*tanh(omega)",
        "log(h1) + abs(omega)",
        "Min(theta, 0.3) - max(omega, h1)",
        "h1**1.5 / (1 + theta**2)",
        "pi*sign(omega) + atan(theta)",
    ]
    lib = FeatureLibrary(exprs, STATES, ACTIONS)
    x = rng.normal(size=(7, 3))
    x[:, 2] = np.abs(x[:, 2]) + 0.1
    u = rng.normal(size=(7, 1))
    a = lib.evaluate(x, u)
    assert a.shape == (7, len(exprs))
    np.testing.assert_allclose(a[:, 0], 1.0)
    np.testing.assert_allclose(a[:, 1], u[:, 0] * np.cos(x[:, 0]), rtol=1e-15)
    np.testing.assert_allclose(a[:, 2], np.sqrt(x[:, 2]), rtol=1e-15)
    np.testing.assert_allclose(a[:, 6], np.minimum(x[:, 0], 0.3) - np.maximum(x[:, 1], x[:, 2]))
    b = lib.torch_function()(torch.tensor(x), torch.tensor(u), torch.zeros(0, dtype=torch.float64))
    assert b.dtype == torch.float64
    np.testing.assert_allclose(b.numpy(), a, rtol=1e-13, atol=1e-14)
    # batch dimensions are kept
    assert lib.evaluate(x.reshape(7, 1, 3), u.reshape(7, 1, 1)).shape == (7, 1, len(exprs))


def test_names_and_latex():
    lib = FeatureLibrary(["omega**2*sin(theta)", "u0*cos(theta)"], STATES, ACTIONS)
    assert lib.names == ["omega^2*sin(theta)", "u0*cos(theta)"]
    assert "\\sin" in lib.latex_names[0] and "\\omega" in lib.latex_names[0]
    assert lib.uses_actions.tolist() == [False, True]


def test_unknown_name_lists_available_names():
    with pytest.raises(
        UnknownNameError,
        match=r"(?s)unknown name 'torque'.*states \['theta', 'omega', 'h1'\]; actions \['u0'\]",
    ):
        FeatureLibrary(["torque*cos(theta)"], STATES, ACTIONS)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sin(theta", r"position \d+"),
        ("theta +* 2", r"'theta \+\* 2'"),
        ("foo(theta)", r"unknown function 'foo'.*supported functions"),
        ("theta < 2", r"unsupported syntax Compare at position 0"),
        ("__import__('os')", r"unknown function '__import__'"),
        ("", r"empty"),
    ],
)
def test_parse_errors_show_text_and_position(text, match):
    with pytest.raises(ParseError, match=match):
        parse_expression(text, STATES)


def test_duplicate_feature_rejected():
    with pytest.raises(ConfigError, match="duplicates feature 0"):
        FeatureLibrary(["theta*omega", "omega*theta"], STATES)


def test_builtin_libraries_keep_controls_out_of_state_families():
    lib = make_library(
        "trig-poly", ("x", "theta", "v", "omega"), ("force",), action_products=["cos(theta)"]
    )
    names = lib.names
    for want in ["1", "sin(theta)*cos(theta)", "omega^2*sin(theta)", "force", "force*cos(theta)"]:
        assert want in names
    assert "cos(theta)^2" not in names  # collinear with 1 - sin^2
    assert not any("(force)" in n for n in names)  # never sin(force), cos(force)
    assert lib.uses_actions.sum() == 2
    poly = make_library("poly", ("a", "b"), ("u",), degree=3)
    assert len(poly) == 10 + 1
    trig = make_library("trig", ("theta", "omega"), ("torque",))
    assert trig.names == ["1", "sin(theta)", "cos(theta)", "omega", "torque"]
    assert len(make_library("trig", ("theta", "omega"), include_bias=False)) == 3


def test_none_library_keeps_only_the_given_features_and_the_actions():
    lib = make_library(
        "none",
        ("theta", "omega"),
        ("torque",),
        action_products=("cos(theta)",),
        features=("omega", "sin(theta)"),
    )
    assert lib.names == ["torque", "torque*cos(theta)", "omega", "sin(theta)"]


def test_library_registry_and_angles_errors():
    with pytest.raises(
        UnknownNameError, match="Valid names: 'linear', 'none', 'poly', 'trig', 'trig-poly'"
    ):
        make_library("fourier", ("theta",))
    with pytest.raises(ConfigError, match="pass angles"):
        make_library("trig", ("a", "b"))
    with pytest.raises(UnknownNameError, match="not states of the data"):
        make_library("trig", ("a", "b"), angles=["c"])
    assert guess_angles(("x", "theta", "theta1", "phi_2", "omega", "v")) == (
        "theta",
        "theta1",
        "phi_2",
    )


def test_rebind_to_data_names():
    lib = FeatureLibrary(["u0*cos(theta)"], ("theta", "omega"), ("u0",))
    other = lib.rebind(("omega", "theta"), ("u0", "u1"))
    x = np.array([[2.0, 0.5]])
    np.testing.assert_allclose(other.evaluate(x, np.array([[3.0, 9.0]]))[0, 0], 3.0 * np.cos(0.5))
    with pytest.raises(
        UnknownNameError, match=r"uses \['u0'\], which the data lacks.*actions \['torque'\]"
    ):
        lib.rebind(("theta", "omega"), ("torque",))


def test_to_pysindy_library_matches(rng):
    lib = make_library("trig-poly", ("theta", "omega"), ("torque",), action_products=["cos(theta)"])
    xu = rng.normal(size=(20, 3))
    ps_lib = lib.to_pysindy()
    ps_lib.fit(xu)
    np.testing.assert_allclose(
        np.asarray(ps_lib.transform(xu)), lib.evaluate(xu[:, :2], xu[:, 2:]), rtol=1e-15
    )
    assert ps_lib.get_feature_names(["theta", "omega", "torque"]) == lib.names
    assert isinstance(ps_lib, ps.CustomLibrary)
