"""The JSON document of a physics model (``physics.json``): what is written and how it is read.

Format (``format_version`` 1)::

    {
      "format": "hybridwm.physics", "format_version": 1,
      "state_names": ["theta", "omega"], "action_names": ["torque"],
      "parameters": [{"name": "w0", "value": 3.1, "bounds": [0, 10], "fixed": false}],
      "features": ["sin(theta)", "omega", "torque"],          # parseable expressions
      "coefficients": [[0, 1, 0], ["-w0**2", 0, 0]],          # numbers or expressions
      "ensemble": null | {"n_models": 20, "coef_mean": [[...]], "coef_std": [[...]],
                          "inclusion_probability": [[...]]},
      "observations": {"theta_meas": "theta + offset"},       # optional
      "info": {...}                                           # how it was made (free form)
    }

Expressions are parsed with a whitelist parser (never ``eval``), so loading a file runs no code.
"""

from __future__ import annotations

from typing import Any

from hybridwm._io import to_jsonable
from hybridwm.data.checks import require_keys
from hybridwm.errors import FormatError, IncompatibleVersionError
from hybridwm.physics.equations import Equations
from hybridwm.physics.parameter import Parameter

__all__ = ["FORMAT", "FORMAT_VERSION", "REQUIRED_FIELDS", "read_document", "to_document"]

FORMAT = "hybridwm.physics"
FORMAT_VERSION = 1
#: the fields every document has (the others are optional)
REQUIRED_FIELDS = ("state_names", "action_names", "features", "coefficients")


def to_document(eqs: Equations) -> dict[str, Any]:
    """The JSON document of ``eqs`` (see the module docstring)."""
    if eqs.has_symbolic_coefficients:
        coefs = [[float(e) if e.is_Number else str(e) for e in r] for r in eqs.coef_expressions]
    else:
        coefs = eqs.coef_array.tolist()
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_names": list(eqs.state_names),
        "action_names": list(eqs.action_names),
        "parameters": [p.to_dict() for p in eqs.parameters.values()],
        "features": [str(e) for e in eqs.library.exprs],
        "coefficients": coefs,
        "ensemble": to_jsonable(eqs.ensemble) if eqs.ensemble else None,
        "info": to_jsonable(eqs.info),
    }
    if eqs.observations:
        out["observations"] = {k: str(v) for k, v in eqs.observations.items()}
    return out


def _check_header(data: Any, source: str) -> None:
    """Raise unless ``data`` is a document of this format and version with every required field."""
    if not isinstance(data, dict):
        raise FormatError(f"{source} must hold a JSON object; got {type(data).__name__}.")
    if data.get("format") != FORMAT:
        raise FormatError(
            f"{source} is not a hybridwm physics model: its 'format' is "
            f"{data.get('format')!r}, expected {FORMAT!r}."
        )
    if "format_version" not in data:
        raise FormatError(f"{source} has no 'format_version' field; it cannot be read safely.")
    version = data["format_version"]
    if version != FORMAT_VERSION:
        raise IncompatibleVersionError(
            f"{source} has format_version {version!r}, but this hybridwm reads version "
            f"{FORMAT_VERSION}. Re-create it with this version (hybridwm discover) or install "
            f"the hybridwm version that wrote it."
        )
    require_keys(
        data,
        REQUIRED_FIELDS,
        lambda missing: FormatError(
            f"{source} is missing required field(s) {missing}; a physics model needs "
            f"{list(REQUIRED_FIELDS)}. The file may be truncated or hand-edited."
        ),
    )


def read_document(data: Any, source: str = "physics JSON") -> dict[str, Any]:
    """The constructor arguments of :class:`~hybridwm.physics.PhysicsModel` held by a document.

    Args:
        data: the parsed JSON document.
        source: what the document is, for error messages (e.g. the file name).

    Returns:
        ``state_names``, ``action_names``, ``features``, ``coefficients``, ``parameters``
        (:class:`Parameter` s), ``ensemble``, ``info`` and ``observations``.

    Raises:
        FormatError: not a hybridwm physics document, a required field is missing, or a
            parameter entry is invalid.
        IncompatibleVersionError: written by an incompatible format version.
    """
    _check_header(data, source)
    try:
        params = [Parameter.from_dict(p) for p in data.get("parameters") or []]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise FormatError(
            f"{source} has an invalid 'parameters' entry ({exc!r}); each needs 'name' and 'value'."
        ) from None
    return {
        "state_names": data["state_names"],
        "action_names": data["action_names"],
        "features": data["features"],
        "coefficients": data["coefficients"],
        "parameters": params,
        "ensemble": data.get("ensemble"),
        "info": data.get("info") or {},
        "observations": data.get("observations") or None,
    }
