"""Dynamics: learned, physics and hybrid vector fields, latent encoders, integration.

Every dynamics object is an ``nn.Module`` with torchdiffeq's contract ``forward(t, x)``; actions
are a zero-order-hold signal (:class:`HeldActions`) the field closes over during integration.
"""

from hybridwm.dynamics.actions import HeldActions
from hybridwm.dynamics.fields import (
    ACTIVATIONS,
    MLP,
    AngleEmbedding,
    Dynamics,
    HybridDynamics,
    MLPField,
    Normalizer,
)
from hybridwm.dynamics.integrate import SOLVERS, SolverSpec, integrate
from hybridwm.dynamics.latent import Encoder
from hybridwm.dynamics.model import ODEModel
from hybridwm.dynamics.reference import LinearPhysics, PendulumPhysics, reference_dataset
from hybridwm.dynamics.support import SupportGate

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SOLVERS",
    "AngleEmbedding",
    "Dynamics",
    "Encoder",
    "HeldActions",
    "HybridDynamics",
    "LinearPhysics",
    "MLPField",
    "Normalizer",
    "ODEModel",
    "PendulumPhysics",
    "SolverSpec",
    "SupportGate",
    "integrate",
    "reference_dataset",
]
