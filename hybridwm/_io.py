"""Small file helpers shared by every writer: atomic writes and JSON with numpy support.

Every writer of hybridwm goes through :func:`atomic_path` (files) or :func:`atomic_dir`
(directories written as a whole, such as a model directory):

* **atomic**: the output is written to a temporary name next to it, flushed to disk
  (``fsync``) and renamed onto the final name, so a crash, a Ctrl-C or a full disk never leaves
  a half-written output, and the earlier output (if any) stays byte-identical;
* **named errors**: an ``OSError`` while writing (disk full, quota, read-only file system,
  permission denied, ...) removes the temporary file and raises
  :class:`~hybridwm.errors.OutputError`, naming the path, the reason and the fix;
* **ordinary permissions**: files are created with mode ``0o666`` and directories with
  ``0o777``, both masked by the process umask, like the files of any other tool (not the
  ``0o600``/``0o700`` of :func:`tempfile.mkstemp`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hybridwm.errors import HybridWMError, OutputError

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "output_error",
    "to_jsonable",
]

#: how many random temporary names are tried before giving up
_TRIES = 100
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EROFS, errno.EACCES, errno.EPERM}


def output_error(exc: OSError, path: str | os.PathLike[str]) -> OutputError:
    """The :class:`~hybridwm.errors.OutputError` for ``exc``, raised while writing ``path``.

    The message names the path, the operating system's reason and the fix; the error keeps
    ``exc``'s ``errno`` and ``strerror``, and ``filename`` is ``path``.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = errno.errorcode.get(exc.errno, "") if isinstance(exc.errno, int) else ""
    if exc.errno in _NO_SPACE:
        fix = (
            "Free some disk space (or raise the quota), or choose another output path "
            "(--out) on a disk with room, and run again."
        )
    elif exc.errno in _NOT_ALLOWED:
        fix = "Choose another output path (--out) where you may write, or fix its permissions."
    else:
        fix = "Check the path, or choose another output path (--out)."
    err = OutputError(
        f"Cannot write {str(path)!r}: {reason}{f' ({code})' if code else ''}. {fix} "
        f"An earlier file there, if any, is unchanged."
    )
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, str(path)
    return err


def _temp_name(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")


def _temp_file(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` (mode 0o666 & ~umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TRIES):
        tmp = _temp_name(path, ".tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _temp_dir(path: Path) -> Path:
    """Create an empty temporary directory next to ``path`` (mode 0o777 & ~umask)."""
    for _ in range(_TRIES):
        tmp = _temp_name(path, ".tmpdir")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _fsync(file: Path) -> None:
    """Flush ``file``'s data to the disk (where a full disk may show only now)."""
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_parent(path: Path, make_temp: Callable[[Path], Path]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_temp(path)
    except OSError as exc:
        raise output_error(exc, path) from exc


def _failed(exc: BaseException, path: Path) -> BaseException:
    """What a failed write raises: an ``OSError`` becomes an OutputError, anything else
    (``KeyboardInterrupt``, hybridwm's own errors, ...) is raised as it is."""
    if isinstance(exc, OSError) and not isinstance(exc, HybridWMError):
        return output_error(exc, path)
    return exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary file exists (empty, mode ``0o666`` masked by the umask) when the body
    starts. If the body raises (including ``KeyboardInterrupt``), the temporary file is
    removed and ``path`` keeps its previous content, so a crash never leaves a half-written
    file.

    Raises:
        OutputError: writing failed with an ``OSError`` (disk full, read-only, ...);
            ``path`` is unchanged and the temporary file removed.

    Example:
        >>> with atomic_path("out.parquet") as tmp:   # doctest: +SKIP
        ...     df.to_parquet(tmp)
    """
    path = Path(path)
    tmp = _make_parent(path, _temp_file)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        error = _failed(exc, path)
        if error is exc:
            raise
        raise error from exc


def _replace_dir(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an existing ``path`` is replaced (restored on failure)."""
    backup = None
    if path.exists():
        backup = _temp_name(path, ".old")
        os.replace(path, backup)
    try:
        os.replace(new, path)
    except BaseException:
        if backup is not None:
            os.replace(backup, path)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new empty directory next to ``path``; on success it replaces ``path``.

    The body fills the directory (mode ``0o777`` masked by the umask); when it returns, the
    directory is renamed onto ``path``, replacing an existing directory there as a whole. If
    the body raises, the temporary directory is removed and ``path`` is left as it was. The
    caller decides whether ``path`` may be replaced.

    Raises:
        OutputError: writing failed with an ``OSError`` (disk full, read-only, ...).

    Example:
        >>> with atomic_dir("models/hybrid") as tmp:   # doctest: +SKIP
        ...     atomic_write_json(tmp / "config.json", config)
    """
    path = Path(path)
    tmp = _make_parent(path, _temp_dir)
    try:
        yield tmp
        _replace_dir(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        error = _failed(exc, path)
        if error is exc:
            raise
        raise error from exc


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Raises:
        OutputError: the write failed (disk full, ...); ``path`` is unchanged.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths, tuples and dataclass-like dicts into JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def atomic_write_json(
    path: str | os.PathLike[str], obj: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy values converted)."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, default=default)
    return atomic_write_text(path, text + "\n")
