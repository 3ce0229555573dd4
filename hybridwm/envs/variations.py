"""Physics variations: a fitted world model with changed parameters of its declared prior.

A physics or hybrid :class:`~hybridwm.models.WorldModel` whose physics is a declared prior
(:func:`hybridwm.physics.declare`) has named parameters (a mass, a length, a gain). A variation
is a copy of the model whose physics module holds other values of some of them, everything
else (the residual, the normalization, the other parameters as fitted) shared in value:
:class:`~hybridwm.envs.WorldModelEnv` makes one from ``reset(options={"params": {...}})``, for
domain randomization or a system that changed. The values are used as given (bounds of the
prior are for fitting, not for what-if questions). Learned models and discovered equations
(coefficients, no named parameters) have nothing to vary and raise ConfigError.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hybridwm.envs.checks import is_number, known_keys
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.models import WorldModel
from hybridwm.models.building import dtype_device

__all__ = ["parameter_names", "vary"]


def parameter_names(model: WorldModel) -> tuple[str, ...]:
    """The named parameters of the fitted model's physics (empty when it has none)."""
    physics = model.model_.dynamics.physics
    if physics is None or not callable(getattr(physics, "to_physics_model", None)):
        return ()
    return tuple(getattr(physics, "parameter_names", ()))


def _check_values(params: Any, names: tuple[str, ...]) -> dict[str, float]:
    label = '`options["params"]` of reset'
    values = known_keys(params, names, label, "parameter", UnknownNameError)
    for name, value in values.items():
        if not is_number(value) or not math.isfinite(float(value)):
            raise ConfigError(
                f'`options["params"]["{name}"]` of reset must be a finite number. Got {value!r}.'
            )
    return {str(k): float(v) for k, v in values.items()}


def vary(model: WorldModel, params: Any) -> WorldModel:
    """A copy of the fitted ``model`` whose physics parameters ``params`` have new values.

    Args:
        model: a fitted physics or hybrid WorldModel over a declared prior.
        params: ``{name: value}`` for some of the prior's parameters.

    Returns:
        A new WorldModel sharing nothing mutable with ``model``; ``model`` is unchanged.

    Raises:
        ConfigError: the model's physics has no named parameters (learned model, discovered
            equations, a custom module), or a value is not a finite number.
        UnknownNameError: a name that is no parameter of the physics (the valid ones listed).
    """
    names = parameter_names(model)
    if not names:
        what = (
            "has no physics"
            if model.model_.dynamics.physics is None
            else "has physics without named parameters (discovered equations have "
            "coefficients only)"
        )
        raise ConfigError(
            f'`options["params"]` of reset changes the parameters of a declared prior, but this '
            f"{model.kind} model {what}. Fit a physics or hybrid model over "
            f"hybridwm.physics.declare(...) to vary its physics, or reset without params."
        )
    values = _check_values(params, names)
    ode = copy.deepcopy(model.model_)
    dtype, device = dtype_device(ode)
    equations = ode.dynamics.physics.to_physics_model().with_parameters(**values)
    ode.dynamics.physics = equations.vector_field(dtype=dtype, device=device).eval()
    variant = copy.copy(model)
    variant.model_ = ode
    return variant
