"""TrainConfig: five parts, flat and nested names, validation messages, file round trips."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from hybridwm.errors import ConfigError
from hybridwm.training import (
    LR_SCHEDULES,
    LossConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    ValidationConfig,
    WindowConfig,
)

# the 38 settings of the flat TrainConfig of hybridwm <= 0.x, in their order
OLD_FLAT = (
    "epochs batch_size lr lr_schedule min_lr physics_lr weight_decay grad_clip lbfgs_steps "
    "lbfgs_windows horizon stride curriculum curriculum_start curriculum_fraction rollout_weight "
    "pinn_weight residual_weight n_collocation collocation_scale collocation_box pinn_reference "
    "shooting continuity_weight validation_fraction validation_horizon validate_every patience "
    "max_time seed solver threads device dtype checkpoint_dir checkpoint_every resume_from "
    "progress"
).split()
# the settings added since, and where they stand
NEW_FLAT = {
    "physics_first": "physics_lr",
    "encoder_first": "physics_first",
    "physics_polish": "encoder_first",
    "steps": "lbfgs_windows",
    "pinn_region": "collocation_box",
    "support_radius": "pinn_region",
    "multiplier": "continuity_weight",
    "multiplier_rate": "multiplier",
    "closure": "physics_polish",
    "closure_fraction": "closure",
    "closure_min_r2": "closure_fraction",
}


def _current_flat() -> list[str]:
    names = list(OLD_FLAT)
    for new, after in NEW_FLAT.items():
        names.insert(names.index(after) + 1, new)
    return names


def test_flat_and_nested_construction_are_the_same_config():
    flat = TrainConfig(epochs=50, horizon=10, pinn_weight=0.0, seed=3, max_time=75.0)
    nested = TrainConfig(
        optim={"epochs": 50},
        windows=WindowConfig(horizon=10),
        loss={"pinn_weight": 0.0},
        validation={"max_time": 75.0},
        run=RunConfig(seed=3),
    )
    assert flat == nested
    assert (flat.epochs, flat.horizon, flat.pinn_weight, flat.seed) == (50, 10, 0.0, 3)
    assert flat.optim.epochs == 50 and flat.windows.horizon == 10 and flat.run.seed == 3
    assert isinstance(flat.optim, OptimConfig) and isinstance(flat.loss, LossConfig)
    assert isinstance(flat.validation, ValidationConfig)


def test_every_old_flat_name_is_a_setting_with_type_default_and_doc():
    fields = TrainConfig.flat_fields()
    assert list(fields) == _current_flat() == TrainConfig.flat_field_names()
    assert set(OLD_FLAT) <= set(fields)
    parts = ["optim", "windows", "loss", "validation", "run"]
    assert TrainConfig.field_names() == [*_current_flat(), *parts]
    default = TrainConfig()
    for name, info in fields.items():
        assert info.description, f"{name} has no doc"
        assert getattr(default, name) == info.get_default(call_default_factory=True)
        assert getattr(getattr(default, TrainConfig.part_of(name)), name) == getattr(default, name)
    assert typing.get_args(fields["lr_schedule"].annotation) == LR_SCHEDULES
    assert TrainConfig.part_of("patience") == "validation"
    with pytest.raises(ConfigError, match=r"'epoch' is not a TrainConfig setting. Settings: \["):
        TrainConfig.part_of("epoch")


def test_positional_arguments_follow_the_old_flat_order():
    assert (TrainConfig(7, 16).epochs, TrainConfig(7, 16).batch_size) == (7, 16)


def test_to_dict_is_nested_and_from_dict_reads_nested_flat_and_mixed(tmp_path: Path):
    c = TrainConfig(epochs=3, collocation_box={"x": (0, 1)}, checkpoint_dir=tmp_path)
    d = c.to_dict()
    assert set(d) == {"optim", "windows", "loss", "validation", "run"}
    assert d["optim"]["epochs"] == 3 and d["loss"]["collocation_box"] == {"x": [0.0, 1.0]}
    assert d["run"]["checkpoint_dir"] == str(tmp_path)
    assert TrainConfig.from_dict(d) == c
    # a flat key overrides the same setting of its part (a file's settings, then CLI flags)
    assert TrainConfig.from_dict({**d, "epochs": 9, "lr": 0.1}).optim.epochs == 9
    # older run directories hold the flat form
    old = tmp_path / "train_config.json"
    old.write_text(json.dumps({"epochs": 3, "collocation_box": {"x": [0, 1]}, "horizon": 20}))
    assert TrainConfig.from_file(old).replace(checkpoint_dir=str(tmp_path)) == c


def test_replace_and_assignment_take_flat_names_and_validate():
    c = TrainConfig(epochs=2)
    r = c.replace(pinn_weight=0.0, device="cpu")
    assert (r.pinn_weight, r.device, r.epochs, c.pinn_weight) == (0.0, "cpu", 2, 0.1)
    assert c.replace(optim=OptimConfig(lr=0.1)).optim == OptimConfig(lr=0.1)
    r.epochs = 5
    assert r.optim.epochs == 5 and c.epochs == 2  # parts are never shared between configs
    with pytest.raises(ConfigError, match=r"OptimConfig.epochs must be greater than or equal to 1"):
        r.epochs = 0
    with pytest.raises(ConfigError, match=r"Unknown TrainConfig field\(s\) \['foo'\]"):
        c.replace(foo=1)
    with pytest.raises(AttributeError):
        _ = c.epoch


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": True}, r"OptimConfig.epochs must be an integer, not a bool. Got True"),
        ({"horizon": "5"}, r"WindowConfig.horizon must be an integer, not a str"),
        ({"batch_size": 2.5}, r"OptimConfig.batch_size must be a valid integer"),
        ({"lr": 0.0}, r"OptimConfig.lr must be greater than 0. Got 0.0"),
        ({"pinn_weight": float("inf")}, r"LossConfig.pinn_weight must be a finite number"),
        ({"curriculum_fraction": 1.5}, r"curriculum_fraction must be less than or equal to 1"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be less than 1. Got 1.0"),
        ({"patience": 0}, r"ValidationConfig.patience must be greater than or equal to 1"),
        ({"dtype": "float16"}, r"RunConfig.dtype must be 'float64' or 'float32'. Got 'float16'"),
        ({"shooting": "single"}, r"shooting must be 'encoder' or 'multiple'"),
        ({"grad_clip": float("nan")}, r"OptimConfig.grad_clip must be greater than 0. Got nan"),
        (
            {"lr": 1e-3, "min_lr": 1e-2, "lr_schedule": "plateau"},
            r"min_lr \(0.01\) must not exceed lr \(0.001\) with the 'plateau' schedule.*Lower "
            r"min_lr, or use lr_schedule='constant'",
        ),
        (
            {"collocation_box": {"x": (1.0, -1.0)}},
            r"collocation_box\['x'\] must be \(low, high\) with low < high. Got \(1.0, -1.0\); "
            r"swap the bounds",
        ),
        (
            {"optim": {"horizon": 5}},
            r"Unknown TrainConfig.optim field\(s\) \['horizon'\].*'horizon' belongs to "
            r"TrainConfig.windows",
        ),
        ({"optim": 5}, r"TrainConfig.optim must be a valid dictionary or instance of OptimConfig"),
    ],
)
def test_invalid_settings_name_the_setting_expected_and_got(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)


def test_unknown_name_lists_flat_and_nested_names():
    with pytest.raises(
        ConfigError,
        match=r"Unknown TrainConfig field\(s\) \['epoch'\]. Valid fields: \['epochs'.*'run'\]. "
        r"Give each setting flat",
    ):
        TrainConfig.from_dict({"epoch": 3})


def test_toml_train_table_of_a_benchmark_preset(tmp_path: Path):
    path = tmp_path / "preset.toml"
    path.write_text("[train]\nepochs = 400\nmax_time = 75\n\n[other]\nx = 1\n")
    c = TrainConfig.from_file(path, section="train")
    assert (c.epochs, c.max_time) == (400, 75.0) and isinstance(c.max_time, float)
