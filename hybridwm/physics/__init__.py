"""Physics: feature libraries, SINDy discovery (pysindy), declared priors, and the equations as a
differentiable torch vector field.

Typical use::

    from hybridwm.physics import discover, DiscoverConfig
    model = discover(train_set, config=DiscoverConfig(library="trig-poly", threshold=0.1))
    print("\\n".join(model.equations()))
    field = model.vector_field(trainable=True)   # forward(x, u) -> dx/dt
"""

from hybridwm.physics.derivatives import (
    ALIGN_MODES,
    DIFFERENTIATION,
    RegressionData,
    differentiate,
    held_integral,
    make_differentiation,
    regression_data,
)
from hybridwm.physics.discovery import (
    OPTIMIZERS,
    DiscoverConfig,
    discover,
    infer_angles,
    make_optimizer,
)
from hybridwm.physics.expressions import SUPPORTED_FUNCTIONS, parse_expression
from hybridwm.physics.features import LIBRARIES, FeatureLibrary, guess_angles, make_library
from hybridwm.physics.model import FORMAT, FORMAT_VERSION, Parameter, PhysicsModel
from hybridwm.physics.priors import PRIOR_KEYS, declare, fit_parameters, load_prior, parse_lhs
from hybridwm.physics.torch_field import PhysicsVectorField

__all__ = [
    "ALIGN_MODES",
    "DIFFERENTIATION",
    "FORMAT",
    "FORMAT_VERSION",
    "LIBRARIES",
    "OPTIMIZERS",
    "PRIOR_KEYS",
    "SUPPORTED_FUNCTIONS",
    "DiscoverConfig",
    "FeatureLibrary",
    "Parameter",
    "PhysicsModel",
    "PhysicsVectorField",
    "RegressionData",
    "declare",
    "differentiate",
    "discover",
    "fit_parameters",
    "guess_angles",
    "held_integral",
    "infer_angles",
    "load_prior",
    "make_differentiation",
    "make_library",
    "make_optimizer",
    "parse_expression",
    "parse_lhs",
    "regression_data",
]
