"""as_dynamics: a fitted world model in the dynamics contract of other planners.

Sampling planners (MPPI, CEM, iCEM in mbrl-lib, torchrl, pytorch_mppi, ...) take a function
``dynamics(state[K, n_x], action[K, n_u]) -> next_state[K, n_x]`` for K sampled rollouts.
:func:`as_dynamics` gives one over any fitted :class:`~hybridwm.models.WorldModel`: one
batched model step of ``dt`` seconds, torch in → torch out (differentiable, on the model's
device), numpy in → numpy out.
"""

from __future__ import annotations

from typing import Any

from hybridwm.envs.transitions import check_dt, check_model
from hybridwm.models import WorldModel

__all__ = ["ModelDynamics", "as_dynamics"]


class ModelDynamics:
    """``dynamics(state, action) -> next_state`` of a fitted WorldModel over ``dt``.

    Attributes:
        model: the WorldModel. dt: seconds per step. state_names, action_names: the
        coordinates of ``state`` (the model's full state) and ``action``.
    """

    def __init__(self, model: WorldModel, dt: float) -> None:
        self.model, self.dt = model, dt
        self.state_names: tuple[str, ...] = tuple(model.state_names_)
        self.action_names: tuple[str, ...] = tuple(model.action_names_)

    def __call__(self, state: Any, action: Any) -> Any:
        """state (K, n_x), action (K, n_u) → (K, n_x) next states (torch or numpy, as given).

        Raises:
            ShapeError: the shapes do not match the model's states and actions.
        """
        return self.model.step(state, action, self.dt)

    def __repr__(self) -> str:
        return f"ModelDynamics({self.model.kind}, dt={self.dt}, states={list(self.state_names)})"


def as_dynamics(model: Any, dt: float) -> ModelDynamics:
    """The planners' dynamics function of a fitted WorldModel (see the module docstring).

    Args:
        model: a fitted WorldModel (any kind).
        dt: seconds per step (the model's training sample interval, usually).

    Raises:
        ConfigError: ``model`` is no WorldModel or ``dt`` is not > 0.
        NotFittedError: ``model`` is not fitted.
    """
    return ModelDynamics(check_model(model, "as_dynamics"), check_dt(dt, "as_dynamics"))
