"""The simulate step: config, seeding, validation errors."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.systems import SimulateConfig, simulate


def _small(**kw):
    args = {"system": "pendulum", "n_trajectories": 3, "duration": 0.2, "dt": 0.01, "seed": 0}
    args.update(kw)
    return simulate(**args)


def test_keyword_and_config_forms_agree_and_seed_is_deterministic():
    a = _small(seed=5)
    b = simulate(SimulateConfig(system="pendulum", n_trajectories=3, duration=0.2, dt=0.01, seed=5))
    c = _small(seed=6)
    assert len(a) == 3 and len(a[0]) == 21
    for ta, tb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ta.x, tb.x)
        np.testing.assert_array_equal(ta.u, tb.u)
    assert not np.array_equal(a[0].x, c[0].x)
    assert a[2].meta | {"parameters": None} == {
        "system": "pendulum",
        "angles": ["theta"],
        "dt": 0.01,
        "scenario": "train",
        "seed": 5,
        "policy": "random",
        "policy_kwargs": {"amplitude": 0.5, "hold_min": 0.05, "hold_max": 0.5},
        "parameters": None,
        "index": 2,
    }


def test_id_differs_from_train_at_the_same_seed():
    a, b = _small(scenario="train"), _small(scenario="id")
    assert not np.array_equal(a[0].x[0], b[0].x[0])


def test_scenario_defaults_and_params_overrides():
    ts = simulate(
        system="cartpole",
        scenario="ood-params",
        n_trajectories=2,
        duration=0.05,
        params={"pole_mass": 0.3},
    )
    p = ts[0].meta["parameters"]
    assert p["pole_mass"] == 0.3 and p["pole_length"] == pytest.approx(1.5)
    assert ts[0].meta["dt"] == 0.01 and len(ts[0]) == 6
    default = simulate(system="acrobot", scenario="train", duration=0.02, n_trajectories=None)
    assert len(default) == 64


def test_progress_bar_path_gives_the_same_arrays():
    kw = {"system": "pendulum", "n_trajectories": 40, "duration": 0.05, "dt": 0.01, "seed": 1}
    a, b = simulate(**kw), simulate(**kw, progress=True)
    np.testing.assert_array_equal(np.stack([t.x for t in a]), np.stack([t.x for t in b]))


def test_config_round_trip(tmp_path):
    cfg = SimulateConfig(
        system="cartpole", scenario="ood-state", n_trajectories=2, params={"gear": 2.0}
    )
    assert SimulateConfig.from_file(cfg.save(tmp_path / "c.json")) == cfg
    assert cfg.replace(seed=np.int64(3)).seed == 3  # numpy integers are integers
    ts = simulate(cfg, duration=0.02)
    assert ts[0].meta["scenario"] == "ood-state" and ts[0].meta["parameters"]["gear"] == 2.0


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (
            {"system": "double-pendulum"},
            UnknownNameError,
            r"Unknown system 'double-pendulum' for `system`\. Valid names: 'acrobot'",
        ),
        (
            {"scenario": "test"},
            UnknownNameError,
            r"Unknown scenario of pendulum 'test' for `scenario`\. Valid names: 'id'",
        ),
        (
            {"params": {"mas": 1.0}},
            UnknownNameError,
            r"Unknown parameter 'mas' of pendulum in `params`\. Valid names: 'mass'",
        ),
        (
            {"params": {"mass": -1.0}},
            ConfigError,
            r"Parameter `mass` of pendulum .* > 0\. Got -1\.0 instead",
        ),
        (
            {"n_trajectories": 0},
            ConfigError,
            r"SimulateConfig.n_trajectories must be greater than or equal to 1\. Got 0\.",
        ),
        (
            {"n_trajectories": 2.0},
            ConfigError,
            r"SimulateConfig.n_trajectories must be a valid integer\. Got 2\.0\.",
        ),
        ({"dt": -0.01}, ConfigError, r"`dt` of simulate must be > 0\. Got -0\.01 instead"),
        (
            {"dt": 0.005},
            ConfigError,
            r"`dt` of simulate must be a multiple of the pendulum model timestep 0\.002 s \(e\.g\. 0\.002, 0\.004, 0\.01",
        ),
        (
            {"duration": 0.005},
            ConfigError,
            r"`duration` of simulate must be >= `dt` \(0\.01\).*Got 0\.005",
        ),
        (
            {"seed": -1},
            ConfigError,
            r"SimulateConfig.seed must be greater than or equal to 0\. Got -1",
        ),
        ({"seed": True}, ConfigError, r"SimulateConfig.seed must be a valid integer\. Got True"),
        ({"nthread": 0}, ConfigError, r"SimulateConfig.nthread must be greater than or equal to 1"),
        ({"duration": -1.0}, ConfigError, r"SimulateConfig.duration must be greater than 0"),
        (
            {"horizon": 3},
            ConfigError,
            r"Unknown SimulateConfig field\(s\) \['horizon'\]\. Valid fields: \['system'",
        ),
    ],
)
def test_errors_name_the_argument_and_the_fix(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        _small(**kwargs)


def test_duration_checked_against_scenario_dt():
    with pytest.raises(ConfigError, match=r"`duration` of simulate must be >= `dt` \(0\.01\)"):
        simulate(system="pendulum", duration=0.004, n_trajectories=1)
