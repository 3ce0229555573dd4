"""Training: losses (rollout, PINN residual, residual norm), the Trainer, TrainConfig."""

from hybridwm.training.checkpoint import load_checkpoint, save_checkpoint
from hybridwm.training.config import ADAPT_PHYSICS_LR, LR_SCHEDULES, TrainConfig
from hybridwm.training.losses import (
    Batch,
    Objective,
    PinnLoss,
    ResidualNormLoss,
    RolloutLoss,
    to_batch,
)
from hybridwm.training.trainer import History, Trainer, evaluate_windows

__all__ = [
    "ADAPT_PHYSICS_LR",
    "LR_SCHEDULES",
    "Batch",
    "History",
    "Objective",
    "PinnLoss",
    "ResidualNormLoss",
    "RolloutLoss",
    "TrainConfig",
    "Trainer",
    "evaluate_windows",
    "load_checkpoint",
    "save_checkpoint",
    "to_batch",
]
