"""Sparse regression: pysindy's optimizers by name, and one fit of ``dX = Theta @ C.T``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hybridwm.errors import ConfigError
from hybridwm.registry import Registry

__all__ = ["OPTIMIZERS", "fit_sparse", "make_optimizer", "unfitted_copy"]


def _stlsq(
    threshold: float = 0.1,
    alpha: float = 0.05,
    max_iter: int = 20,
    normalize_columns: bool = False,
    **_: Any,
) -> Any:
    import pysindy as ps

    return ps.STLSQ(
        threshold=threshold, alpha=alpha, max_iter=max_iter, normalize_columns=normalize_columns
    )


def _sr3(
    threshold: float = 0.1,
    max_iter: int = 30,
    normalize_columns: bool = False,
    nu: float = 1.0,
    **_: Any,
) -> Any:
    import pysindy as ps

    return ps.SR3(
        reg_weight_lam=ps.SR3.calculate_l0_weight(threshold, nu),
        regularizer="L0",
        relax_coeff_nu=nu,
        max_iter=max(max_iter, 30),
        normalize_columns=normalize_columns,
        unbias=True,
    )


OPTIMIZERS: Registry[Callable[..., Any]] = Registry("optimizer", "optimizer")
OPTIMIZERS.register("stlsq", _stlsq)
OPTIMIZERS.register("sr3", _sr3)


def make_optimizer(optimizer: Any = "stlsq", **kwargs: Any) -> Any:
    """A pysindy optimizer from a registry name and keyword options (or the object itself).

    Args:
        optimizer: ``"stlsq"``, ``"sr3"`` or a pysindy optimizer object (used as is).
        **kwargs: ``threshold``, ``alpha``, ``max_iter``, ``normalize_columns`` (``nu`` for SR3).
    """
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](**kwargs)
    if not hasattr(optimizer, "fit"):
        raise ConfigError(
            f"`optimizer` must be a name ({OPTIMIZERS.names()}) or a pysindy optimizer. Got "
            f"{type(optimizer).__name__}."
        )
    return optimizer


def fit_sparse(opt: Any, theta: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Fit the pysindy optimizer ``opt`` to ``dx ~ theta @ C.T``.

    Args:
        opt: a pysindy optimizer (fitted in place).
        theta: (N, k) regressors.
        dx: (N, r) derivative estimates.

    Returns:
        (r, k) coefficients ``C``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparsity parameter is too big.*")
        opt.fit(theta, dx)
    return np.asarray(opt.coef_, dtype=np.float64).reshape(dx.shape[1], theta.shape[1])


def unfitted_copy(opt: Any) -> Any:
    """A new, unfitted optimizer with the settings of ``opt`` (``sklearn.base.clone``)."""
    from sklearn.base import clone  # scikit-learn comes with pysindy: loaded when fitting only

    return clone(opt)
