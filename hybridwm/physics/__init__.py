"""Physics: feature libraries, SINDy discovery (pysindy), declared priors, and the equations as a
differentiable torch vector field.

Typical use::

    from hybridwm.physics import discover, DiscoverConfig
    model = discover(train_set, config=DiscoverConfig(library="trig-poly", threshold=0.1))
    print("\\n".join(model.equations()))
    field = model.vector_field(trainable=True)   # forward(x, u) -> dx/dt

Modules, bottom to top (each imports only those above it in this list): ``expressions``
(parse text, generate numpy/torch code), ``features`` (FeatureLibrary), ``derivatives``
(differentiation, action-aligned regressors), ``sparse_regression`` (pysindy optimizers),
``rational`` (shared denominators), ``parameter``, ``notation`` (equation left sides),
``equations`` (the data of dx/dt = Theta @ C.T), ``printing``, ``comparison``, ``document``
(JSON), ``torch_field``, ``parameter_fit``, ``model`` (PhysicsModel), ``priors`` (declare,
load_prior), ``angles``, ``config`` (DiscoverConfig), ``discovery`` (discover).
"""

from hybridwm.physics.angles import infer_angles
from hybridwm.physics.config import DiscoverConfig
from hybridwm.physics.derivatives import (
    ALIGN_MODES,
    DIFFERENTIATION,
    RegressionData,
    differentiate,
    held_integral,
    make_differentiation,
    regression_data,
)
from hybridwm.physics.diagnostics import DiscoveryWarning
from hybridwm.physics.discovery import discover
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import SUPPORTED_FUNCTIONS, parse_expression
from hybridwm.physics.features import LIBRARIES, FeatureLibrary, guess_angles, make_library
from hybridwm.physics.model import FORMAT, FORMAT_VERSION, Parameter, PhysicsModel
from hybridwm.physics.parameter_fit import fit_parameters
from hybridwm.physics.priors import PRIOR_KEYS, declare, load_prior, parse_lhs
from hybridwm.physics.refinement import refine_coefficients
from hybridwm.physics.selection import format_selection
from hybridwm.physics.smoothing import choose_window
from hybridwm.physics.sparse_regression import OPTIMIZERS, make_optimizer
from hybridwm.physics.torch_field import PhysicsVectorField
from hybridwm.physics.weak import WeakForm

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
    "DiscoveryWarning",
    "Equations",
    "FeatureLibrary",
    "Parameter",
    "PhysicsModel",
    "PhysicsVectorField",
    "RegressionData",
    "WeakForm",
    "choose_window",
    "declare",
    "differentiate",
    "discover",
    "fit_parameters",
    "format_selection",
    "guess_angles",
    "held_integral",
    "infer_angles",
    "load_prior",
    "make_differentiation",
    "make_library",
    "make_optimizer",
    "parse_expression",
    "parse_lhs",
    "refine_coefficients",
    "regression_data",
]
