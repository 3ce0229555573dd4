"""Prior files (TOML/YAML), observation equations and smooth saturations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridwm.errors import ConfigError, FormatError, UnknownNameError
from hybridwm.physics import PhysicsModel, load_prior
from hybridwm.physics.expressions import compile_expressions, parse_expression, smooth_saturation

GOOD = """
states = ["theta", "omega"]      # omega may be unmeasured
actions = ["torque"]
equations = ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) - c*omega + b*torque"]
[parameters]
w0 = { value = 3.0, bounds = [0.5, 10.0] }
c = { value = 0.1, bounds = [0.0, 5.0] }
b = { value = 1.0 }
[observations]                   # optional observation equations, y = h(x, params)
theta_meas = "theta + offset"
[parameters.offset]
value = 0.0
"""


def write(tmp_path: Path, text: str, name: str = "prior.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_good_file_and_json_round_trip(tmp_path):
    model = load_prior(write(tmp_path, GOOD))
    assert model.state_names == ("theta", "omega") and model.action_names == ("torque",)
    assert set(model.parameters) == {"w0", "c", "b", "offset"}
    assert model.parameters["w0"].bounds == (0.5, 10.0)
    assert model.observation_names == ("theta_meas",)
    x, u = np.array([[0.3, -0.2]]), np.array([[0.5]])
    expected = [-0.2, -9 * np.sin(0.3) + 0.02 + 0.5]
    np.testing.assert_allclose(model.predict(x, u)[0], expected, rtol=1e-12)
    back = PhysicsModel.from_json(model.to_json())
    assert back.observation_names == ("theta_meas",)
    field = back.vector_field(trainable=True)
    y = field.observe(torch.tensor([[0.3, -0.2]], dtype=torch.float64))
    torch.testing.assert_close(y, torch.tensor([[0.3]], dtype=torch.float64))


def test_yaml_file(tmp_path):
    text = """
    states: [h]
    actions: [pump]
    equations: ["d(h) = -a*h + k*pump"]
    parameters: {a: {value: 0.5, bounds: [0.0, 2.0]}, k: 1.0}
    """
    model = load_prior(write(tmp_path, text, "p.yaml"))
    assert model.parameters["k"].bounds is None and not model.parameters["k"].fixed


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (
            'states = ["theta", "omega"]\nequations = ["d(theta) = omega"]\n',
            ConfigError,
            r"State\(s\) \['omega'\] have no equation",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -k*x + q"]\n[parameters]\nk = 1.0\n',
            UnknownNameError,
            "unknown name 'q'",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -k*x"]\n[parameters]\n'
            "k = { value = 1.0, bounds = [2.0, 1.0] }\n",
            ConfigError,
            "lower < upper",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -k*x"]\n[parameters]\n'
            "k = { value = 1.0, bounds = [0.0] }\n",
            ConfigError,
            r"must be \[low, high\]",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -k*x"]\n[parameters]\n'
            "k = { value = 5.0, bounds = [0.0, 1.0] }\n",
            ConfigError,
            "outside its bounds",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -k*x"]\n[parameters]\nk = { bounds = [0, 1] }\n',
            ConfigError,
            "needs a value",
        ),
        ('states = ["x"]\nequations = ["d(x) = -x"]\nstate = 1\n', ConfigError, "unknown key"),
        ('equations = ["d(x) = -x"]\n', ConfigError, "needs `states`"),
        (
            'states = ["x"]\nequations = ["d(x) = -x"]\n[observations]\nx = "2*x"\n',
            ConfigError,
            "has the name of a state",
        ),
        (
            'states = ["x"]\nequations = ["d(x) = -x"]\n[observations]\ny = "x + z"\n',
            UnknownNameError,
            "unknown name 'z'",
        ),
    ],
)
def test_prior_errors(tmp_path, text, error, match):
    with pytest.raises(error, match=match):
        load_prior(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_prior(tmp_path / "nope.toml")


def test_smooth_saturation_matches_exact_away_from_kink_and_is_differentiable():
    names = ("x", "lo", "hi")
    expr = parse_expression("clip(x, lo, hi)", names)
    fn = compile_expressions([expr], (("x",), (), ("lo", "hi")), backend="torch")
    p = torch.tensor([-1.0, 2.0], dtype=torch.float64)
    x = torch.linspace(-3, 4, 141, dtype=torch.float64)[:, None]
    exact = fn(x, x[:, :0], p)[:, 0]
    torch.testing.assert_close(exact, x[:, 0].clamp(-1.0, 2.0))
    k = 50.0
    with smooth_saturation(k):
        smooth = fn(x, x[:, :0], p)[:, 0]
    far = ((x[:, 0] + 1).abs() > 0.3) & ((x[:, 0] - 2).abs() > 0.3)
    assert float((smooth - exact)[far].abs().max()) < 1e-6
    assert float((smooth - exact).abs().max()) <= np.log(2) / k + 1e-12
    xg = torch.tensor([[-1.0], [2.0], [0.5]], dtype=torch.float64, requires_grad=True)

    def f(xx: torch.Tensor) -> torch.Tensor:
        with smooth_saturation(k):
            return fn(xx, xx[:, :0], p)

    assert torch.autograd.gradcheck(f, (xg,))
    with smooth_saturation(k):
        g = torch.autograd.grad(fn(xg, xg[:, :0], p).sum(), xg)[0][:, 0]
    assert 0 < float(g[0]) < 1 and 0 < float(g[1]) < 1  # smooth through the kinks
    with pytest.raises(Exception, match="clip takes three arguments"):
        parse_expression("clip(x, lo)", names)


def test_prior_saturation_is_smooth_in_training_exact_in_eval(tmp_path):
    text = """
    states = ["h"]
    actions = ["pump"]
    equations = ["d(h) = -a*h + clip(pump, 0, umax)"]
    sharpness = 10.0
    [parameters]
    a = 1.0
    umax = { value = 1.0, fixed = true }
    """
    model = load_prior(write(tmp_path, text))
    field = model.vector_field()
    x = torch.zeros(1, 1, dtype=torch.float64)
    u = torch.ones(1, 1, dtype=torch.float64)  # exactly at the kink
    field.eval()
    assert float(field(x, u)) == pytest.approx(1.0)
    field.train()
    assert float(field(x, u)) == pytest.approx(1.0 - np.log(2) / 10.0, abs=1e-4)
    np.testing.assert_allclose(model.predict(np.zeros((1, 1)), np.ones((1, 1))), [[1.0]])
