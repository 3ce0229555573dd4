"""Training: losses (rollout, PINN residual, residual norm), the Trainer, TrainConfig."""

from hybridwm.training.batch import Batch, to_batch
from hybridwm.training.checkpoint import TrainState, load_checkpoint, save_checkpoint
from hybridwm.training.config import (
    ADAPT_PHYSICS_LR,
    LR_SCHEDULES,
    PHYSICS_LR,
    LossConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    ValidationConfig,
    WindowConfig,
)
from hybridwm.training.history import History
from hybridwm.training.losses import Objective, ResidualNormLoss, RolloutLoss
from hybridwm.training.pinn import PinnLoss
from hybridwm.training.schedule import LearningRate
from hybridwm.training.shooting import MultipleShooting
from hybridwm.training.trainer import Trainer
from hybridwm.training.validation import evaluate_windows

__all__ = [
    "ADAPT_PHYSICS_LR",
    "LR_SCHEDULES",
    "PHYSICS_LR",
    "Batch",
    "History",
    "LearningRate",
    "LossConfig",
    "MultipleShooting",
    "Objective",
    "OptimConfig",
    "PinnLoss",
    "ResidualNormLoss",
    "RolloutLoss",
    "RunConfig",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "ValidationConfig",
    "WindowConfig",
    "evaluate_windows",
    "load_checkpoint",
    "save_checkpoint",
    "to_batch",
]
