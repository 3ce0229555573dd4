"""Models: the WorldModel facade (learned | physics | hybrid) with fit, rollout, save/load."""

from hybridwm.dynamics.fields import MLP
from hybridwm.models.world_model import FORMAT, FORMAT_VERSION, KINDS, WorldModel

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "MLP", "WorldModel"]
