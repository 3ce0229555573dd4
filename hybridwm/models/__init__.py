"""Models: the WorldModel facade (learned | physics | hybrid) with fit, rollout, save/load.

``ModelSpec`` is the architecture (one copy of its defaults); building, normalization,
prediction, adaptation and persistence each have their own module.
"""

from hybridwm.dynamics.fields import MLP
from hybridwm.models.ensemble import EnsemblePrediction, WorldModelEnsemble
from hybridwm.models.persistence import FORMAT, FORMAT_VERSION, ModelDocument
from hybridwm.models.spec import KINDS, ModelSpec
from hybridwm.models.world_model import WorldModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "MLP",
    "EnsemblePrediction",
    "ModelDocument",
    "ModelSpec",
    "WorldModel",
    "WorldModelEnsemble",
]
