"""A job's piece of the run directory, shipped as bytes, so that workers need no shared disk.

Every job of the benchmark runs the same way on every executor (this process, a local process
pool, a Ray cluster): the driver reads from the run directory the files of the job's
``jobs/<system>/seed<k>/`` folder that the job may reuse (:class:`Task`), the worker writes
them into a scratch folder of its own, runs the job there (:func:`run_task`) and sends back
the files it created or changed (:class:`Piece`), and the driver writes them into the run
directory (:func:`write_piece`) through the atomic writers of :mod:`hybridwm._io`: every file
on its own, every model directory as a whole, and the job's result ``eval/<model>.json`` last.
A process killed at any point (``kill -9`` of the driver or of a worker) therefore leaves each
file of the run directory either complete or absent, and a job is finished exactly when its
result file reads back. Only the driver writes to the run directory.

The warnings a job raises (a cached file that could not be read back, ...) travel back with
its piece and are raised again by the driver, naming the run directory's paths.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hybridwm._io import atomic_dir, atomic_write_bytes
from hybridwm.evaluation.config import BenchmarkConfig
from hybridwm.evaluation.jobs import job_dir

__all__ = ["Piece", "Task", "read_files", "run_task", "write_piece"]

#: the folders of a job folder that are written as a whole (``models/<name>/``)
_DIR_UNITS = "models"
#: written last: a job is finished when its result file is there
_RESULTS = "eval"


@dataclass(frozen=True)
class Task:
    """One job as it travels to a worker.

    Attributes:
        name: what the log calls it (``pendulum/seed0/hybrid``, ``pendulum/seed0 data``).
        fn: the job, a module-level function ``fn(cfg, out, system, seed, *extra)``.
        cfg: the benchmark's config.
        system: the system of the job.
        seed: the seed of the job.
        extra: the job's further arguments (the model kind).
        inputs: files of the job folder it may reuse, by path relative to that folder.
    """

    name: str
    fn: Callable[..., Any]
    cfg: BenchmarkConfig
    system: str
    seed: int
    extra: tuple[Any, ...] = ()
    inputs: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """What a job sends back: its new or changed files and the warnings it raised.

    Attributes:
        name: the job's :attr:`Task.name`.
        system: the job's system.
        seed: the job's seed.
        files: content by path relative to the job folder (``eval/hybrid.json``, ...).
        notes: (warning category, message) of each warning, with ``{job}`` where the
            message named the job folder.
    """

    name: str
    system: str
    seed: int
    files: dict[str, bytes]
    notes: tuple[tuple[type[Warning], str], ...] = ()


def read_files(folder: Path, patterns: Sequence[str]) -> dict[str, bytes]:
    """The files under ``folder`` whose relative paths match one of the glob ``patterns``
    (``*`` spans folders), by relative POSIX path; temporary files of interrupted writes
    (names starting with a dot) are left out."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if any(fnmatchcase(rel.as_posix(), p) for p in patterns):
            out[rel.as_posix()] = path.read_bytes()
    return out


def run_task(task: Task) -> Piece:
    """Run ``task`` in a scratch folder (this process) and return its piece."""
    with tempfile.TemporaryDirectory(prefix="hybridwm-job-") as scratch:
        folder = job_dir(Path(scratch), task.system, task.seed)
        for rel, content in task.inputs.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        with warnings.catch_warnings(record=True) as caught:
            task.fn(task.cfg, scratch, task.system, task.seed, *task.extra)
        outputs = read_files(folder, ["*"])
        notes = tuple((w.category, str(w.message).replace(str(folder), "{job}")) for w in caught)
    # a model directory goes back whole when any of its files changed
    changed = {_unit(rel) for rel, data in outputs.items() if task.inputs.get(rel) != data}
    files = {rel: data for rel, data in outputs.items() if _unit(rel) in changed}
    return Piece(task.name, task.system, task.seed, files, notes)


def _unit(rel: str) -> str:
    """The part of the job folder that ``rel`` is written with: ``models/<name>`` for the
    files of a model directory, else ``rel`` itself."""
    parts = rel.split("/")
    return "/".join(parts[:2]) if parts[0] == _DIR_UNITS and len(parts) > 2 else rel


def write_piece(out: Path, piece: Piece) -> None:
    """Write ``piece`` into the run directory ``out`` (the result file last) and raise its
    warnings again, naming the paths in ``out``."""
    folder = job_dir(out, piece.system, piece.seed)
    units: dict[str, dict[str, bytes]] = {}
    for rel, content in piece.files.items():
        units.setdefault(_unit(rel), {})[rel] = content
    ordered = sorted(units, key=lambda u: (u.split("/")[0] == _RESULTS, u))
    for unit in ordered:
        files = units[unit]
        if list(files) == [unit]:
            atomic_write_bytes(folder / unit, files[unit])
            continue
        with atomic_dir(folder / unit) as tmp:  # a model directory is replaced whole
            for rel, content in files.items():
                inner = tmp / rel[len(unit) + 1 :]
                inner.parent.mkdir(parents=True, exist_ok=True)
                inner.write_bytes(content)
    for category, message in piece.notes:
        warnings.warn(message.replace("{job}", str(folder)), category, stacklevel=2)
