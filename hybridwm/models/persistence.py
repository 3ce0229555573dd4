"""Persistence: a fitted WorldModel as a run directory, written atomically, read without pickles.

Files: ``config.json`` (a :class:`ModelDocument`: format, kind, architecture, names, column
mapping, adapted parts), ``physics.json`` (when the physics is a PhysicsModel; with trained or
adapted coefficients), ``weights.safetensors`` (all weights and normalization buffers),
``history.json``, ``train_config.json``, and after adaptation ``adapt_history.json`` and
``adapt_config.json``.

One source of truth: ``weights.safetensors``. The rollout computes with the coefficients and
parameters held there; ``physics.json`` repeats them, with the equations' features, so that the
physics can be read (``physics_model.equations()``). Loading checks that the two agree (see
:func:`check_physics_agrees`), so a hand-edited ``physics.json`` never prints equations the model
does not use.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import nn

from hybridwm._io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    output_error,
)
from hybridwm.config import Config
from hybridwm.dynamics import ODEModel
from hybridwm.errors import (
    ConfigError,
    FormatError,
    HybridWMError,
    IncompatibleVersionError,
    OutputError,
)
from hybridwm.models.building import DTYPES, build_model, dtype_device
from hybridwm.models.spec import ModelSpec, is_physics_model
from hybridwm.physics import PhysicsModel
from hybridwm.training import History, TrainConfig

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelDocument",
    "SavedModel",
    "check_physics_agrees",
    "is_model_dir",
    "package_version",
    "read_model_dir",
    "save_model",
]

FORMAT = "hybridwm.worldmodel"
FORMAT_VERSION = 1
#: fitted attribute → its JSON file in the model directory
EXTRAS = {
    "history_": "history.json",
    "config_": "train_config.json",
    "adapt_history_": "adapt_history.json",
    "adapt_config_": "adapt_config.json",
}


def package_version() -> str:
    """The installed hybridwm version (``"0.0.0"`` in a source tree without install)."""
    try:
        return version("hybridwm")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


class ModelDocument(Config):
    """``config.json`` of a saved WorldModel.

    Args:
        format: always :data:`FORMAT`.
        format_version: :data:`FORMAT_VERSION` of the writer.
        hybridwm_version: the package version that wrote it.
        kind: the model kind.
        params: the :class:`~hybridwm.models.spec.ModelSpec` fields but ``kind`` and
            ``state_names``, with the resolved ``angles``.
        state_names: every model state (latent ``z0, z1, ...`` included).
        observed_names: the measured columns.
        action_names: the actions.
        dtype: ``"float64"`` or ``"float32"``.
        physics: ``"physics.json"``, ``"custom"`` (a torch module, passed again to ``load``) or
            None (learned).
        adapted: the parts trained by ``adapt``, or None.
        columns: the ColumnMapping (``to_dict()``) of the training data, or None.
    """

    format: str = FORMAT
    format_version: int = Field(FORMAT_VERSION, ge=1)
    hybridwm_version: str | None = None
    kind: str
    params: dict[str, Any]
    state_names: tuple[str, ...]
    observed_names: tuple[str, ...]
    action_names: tuple[str, ...]
    dtype: Literal["float64", "float32"] = "float64"
    physics: Literal["physics.json", "custom"] | None = None
    adapted: str | None = None
    columns: dict[str, Any] | None = None

    def spec(self) -> ModelSpec:
        """The model's architecture (files written before ``angles`` or ``gate`` was saved:
        none and off)."""
        params = {"angles": (), "gate": "off", **self.params}
        n_latent = params.get("latent_dim", 0)
        if isinstance(n_latent, int) and n_latent > len(self.state_names):
            raise ConfigError(
                f"latent_dim is {n_latent}, more than the {len(self.state_names)} states in "
                f"state_names {list(self.state_names)}."
            )
        latent = {f"z{i}" for i in range(n_latent if isinstance(n_latent, int) else 0)}
        names = [n for n in self.state_names if n not in latent]
        return ModelSpec(kind=self.kind, state_names=names, **params)


def _physics_json(physics: Any, module: nn.Module | None, trained: bool) -> str | None:
    """The JSON of the model's physics (None unless ``physics`` is a PhysicsModel).

    Args:
        physics: the physics the model was built with.
        module: the model's physics term (``model.dynamics.physics``).
        trained: the coefficients were trained, so they are read back from ``module``.
    """
    if physics is None or not is_physics_model(physics):
        return None
    source = physics
    if trained and module is not None:
        from_vf = getattr(type(physics), "from_vector_field", None)
        if from_vf is not None:
            source = from_vf(module)
        elif hasattr(module, "to_physics_model"):
            source = module.to_physics_model()
    text = source.to_json()
    return text if isinstance(text, str) else json.dumps(text, indent=2)


def is_model_dir(path: Path) -> bool:
    """True if ``path`` holds a ``config.json`` of format :data:`FORMAT`."""
    try:
        cfg = _load_json(path / "config.json")
    except FormatError:
        return False
    return isinstance(cfg, dict) and cfg.get("format") == FORMAT


def _document(spec: ModelSpec, physics: Any, fitted: dict[str, Any]) -> ModelDocument:
    model = fitted["model_"]
    params = spec.replace(angles=fitted["angles_"]).to_dict()
    entry = None
    if physics is not None:
        entry = "physics.json" if is_physics_model(physics) else "custom"
    return ModelDocument(
        hybridwm_version=package_version(),
        kind=spec.kind,
        params={k: v for k, v in params.items() if k not in ("kind", "state_names")},
        state_names=fitted["state_names_"],
        observed_names=fitted["observed_names_"],
        action_names=fitted["action_names_"],
        dtype=str(dtype_device(model)[0]).replace("torch.", ""),
        physics=entry,
        adapted=fitted.get("adapted_parts_"),
        columns=fitted.get("columns_"),
    )


def save_model(
    path: str | os.PathLike[str], spec: ModelSpec, physics: Any, fitted: dict[str, Any]
) -> Path:
    """Write a model directory atomically (a temp dir, then a rename over any old one): a
    failed save (disk full, Ctrl-C, ...) leaves an earlier directory at ``path`` byte-identical.

    Args:
        path: the directory (new, empty, or a model directory to replace).
        spec: the model's architecture.
        physics: the physics the model was built with (or adapted to), or None.
        fitted: the WorldModel's fitted attributes (``model_``, ``state_names_``,
            ``observed_names_``, ``action_names_``, ``angles_``, ``history_`` and, where
            present, ``columns_``, ``config_``, ``adapted_parts_``, ``adapt_history_``,
            ``adapt_config_``); :func:`read_model_dir` gives them back.

    Raises:
        FormatError: ``path`` exists and is not a hybridwm model directory.
        OutputError: writing failed (disk full, read-only, ...); ``path`` is unchanged.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or is_model_dir(path))):
        raise FormatError(
            f"Refusing to overwrite {str(path)!r}: it exists and is not a hybridwm model "
            f"directory. Choose another path or remove it."
        )
    model = fitted["model_"]
    document = _document(spec, physics, fitted)
    phys_json = _physics_json(physics, model.dynamics.physics, spec.trainable_physics)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    weights = save_safetensors(tensors, metadata={"format": FORMAT})
    with atomic_dir(path) as tmp:
        try:
            atomic_write_json(tmp / "config.json", document.to_dict())
            if phys_json is not None:
                atomic_write_text(tmp / "physics.json", phys_json)
            atomic_write_bytes(tmp / "weights.safetensors", weights)
            for attr, name in EXTRAS.items():
                if fitted.get(attr) is not None:
                    fitted[attr].save(tmp / name)
        except OutputError as exc:  # name the file in the model directory, not the temporary
            raise output_error(exc, path / Path(exc.filename or "").name) from exc
    return path


