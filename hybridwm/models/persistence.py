"""Persistence: a fitted WorldModel as a run directory, written atomically, read without pickles.

Files: ``config.json`` (a :class:`ModelDocument`: format, kind, architecture, names, column
mapping, adapted parts), ``physics.json`` (when the physics is a PhysicsModel; with trained or
adapted coefficients), ``weights.safetensors`` (all weights and normalization buffers),
``history.json``, ``train_config.json``, and after adaptation ``adapt_history.json`` and
``adapt_config.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from hybridwm._io import atomic_write_json, atomic_write_text
from hybridwm.config import Config
from hybridwm.dynamics import ODEModel
from hybridwm.errors import FormatError, HybridWMError, IncompatibleVersionError
from hybridwm.models.building import DTYPES, build_model, dtype_device
from hybridwm.models.spec import ModelSpec, is_physics_model
from hybridwm.physics import PhysicsModel
from hybridwm.training import History, TrainConfig

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelDocument",
    "SavedModel",
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
        """The model's architecture (files written before ``angles`` was saved: none)."""
        params = {"angles": (), **self.params}
        latent = {f"z{i}" for i in range(int(params.get("latent_dim", 0)))}
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
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
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
    """Write a model directory atomically (a temp dir, then a rename over any old one).

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        atomic_write_json(tmp / "config.json", document.to_dict())
        if phys_json is not None:
            atomic_write_text(tmp / "physics.json", phys_json)
        tensors = {
            k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
        }
        save_file(tensors, str(tmp / "weights.safetensors"), metadata={"format": FORMAT})
        for attr, name in EXTRAS.items():
            if fitted.get(attr) is not None:
                fitted[attr].save(tmp / name)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _replace_dir(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``, replacing an existing directory."""
    backup = None
    if path.exists():
        backup = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, backup)
    os.replace(new, path)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


@dataclass
class SavedModel:
    """What :func:`read_model_dir` read: the document, the architecture, the physics and the
    fitted attributes of the WorldModel (``model_``, ``history_``, ...)."""

    document: ModelDocument
    spec: ModelSpec
    physics: Any
    fitted: dict[str, Any]


def _load_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"Cannot read {str(file)!r}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{str(file)!r} is not valid JSON: {exc}.") from None


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
        try:
            return PhysicsModel.from_json(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise FormatError(f"Cannot read {str(file)!r}: {exc}.") from None
    if entry == "custom" and physics is None:
        raise FormatError(
            f"{str(path)!r} was saved with a custom physics module, which cannot be "
            f"stored as JSON; pass it again: WorldModel.load(path, physics=module)."
        )
    return physics if entry == "custom" else None


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


def _read_extras(path: Path, adapted: bool) -> dict[str, Any]:
    """``history_``, and where their files exist ``config_``; after adaptation
    ``adapt_history_`` and ``adapt_config_``."""
    out: dict[str, Any] = {"history_": History()}
    for attr, name in EXTRAS.items():
        file = path / name
        if not file.is_file() or (attr.startswith("adapt_") and not adapted):
            continue
        try:
            if attr.endswith("history_"):
                out[attr] = History.from_dict(_load_json(file))
            else:
                out[attr] = TrainConfig.from_file(file)
        except (HybridWMError, AttributeError, KeyError, TypeError, ValueError) as exc:
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
    model = build_model(
        spec,
        phys,
        doc.state_names,
        doc.observed_names,
        doc.action_names,
        DTYPES[doc.dtype],
        tuple(spec.angles or ()),
    )
    _read_weights(path, model)
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
