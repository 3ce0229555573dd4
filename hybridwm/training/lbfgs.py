"""The optional L-BFGS finish: polish the best weights on a fixed batch; keep them if better."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from hybridwm.dynamics import ODEModel
from hybridwm.errors import SimulationError
from hybridwm.training.batch import Batch
from hybridwm.training.config import TrainConfig
from hybridwm.training.losses import Objective

__all__ = ["LBFGS_SEED_OFFSET", "lbfgs_polish"]

LBFGS_SEED_OFFSET = 1  # the L-BFGS batch is drawn with a generator seeded TrainConfig.seed + this


def lbfgs_polish(
    model: ODEModel,
    objective: Objective,
    groups: list[Batch],
    config: TrainConfig,
    validate: Callable[[], float] | None,
    *,
    steps: int | None = None,
    held: Sequence[torch.nn.Parameter] = (),
) -> float:
    """Run ``steps`` (default ``config.lbfgs_steps``) L-BFGS iterations on up to
    ``lbfgs_windows`` training windows.

    The batch (from the largest window group) and the PINN collocation points are drawn once, so
    the loss is the same function at every evaluation, as L-BFGS needs. The model is left with
    the polished weights; the caller keeps them only if the returned score beats its best.

    Args:
        model: the model, holding the best weights so far.
        objective: the training objective (its parameters are polished too).
        groups: the training windows.
        config: ``lbfgs_steps``, ``lbfgs_windows``, ``horizon`` and ``seed``.
        validate: the validation score of the model, or ``None`` without validation data (the
            score is then the objective on the L-BFGS batch).
        steps: the number of iterations (default ``config.optim.lbfgs_steps``).
        held: tensors left as they are (the residual during the physics-first phase).

    Returns:
        The score of the polished weights (``inf`` if they are not finite).
    """
    optim = config.optim
    horizon = config.windows.horizon
    g = max(groups, key=lambda b: b.x.shape[0])
    gen = torch.Generator().manual_seed(config.run.seed + LBFGS_SEED_OFFSET)
    batch = g.take(torch.randperm(g.x.shape[0], generator=gen)[: optim.lbfgs_windows])
    keep = {id(p) for p in held}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
    params += list(objective.parameters())
    with objective.fixed_collocation():
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=optim.lbfgs_steps if steps is None else steps,
            history_size=20,
            # no tolerances: near an exact fit the loss is ~1e-12, below torch's defaults
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss, _ = objective(model, batch, horizon)
            if torch.isfinite(loss):
                loss.backward()
            return loss

        try:
            model.train()
            opt.step(closure)  # type: ignore[no-untyped-call]
        except SimulationError:
            pass
    if not all(torch.isfinite(p).all() for p in params):
        return math.inf
    if validate is not None:
        return validate()
    with torch.no_grad():  # on fresh collocation points, like the epochs' training losses
        return float(objective(model, batch, horizon)[0])