@dataclass
class SavedModel:
    """What :func:`read_model_dir` read: the document, the architecture, the physics and the
    fitted attributes of the WorldModel (``model_``, ``history_``, ...)."""

    document: ModelDocument
    spec: ModelSpec
    physics: Any
    fitted: dict[str, Any]


def _load_json(file: Path) -> Any:
    """The JSON document in ``file``.

    Raises:
        FormatError: the file cannot be read, is not UTF-8, not JSON or nested too deeply.
    """
    fix = "Restore the file or re-save the model with WorldModel.save."
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise FormatError(f"Cannot read {str(file)!r}: {exc}.") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{str(file)!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); it is damaged. "
            f"{fix}"
        ) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{str(file)!r} is not valid JSON: {exc}. {fix}") from None
    except RecursionError:
        raise FormatError(
            f"{str(file)!r} is nested too deeply to be a file written by hybridwm. {fix}"
        ) from None


def _read_document(path: Path) -> ModelDocument:
    cfg_path = path / "config.json"
    if not path.is_dir() or not cfg_path.is_file():
        raise FormatError(
            f"{str(path)!r} is not a hybridwm model directory (no config.json). Give the "
            f"directory written by WorldModel.save(path)."
        )
    raw = _load_json(cfg_path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise FormatError(
            f"{str(path)!r} is not a hybridwm model directory: config.json has format "
            f"{raw.get('format') if isinstance(raw, dict) else None!r}, expected {FORMAT!r}."
        )
    found = raw.get("format_version")
    if not isinstance(found, int) or found > FORMAT_VERSION or found < 1:
        raise IncompatibleVersionError(
            f"{str(path)!r} has model format version {found!r}; this hybridwm reads "
            f"version {FORMAT_VERSION}. Upgrade hybridwm (pip install -U hybridwm) or re-save "
            f"the model with a matching version."
        )
    known = ModelDocument.field_names()
    try:
        return ModelDocument.from_dict({k: v for k, v in raw.items() if k in known})
    except HybridWMError as exc:
        raise FormatError(
            f"{str(cfg_path)!r} is missing or has a bad entry: {exc} Re-save the model with "
            f"WorldModel.save."
        ) from None


def _read_physics(path: Path, entry: str | None, physics: Any) -> Any:
    if entry == "physics.json":
        file = path / "physics.json"
        data = _load_json(file)
        try:
            return PhysicsModel.from_dict(data, source=repr(str(file)))
        except (ArithmeticError, AttributeError, LookupError, RecursionError, TypeError) as exc:
            # a damaged file is a FormatError whatever the physics reader stumbles on
            raise FormatError(
                f"{str(file)!r} is invalid ({type(exc).__name__}: {str(exc)[:200]}). Restore "
                f"the file or re-save the model with WorldModel.save."
            ) from None
    if entry == "custom" and physics is None:
        raise FormatError(
            f"{str(path)!r} was saved with a custom physics module, which cannot be "
            f"stored as JSON; pass it again: WorldModel.load(path, physics=module)."
        )
    return physics if entry == "custom" else None


def _weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensors' shapes in ``weights.safetensors`` (its header only; the library checks that
    the file holds all their data)."""
    file = path / "weights.safetensors"
    try:
        with safe_open(str(file), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise FormatError(f"Cannot read {str(file)!r}: {exc}.") from None


def _probe(path: Path, args: tuple[Any, ...], angles: tuple[str, ...]) -> ODEModel:
    """The model of config.json and physics.json on the meta device (shapes, no memory).

    Raises:
        FormatError: the files describe no model that can be built (hybridwm's own errors,
            which name the problem, are raised as they are).
    """
    try:
        with torch.device("meta"):
            return build_model(*args, angles)
    except HybridWMError:
        raise
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as exc:
        raise FormatError(
            f"The model in {str(path)!r} cannot be built from config.json and physics.json "
            f"({type(exc).__name__}: {str(exc)[:200]}). Restore the files, or re-save the "
            f"model with WorldModel.save."
        ) from None


def _check_architecture(path: Path, probe: ODEModel) -> None:
    """Check that the model of config.json (``probe``, built on the meta device) has the
    tensors of ``weights.safetensors``, before any memory is allocated for it: a damaged
    config.json cannot make loading allocate more than the weights file holds.

    Raises:
        FormatError: a tensor is missing, extra or of another shape.
    """
    found = _weight_shapes(path)
    wanted = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if found == wanted:
        return
    missing = sorted(set(wanted) - set(found))
    extra = sorted(set(found) - set(wanted))
    shape = [k for k in wanted if k in found and found[k] != wanted[k]]
    if missing or extra:
        parts = [
            f"{label} {names[:5]}"
            for label, names in (("missing", missing), ("unexpected", extra))
            if names
        ]
        what = ", ".join(parts) + " in weights.safetensors"
    else:
        k = shape[0]
        what = f"{k!r} has shape {found[k]} in weights.safetensors, {wanted[k]} in config.json"
    raise FormatError(
        f"The weights in {str(path)!r} do not fit the architecture in config.json: {what}. "
        f"Restore the files, or re-save the model with WorldModel.save."
    )


def _read_weights(path: Path, model: ODEModel) -> None:
    file = path / "weights.safetensors"
    try:
        tensors = load_file(str(file))
    except (FileNotFoundError, SafetensorError, OSError) as exc:
        raise FormatError(f"Cannot read {str(file)!r}: {exc}.") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise FormatError(
            f"The weights in {str(path)!r} do not fit the architecture in config.json: {exc}"
        ) from None


#: relative tolerance of the check that physics.json agrees with the weights, per weight dtype
#: (float32 weights hold float32 roundings of the JSON values; declared coefficients are
#: evaluated by numpy from the JSON and by torch from the weights)
AGREEMENT_RTOL = {"torch.float64": 1e-9, "torch.float32": 1e-5}


def _first_difference(written: PhysicsModel, module: nn.Module) -> tuple[str, float, float] | None:
    """The first value on which ``written`` (physics.json) and ``module`` (the physics term
    holding the weights) disagree: ``(what, in_json, in_weights)``, or None."""
    dtype = str(module.mask.dtype)
    rtol = AGREEMENT_RTOL.get(dtype, 1e-5)
    tiny = float(np.finfo(np.float32 if dtype == "torch.float32" else np.float64).tiny)
    used = module.parameter_values() if written.parameters else {}
    for name, value in written.parameter_values.items():
        if not _close(value, used.get(name, math.nan), rtol, tiny):
            return f"parameter {name!r}", value, used.get(name, math.nan)
    in_json = np.asarray(written.coef_array, dtype=np.float64) * written.mask
    in_weights = module.coefficient_matrix().detach().cpu().double().numpy()
    finite = np.abs(in_json[np.isfinite(in_json)])
    atol = max(tiny, 1e-12 * float(finite.max(initial=0.0)))
    for i, state in enumerate(written.state_names):
        for j, feature in enumerate(written.feature_names):
            a, b = float(in_json[i, j]), float(in_weights[i, j])
            if not _close(a, b, rtol, atol):
                return f"coefficient of {feature!r} in d({state})/dt", a, b
    return None


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= max(atol, rtol * max(abs(a), abs(b)))


def check_physics_agrees(path: Path, written: Any, model: ODEModel) -> None:
    """Check that ``physics.json`` agrees with ``weights.safetensors``.

    The weights are the truth: the rollout computes with the coefficients (discovered
    physics) or parameter values (declared priors) in ``weights.safetensors``, and
    ``physics.json`` is written from them at save time, so that the equations can be printed.
    Were it edited afterwards, ``physics_model.equations()`` would print equations that the
    model does not use; hence loading compares the two (to the weights' precision) and refuses
    a disagreement.

    Args:
        path: the model directory (for the message).
        written: the PhysicsModel read from ``physics.json``.
        model: the model built from it, with the weights loaded.

    Raises:
        FormatError: a coefficient or parameter differs; the message names both files, the
            first differing value (both values) and the fix.
    """
    module = model.dynamics.physics
    if not is_physics_model(written) or not callable(getattr(module, "coefficient_matrix", None)):
        return
    diff = _first_difference(written, module)
    if diff is None:
        return
    what, in_json, in_weights = diff
    raise FormatError(
        f"{str(path / 'physics.json')!r} disagrees with {str(path / 'weights.safetensors')!r}: "
        f"the {what} is {in_json!r} in physics.json but {in_weights!r} in "
        f"weights.safetensors. The weights are what the model computes with, so physics.json "
        f"must agree with them. Restore physics.json (or re-save the model from the fitted "
        f"WorldModel with .save(path)); to use other coefficients, build a new model from "
        f"them and fit it."
    )


def _history(data: dict[str, Any]) -> History:
    """The History of a ``history.json`` document (its records: a list of objects)."""
    records = data.get("records", [])
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise FormatError("'records' must be a list of objects, one per epoch.")
    return History.from_dict(data)


def _read_extras(path: Path, adapted: bool) -> dict[str, Any]:
    """``history_``, and where their files exist ``config_``; after adaptation
    ``adapt_history_`` and ``adapt_config_``."""
    out: dict[str, Any] = {"history_": History()}
    for attr, name in EXTRAS.items():
        file = path / name
        if not file.is_file() or (attr.startswith("adapt_") and not adapted):
            continue
        try:
            data = _load_json(file)
            if not isinstance(data, dict):
                raise FormatError(f"expected a JSON object, got {type(data).__name__}.")
            if attr.endswith("history_"):
                out[attr] = _history(data)
            else:
                out[attr] = TrainConfig.from_record(data)  # trained on a GPU loads here too
        except (
            HybridWMError,
            ArithmeticError,
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:
            raise FormatError(
                f"Cannot read {str(file)!r}: {exc} It records how the model was trained; "
                f"remove the file to load the model without it, or re-save the model."
            ) from None
    return out


def read_model_dir(path: str | os.PathLike[str], physics: Any = None) -> SavedModel:
    """Read a directory written by :func:`write_model_dir` (no pickles are read).

    Args:
        path: the directory.
        physics: the physics module, required only for a model saved with a custom
            (non-PhysicsModel) physics module.

    Returns:
        The :class:`SavedModel`; its ``fitted`` holds the model (on the CPU, in eval mode)
        and the names, angles, column mapping, histories and configs.

    Raises:
        FormatError: ``path`` is not a hybridwm model directory or its files are damaged.
        IncompatibleVersionError: the directory comes from a newer format version.
    """
    path = Path(path)
    doc = _read_document(path)
    try:
        spec = doc.spec()
    except HybridWMError as exc:
        raise FormatError(
            f"{str(path / 'config.json')!r} holds an invalid model architecture: {exc}"
        ) from None
    phys = _read_physics(path, doc.physics, physics)
    args = (spec, phys, doc.state_names, doc.observed_names, doc.action_names, DTYPES[doc.dtype])
    angles = tuple(spec.angles or ())
    _check_architecture(path, _probe(path, args, angles))
    model = build_model(*args, angles)
    _read_weights(path, model)
    if doc.physics == "physics.json":
        check_physics_agrees(path, phys, model)
    fitted: dict[str, Any] = {
        "model_": model.eval(),
        "state_names_": doc.state_names,
        "observed_names_": doc.observed_names,
        "action_names_": doc.action_names,
        "angles_": tuple(spec.angles or ()),
        "columns_": doc.columns,
    }
    fitted.update(_read_extras(path, bool(doc.adapted)))
    if doc.adapted:
        fitted["adapted_parts_"] = doc.adapted
    return SavedModel(doc, spec, phys, fitted)
