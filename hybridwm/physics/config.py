"""DiscoverConfig: the settings of :func:`~hybridwm.physics.discover` (one field per CLI flag)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hybridwm.config import Config
from hybridwm.errors import ConfigError
from hybridwm.physics.derivatives import DIFFERENTIATION
from hybridwm.physics.features import LIBRARIES
from hybridwm.physics.kinematics import check_kinematics
from hybridwm.physics.sparse_regression import OPTIMIZERS

__all__ = ["DiscoverConfig"]


class DiscoverConfig(Config):
    """Settings of :func:`discover` (fields map 1:1 to ``hybridwm discover`` flags).

    Attributes:
        library: library name (``"poly"``, ``"trig"``, ``"trig-poly"``, ``"linear"``, ``"none"``).
        angles: states treated as angles; default: names that look like angles.
        degree: polynomial degree in the (non-angle) states (>= 0).
        trig_degree: degree of sin/cos products (``"trig-poly"``, >= 0).
        include_bias: include the constant feature ``1``.
        action_products: state features each action multiplies, e.g. ``("cos(theta)",)``.
        features: extra custom features (expressions over state and action names).
        optimizer: ``"stlsq"`` or ``"sr3"``, used when ``threshold`` is given (with the
            default ``threshold=None`` the terms are chosen by backward elimination instead).
        threshold: sparsity threshold (coefficients below it are cut; >= 0); None (default):
            chosen per equation on held-out trajectories from a path of relative thresholds
            (:mod:`hybridwm.physics.selection`; the table is in ``info["selection"]``).
        folds: held-out folds of the model selection and of the held-out R² (>= 2).
        alpha: ridge weight of STLSQ (>= 0).
        max_iter: optimizer iterations (>= 1).
        normalize_columns: let the optimizer normalize feature columns (threshold then applies
            to normalized coefficients).
        method: ``"derivative"`` (regress on derivative estimates) or ``"weak"`` (weak-form
            SINDy: integrals against test functions, :mod:`hybridwm.physics.weak`).
        differentiation: ``"auto"`` (default): Savitzky-Golay smoothing with the window
            chosen by generalized cross-validation, or plain finite differences when that
            finds no noise to remove (the shortest window wins), a trajectory is too short to
            smooth or the time grid is not uniform; ``"smoothed_finite_difference"``
            (``"savgol"``) always smooths; ``"finite_difference"`` never does.
        order: finite-difference accuracy order (>= 1).
        window: Savitzky-Golay window (smoothed differentiation, odd); None (default): chosen
            from the data by generalized cross-validation (:mod:`hybridwm.physics.smoothing`).
        weak_window: samples per test function of the weak form (odd, >= 7); None (default):
            twice the smoothing window chosen for the data, plus one.
        polyorder: Savitzky-Golay polynomial order (>= 0).
        align: ``"actions"`` (default), ``"all"`` or ``"none"``: which regressors are aligned
            with the held actions.
        ensemble: number of bagged models (0 or 1: no ensemble).
        subset: fraction of trajectories (or rows) in each bagged model, in (0, 1].
        bagging: ``"trajectories"`` or ``"rows"``.
        inclusion_threshold: terms kept in the final ensembled model must appear in at least
            this fraction of the bagged models, in (0, 1].
        aggregate: final coefficients of an ensemble, the ones simulated: ``"refit"`` (least
            squares of the included terms on all rows), ``"median"`` or ``"mean"`` of the bagged
            models.
        seed: seed of the bagging and of the held-out folds (>= 0).
        diagnostics: check the result and warn (:class:`~hybridwm.physics.diagnostics.
            DiscoveryWarning`) about poor held-out fit, divergence on the training episodes,
            collinear terms and flagged samples.
        denominator: expression ``z`` over the states, e.g. ``"cos(theta2)"``: the derivatives
            of the ``rational`` rows are sparse combinations of ``feature / D(z)`` with
            ``D(z) = 1 + d_1 z + ... + d_m z^m`` estimated from the data first (see
            :mod:`hybridwm.physics.rational`). For mechanics with configuration-dependent
            inertia (``M(q)^-1`` makes the accelerations rational). None: no denominator.
        denominator_degree: ``m``, the degree of ``D`` in ``z`` (an integer >= 1).
        rational: states whose derivatives get the denominator; None: every state whose
            derivative is not (almost) another state (the accelerations, not ``dq/dt = omega``).
        refine: after the regression, fit again by the error of free-running simulations
            against the measured states (output-error least squares,
            :func:`~hybridwm.physics.refine_coefficients`), which the noise in the regressors
            does not bias: ``"coefficients"`` refits the chosen terms' coefficients,
            ``"terms"`` also adds and removes library terms by that error (a score test and
            the extended BIC's price per term). Each coefficient's standard error is recorded in
            ``info["refinement"]``; an ensemble's bagging statistics are dropped (they describe
            the regression). ``"none"`` (default): the regression's coefficients. It
            costs seconds to minutes: one simulation of the data per coefficient and state per
            iteration, and one batched simulation per candidate term for ``"terms"``.
        refine_segment: the most intervals one simulated piece covers when refining (>= 1).
        kinematics: rows known in advance, ``"position=velocity"`` each (e.g.
            ``("x=v", "theta=omega")``): ``d(position)/dt = velocity`` exactly, not regressed,
            held by the refinement and by training (:mod:`hybridwm.physics.kinematics`). For
            mechanics whose velocities are measured: a regression on noisy derivatives puts
            spurious terms in these rows, and the positions drift off the data. Default: none.
    """

    library: str = "trig-poly"
    angles: tuple[str, ...] | None = None
    degree: int = Field(default=2, ge=0)
    trig_degree: int = Field(default=2, ge=0)
    include_bias: bool = True
    action_products: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    optimizer: str = "stlsq"
    threshold: float | None = Field(default=None, ge=0)
    folds: int = Field(default=5, ge=2)
    alpha: float = Field(default=0.05, ge=0)
    max_iter: int = Field(default=20, ge=1)
    normalize_columns: bool = False
    method: Literal["derivative", "weak"] = "derivative"
    differentiation: str = "auto"
    order: int = Field(default=2, ge=1)
    window: int | None = Field(default=None, ge=1)
    weak_window: int | None = Field(default=None, ge=7)
    polyorder: int = Field(default=3, ge=0)
    align: Literal["actions", "all", "none"] = "actions"
    ensemble: int = Field(default=0, ge=0)
    subset: float = Field(default=0.6, gt=0, le=1)
    bagging: Literal["trajectories", "rows"] = "trajectories"
    inclusion_threshold: float = Field(default=0.5, gt=0, le=1)
    aggregate: Literal["refit", "median", "mean"] = "refit"
    seed: int = Field(default=0, ge=0)
    diagnostics: bool = True
    denominator: str | None = None
    denominator_degree: int = 2
    rational: tuple[str, ...] | None = None
    refine: Literal["none", "coefficients", "terms"] = "none"
    refine_segment: int = Field(default=300, ge=1)
    kinematics: tuple[str, ...] = ()

    @field_validator("library")
    @classmethod
    def _known_library(cls, value: str) -> str:
        LIBRARIES[value]  # raises UnknownNameError listing valid names
        return value

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        OPTIMIZERS[value]  # raises UnknownNameError listing valid names
        return value

    @field_validator("differentiation")
    @classmethod
    def _known_differentiation(cls, value: str) -> str:
        if value != "auto":
            DIFFERENTIATION[value]  # raises UnknownNameError listing valid names
        return value

    @field_validator("denominator_degree", mode="before")
    @classmethod
    def _degree_of_a_polynomial(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`denominator_degree` must be an integer >= 1. Got {value!r}.")
        if value < 1:
            raise ConfigError(
                f"`denominator_degree` must be >= 1 (D(z) = 1 + d_1 z + ...). Got {value}."
            )
        return value

    @field_validator("denominator")
    @classmethod
    def _denominator_is_an_expression(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ConfigError(
                "`denominator` must be an expression over the states, e.g. 'cos(theta2)'. Got "
                "an empty string; use None for no denominator."
            )
        return value

    @field_validator("kinematics")
    @classmethod
    def _position_equals_velocity(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        check_kinematics(value)  # raises ConfigError naming the bad entry
        return value

    @model_validator(mode="after")
    def _rational_needs_a_denominator(self) -> DiscoverConfig:
        if self.rational is not None and self.denominator is None:
            raise ConfigError(
                f"`rational` ({list(self.rational)}) needs a `denominator` expression, e.g. "
                f"denominator='cos(theta2)'; without one there is nothing to divide by."
            )
        both = sorted(set(self.rational or ()) & set(check_kinematics(self.kinematics)))
        if both:
            raise ConfigError(
                f"{both} are both `rational` (divided by the denominator) and pinned by "
                f"`kinematics` (d(position)/dt = velocity exactly); drop them from one of the two."
            )
        return self
