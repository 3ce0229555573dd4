"""PhysicsModel: discovered or declared equations dx/dt = Theta(x, u; p) @ C(p).T, ready to use.

The equations themselves (terms, coefficients, parameters, observations) are an
:class:`~hybridwm.physics.equations.Equations`; a :class:`PhysicsModel` adds what a user does
with them: evaluate (``predict``), integrate with held actions (``simulate``), score against
data, print (``equations``, ``to_latex``), compare with known coefficients, turn into a torch
module (``vector_field``), fit the parameters of a declared prior, and save/load the JSON
document of :mod:`hybridwm.physics.document`.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hybridwm._io import atomic_write_text
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, FormatError, HybridWMError, ShapeError, UnknownNameError
from hybridwm.physics.comparison import compare_coefficients
from hybridwm.physics.derivatives import make_differentiation, regression_data, resolve_align
from hybridwm.physics.document import FORMAT, FORMAT_VERSION, read_document, to_document
from hybridwm.physics.equations import Equations
from hybridwm.physics.parameter import Parameter
from hybridwm.physics.parameter_fit import fit_parameters
from hybridwm.physics.printing import equation_lines, latex_lines
from hybridwm.physics.refinement import refine_coefficients
from hybridwm.physics.stepping import rk4_held
from hybridwm.physics.torch_field import PhysicsVectorField

__all__ = ["FORMAT", "FORMAT_VERSION", "Parameter", "PhysicsModel"]

#: differentiation options recorded in ``info`` that :meth:`PhysicsModel.score` reuses
_DIFFERENTIATION_OPTIONS = ("order", "window", "polyorder")


class PhysicsModel(Equations):
    """Equations ``dx/dt = Theta(x, u; p) @ C(p).T`` with names, printing, simulation and IO.

    Build one with :func:`~hybridwm.physics.discover` or :func:`~hybridwm.physics.declare`;
    the constructor (arguments as :class:`~hybridwm.physics.equations.Equations`: state and
    action names, features, coefficients, and optionally parameters, ensemble statistics,
    ``info`` and observation equations) is for those and for loading.
    """

    # ------------------------------------------------------------------ printing
    def equations(self, precision: int = 4, *, symbolic: bool = False) -> list[str]:
        """One readable string per state, e.g. ``"d(omega)/dt = -9.81 sin(theta) - 0.1 omega"``.

        Args:
            precision: significant digits of the coefficients.
            symbolic: for declared priors, print coefficients as expressions of the parameters.
        """
        return equation_lines(self, precision, symbolic=symbolic)

    def to_latex(self, precision: int = 4) -> str:
        """The equations as a LaTeX ``aligned`` block (numeric coefficients)."""
        lines = [eq.replace(" = ", " &= ", 1) for eq in self.latex_equations(precision)]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def latex_equations(self, precision: int = 4) -> list[str]:
        """One LaTeX equation per state, e.g. ``\\dot{\\omega} = - 9.81\\,\\sin(\\theta)``
        (numeric coefficients), each usable on its own (``$$ ... $$``)."""
        return latex_lines(self, precision)

    def __repr__(self) -> str:
        kind = "declared" if self.parameters else "discovered"
        eqs = "\n  ".join(self.equations())
        return f"PhysicsModel({kind}, {self.n_terms} terms)\n  {eqs}"

    # ------------------------------------------------------------------ evaluation
    def _check_xu(self, x: Any, u: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] != self.n_x:
            raise ShapeError(
                f"`x` of {what} must have shape (..., {self.n_x}) for states "
                f"{list(self.state_names)}. Got {x.shape}."
            )
        if u is None:
            if self.n_u:
                raise ShapeError(
                    f"`u` of {what} is required: this model has actions {list(self.action_names)}."
                )
            u = np.zeros((*x.shape[:-1], 0))
        u = np.asarray(u, dtype=np.float64)
        if u.ndim < 1 or u.shape[-1] != self.n_u:
            raise ShapeError(
                f"`u` of {what} must have shape (..., {self.n_u}) for actions "
                f"{list(self.action_names)}. Got {u.shape}."
            )
        return x, u

    def predict(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """dx/dt at given states and actions.

        Args:
            x: (..., n_x) states.
            u: (..., n_u) actions (``None`` when the model has none); broadcast against ``x``.

        Returns:
            (..., n_x) time derivatives.
        """
        x, u = self._check_xu(x, u, "predict")
        return self.library.evaluate(x, u, self.parameter_array()) @ self._coef.T

    def _simulate_inputs(
        self, x0: Any, u: Any, t: Any, substeps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Checked ``(x0 (n, n_x), u (n, T or T-1, n_u), t (T,), single)`` of :meth:`simulate`;
        ``single`` is True when ``x0`` was 1-D."""
        x0 = np.asarray(x0, dtype=np.float64)
        single = x0.ndim == 1
        x0b = x0[None] if single else x0
        if x0b.ndim != 2 or x0b.shape[1] != self.n_x:
            raise ShapeError(
                f"`x0` must have shape (n, {self.n_x}) or ({self.n_x},). Got {x0.shape}."
            )
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 1 or len(t) < 1 or (len(t) > 1 and (np.diff(t) <= 0).any()):
            raise ShapeError(f"`t` must be a strictly increasing 1-D array. Got shape {t.shape}.")
        T, n = len(t), x0b.shape[0]
        if substeps < 1:
            raise ConfigError(f"`substeps` must be >= 1. Got {substeps}.")
        if u is None:
            if self.n_u:
                raise ShapeError(
                    f"`u` of simulate is required: this model has actions {list(self.action_names)}."
                )
            return x0b, np.zeros((n, max(T - 1, 0), 0)), t, single
        ub = np.asarray(u, dtype=np.float64)
        if single:
            ub = ub[None]
        if (
            ub.ndim != 3
            or ub.shape[0] != n
            or ub.shape[2] != self.n_u
            or ub.shape[1] not in (T, T - 1)
        ):
            raise ShapeError(
                f"`u` of simulate must have shape ({n}, {T}, {self.n_u}) (or {T - 1} steps) "
                f"for actions {list(self.action_names)} and {T} times. Got {np.shape(u)}."
            )
        return x0b, ub, t, single

    def simulate(
        self,
        x0: np.ndarray,
        u: np.ndarray | None,
        t: np.ndarray,
        *,
        substeps: int = 1,
    ) -> np.ndarray:
        """Integrate the equations with held actions (fixed-step RK4 on the sample grid).

        ``u[:, k]`` is held on ``[t[k], t[k+1])``; each interval is integrated with ``substeps``
        RK4 steps. All trajectories are advanced together (vectorised over the batch).

        Args:
            x0: (n, n_x) or (n_x,) initial states at ``t[0]``.
            u: (n, T, n_u) or (n, T-1, n_u) held actions ((T, n_u) when ``x0`` is 1-D);
                ``None`` when the model has no actions. The action at the last sample is unused.
            t: (T,) strictly increasing times.
            substeps: RK4 steps per sample interval.

        Returns:
            (n, T, n_x) states at ``t`` (``(T, n_x)`` when ``x0`` is 1-D); ``x[:, 0] = x0``.
            If the solution diverges, later samples are NaN and a warning is issued.
        """
        x0b, ub, t, single = self._simulate_inputs(x0, u, t, substeps)
        p = self.parameter_array()
        C = self._coef.T
        ev = self.library.evaluate

        def f(x: np.ndarray, uk: np.ndarray) -> np.ndarray:
            return ev(x, uk, p) @ C

        out = rk4_held(f, x0b, ub, np.diff(t), substeps)
        if not np.isfinite(out).all():
            warnings.warn(
                "PhysicsModel.simulate diverged (NaN/inf) for some trajectories; the equations "
                "may be unstable outside the training data, or the step too large (use substeps).",
                RuntimeWarning,
                stacklevel=2,
            )
            bad = ~np.isfinite(out)
            out[bad] = np.nan
        return out[0] if single else out

    def score(
        self,
        data: TrajectorySet,
        *,
        differentiation: Any = None,
        align: Any = None,
        per_state: bool = False,
    ) -> float | dict[str, float]:
        """R² of the model's derivatives against finite-difference derivatives of ``data``.

        The derivatives are estimated with the differentiation used to fit the model (recorded
        in ``info``; finite differences otherwise), and the regressors are aligned with the held
        actions the same way as in :func:`~hybridwm.physics.discover`.

        Args:
            data: trajectories with (at least) the model's states and actions.
            differentiation: override the differentiation method (name or pysindy object).
            align: override the alignment mode (``"actions"``, ``"all"``, ``"none"``).
            per_state: return ``{state: R²}`` instead of the mean over states.

        Returns:
            Mean R² over states (1 is perfect), or a dict per state.
        """
        info = self.info.get("differentiation", {}) if differentiation is None else {}
        method = make_differentiation(
            differentiation
            if differentiation is not None
            else info.get("name", "finite_difference"),
            **{k: v for k, v in info.get("options", {}).items() if k in _DIFFERENTIATION_OPTIONS},
        )
        mode = resolve_align(self.info.get("align", "actions") if align is None else align)
        xcols, ucols = self._columns_in(data)
        lib = self.library
        cols = lib.uses_actions if mode == "actions" else np.full(lib.n_features, mode == "all")
        p = self.parameter_array()

        def fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            return lib.evaluate(x[:, xcols], u[:, ucols], p)

        reg = regression_data(data, fn, method, cols, state_columns=xcols)
        pred = reg.theta @ self._coef.T
        ss_res = ((reg.dx - pred) ** 2).sum(axis=0)
        ss_tot = ((reg.dx - reg.dx.mean(axis=0)) ** 2).sum(axis=0)
        r2 = 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)
        if per_state:
            return {s: float(v) for s, v in zip(self.state_names, r2, strict=False)}
        return float(np.mean(r2))

    def _columns_in(self, data: TrajectorySet) -> tuple[np.ndarray, np.ndarray]:
        missing = [s for s in self.state_names if s not in data.state_names]
        missing += [a for a in self.action_names if a not in data.action_names]
        if missing:
            raise UnknownNameError(
                f"The data lacks {missing}, which the model uses. The data has states "
                f"{list(data.state_names)} and actions {list(data.action_names)}."
            )
        xcols = np.array([data.state_names.index(s) for s in self.state_names], dtype=int)
        ucols = np.array([data.action_names.index(a) for a in self.action_names], dtype=int)
        return xcols, ucols

    # ------------------------------------------------------------------ torch
    def vector_field(
        self,
        trainable: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> PhysicsVectorField:
        """The equations as a torch module ``forward(x, u) -> dx/dt`` (see ``torch_field``).

        Args:
            trainable: train the nonzero coefficients (discovered) or the free parameters
                (declared, with bounds enforced by reparametrisation); the mask stays fixed.
            dtype: dtype of the module (default ``torch.float64``).
            device: device of the module.
        """
        return PhysicsVectorField(
            self, trainable=trainable, dtype=dtype or torch.float64, device=device
        )

    @classmethod
    def from_vector_field(cls, module: PhysicsVectorField) -> PhysicsModel:
        """A PhysicsModel with the (possibly trained) values of a vector-field module."""
        to_model = getattr(module, "to_physics_model", None)
        if to_model is None:
            raise ConfigError(
                f"Expected a module made by PhysicsModel.vector_field(); got {type(module).__name__}."
            )
        return to_model()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ declared priors
    def fit_parameters(self, data: TrajectorySet, **kwargs: Any) -> PhysicsModel:
        """Fit the free parameters to ``data`` (see :func:`hybridwm.physics.fit_parameters`)."""
        return fit_parameters(self, data, **kwargs)

    def refine(self, data: TrajectorySet, **kwargs: Any) -> PhysicsModel:
        """These equations with their coefficients fitted again by simulation error (see
        :func:`hybridwm.physics.refine_coefficients`)."""
        return refine_coefficients(self, data, **kwargs)  # type: ignore[return-value]

    # ------------------------------------------------------------------ comparison
    def compare(self, true_equations: Any) -> pd.DataFrame:
        """Compare coefficients with known ones (see
        :func:`~hybridwm.physics.comparison.compare_coefficients`).

        Args:
            true_equations: ``{equation: {feature: coefficient}}`` (equations keyed by state
                name or ``"d(state)/dt"``, features matched symbolically), or an object with
                such a ``coefficients`` mapping (e.g.
                ``get_system("pendulum").true_equations()``).

        Returns:
            One row per (state, feature) that is nonzero in either: ``true``, ``found``,
            ``abs_error``, ``rel_error`` (NaN where the true value is 0: a spurious term).
        """
        return compare_coefficients(self, true_equations)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see :mod:`hybridwm.physics.document`)."""
        return to_document(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The model as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "physics JSON") -> PhysicsModel:
        """Build a model from :meth:`to_dict` output.

        Raises:
            FormatError: not a hybridwm physics document, or a required field is missing/invalid.
            IncompatibleVersionError: written by an incompatible format version.
        """
        fields = read_document(data, source)
        try:
            return cls(**fields)
        except (HybridWMError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise FormatError(f"{source} is invalid: {exc}") from None
        except (AttributeError, KeyError, IndexError) as exc:  # a field of the wrong type
            raise FormatError(
                f"{source} is invalid: a field has the wrong type ({type(exc).__name__}: {exc}); "
                f"re-create the file with PhysicsModel.save."
            ) from None

    @classmethod
    def from_json(cls, text: str) -> PhysicsModel:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(_parse_json(text, "physics JSON"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON, atomically (a crash never leaves a half-written file)."""
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PhysicsModel:
        """Read a model written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FormatError(f"Physics model file {str(p)!r} does not exist.")
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"Physics model file {str(p)!r} is not a text file (byte {exc.start} is not "
                f"UTF-8); expected the JSON document written by PhysicsModel.save (physics.json). "
                f"Check the path."
            ) from None
        return cls.from_dict(_parse_json(text, repr(str(p))), source=repr(str(p)))


def _parse_json(text: str, source: str) -> Any:
    """The JSON value of ``text``; FormatError (naming ``source``) for anything else, including
    nesting too deep for the parser and integers too long to convert."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise FormatError(
            f"{source} is not valid JSON ({type(exc).__name__}: {str(exc)[:200]}); expected the "
            f"JSON document written by PhysicsModel.save."
        ) from None
