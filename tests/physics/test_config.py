"""DiscoverConfig: typed fields, bounds, options and registry names checked on construction."""

from __future__ import annotations

import pytest

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.physics import DiscoverConfig


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"bagging": "boot"},
            r"DiscoverConfig.bagging must be 'trajectories' or 'rows'. Got 'boot'",
        ),
        ({"align": "some"}, r"DiscoverConfig.align must be 'actions', 'all' or 'none'"),
        ({"subset": 0}, r"DiscoverConfig.subset must be greater than 0. Got 0"),
        ({"inclusion_threshold": 1.5}, r"inclusion_threshold must be less than or equal to 1"),
        ({"threshold": -0.1}, r"DiscoverConfig.threshold must be greater than or equal to 0"),
        ({"ensemble": -1}, r"DiscoverConfig.ensemble must be greater than or equal to 0"),
        ({"degree": -1}, r"DiscoverConfig.degree must be greater than or equal to 0"),
        ({"max_iter": 0}, r"DiscoverConfig.max_iter must be greater than or equal to 1"),
        ({"angles": "theta"}, r"DiscoverConfig.angles must be a valid tuple. Got 'theta'"),
    ],
)
def test_bounds_and_options(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DiscoverConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"library": "fourier"}, "Valid names: 'linear', 'none', 'poly', 'trig', 'trig-poly'"),
        ({"optimizer": "lasso"}, "Valid names: 'sr3', 'stlsq'"),
        ({"differentiation": "spline"}, "'finite_difference', 'savgol', 'smoothed_finite_diff"),
    ],
)
def test_registry_names_list_the_valid_ones(changes: dict, message: str) -> None:
    with pytest.raises(UnknownNameError, match=message):
        DiscoverConfig(**changes)
    with pytest.raises(UnknownNameError, match=message):
        DiscoverConfig().replace(**changes)


def test_dict_round_trip_positional_fields_and_coercion() -> None:
    cfg = DiscoverConfig.from_dict({"library": "trig", "angles": ["theta"], "threshold": 1})
    assert cfg.angles == ("theta",) and cfg.threshold == 1.0
    assert DiscoverConfig.from_dict(cfg.to_dict()) == cfg
    assert DiscoverConfig("trig", ("theta",)) == DiscoverConfig(library="trig", angles=("theta",))
    assert DiscoverConfig.field_names()[:3] == ["library", "angles", "degree"]
    with pytest.raises(ConfigError, match=r"Unknown DiscoverConfig field\(s\) \['treshold'\]"):
        DiscoverConfig.from_dict({"treshold": 0.1})


def test_unknown_discover_config_field_is_a_config_error_listing_the_valid_ones() -> None:
    """Issue 19, item 5: `DiscoverConfig(foo=1)` raised a bare TypeError."""
    with pytest.raises(ConfigError, match=r"Unknown DiscoverConfig field\(s\) \['foo'\]. Valid"):
        DiscoverConfig(foo=1)
