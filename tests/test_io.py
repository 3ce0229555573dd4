"""The atomic writers of hybridwm._io: permissions follow the umask; a failing write (disk full,
read-only, ...) leaves the earlier output byte-identical, no temporary file, and a named error."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import hybridwm._io as io_mod
from hybridwm._io import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_json
from hybridwm.data import TrajectorySet, write_trajectories
from hybridwm.errors import FormatError, HybridWMError, OutputError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------- permissions
def test_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    new = atomic_write_bytes(tmp_path / "a.bin", b"x")
    replaced = tmp_path / "b.json"
    replaced.write_text("old")
    atomic_write_json(replaced, {"a": 1})
    with atomic_path(tmp_path / "c.txt") as tmp:
        assert _mode(tmp) == 0o666 & ~umask  # a writer that opens the temporary file keeps it
        tmp.write_text("c")
    for path in (new, replaced, tmp_path / "c.txt"):
        assert _mode(path) == 0o666 & ~umask, (path.name, oct(_mode(path)))


def test_directories_follow_the_umask(tmp_path: Path, umask: int) -> None:
    with atomic_dir(tmp_path / "deep" / "model") as tmp:
        atomic_write_json(tmp / "config.json", {"a": 1})
    model = tmp_path / "deep" / "model"
    assert _mode(model) == 0o777 & ~umask
    assert _mode(tmp_path / "deep") == 0o777 & ~umask
    assert _mode(model / "config.json") == 0o666 & ~umask


def test_a_real_writer_follows_the_umask(tmp_path: Path, umask: int) -> None:
    ts = TrajectorySet.from_arrays(
        t=np.linspace(0, 1, 5), x=np.arange(5.0).reshape(1, 5, 1), state_names=["q"]
    )
    for name in ("d.parquet", "d.csv"):
        path = write_trajectories(ts, tmp_path / name)
        assert _mode(path) == 0o666 & ~umask, name


# ---------------------------------------------------------------------------- disk full
def _enospc(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["fsync", "replace", "write"])
def test_disk_full_keeps_the_earlier_file_and_names_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "results.json"
    target.write_bytes(b'{"old": true}\n')
    if where == "write":

        class _Full:
            def __init__(self, *_a: object, **_k: object) -> None:
                pass

            def __enter__(self) -> _Full:
                return self

            def __exit__(self, *_a: object) -> None:
                return None

            write = staticmethod(_enospc)

        monkeypatch.setattr(io_mod, "open", _Full, raising=False)
    else:
        monkeypatch.setattr(io_mod.os, where, _enospc)
    with pytest.raises(
        OutputError,
        match=r"Cannot write .*results\.json.*No space left on device "
        r"\(ENOSPC\)\. Free some disk space .*choose another output path \(--out\)",
    ) as info:
        atomic_write_json(target, {"new": True})
    monkeypatch.undo()
    assert target.read_bytes() == b'{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert isinstance(info.value, OSError) and isinstance(info.value, HybridWMError)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(target)


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.EROFS, "where you may write"),
        (errno.EACCES, "where you may write"),
        (getattr(errno, "EDQUOT", errno.ENOSPC), "Free some disk space"),
        (errno.EIO, "Check the path"),
    ],
)
def test_other_os_errors_are_named_too(tmp_path: Path, code: int, fix: str) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match=fix), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_own_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="mine"), atomic_path(tmp_path / "x") as tmp:
        tmp.write_bytes(b"half")
        raise FormatError("mine")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_parent_is_a_named_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(OutputError, match=r"Cannot write .*file/out\.json"):
        atomic_write_json(blocker / "out.json", {})
    assert blocker.read_text() == "I am a file"


def test_real_writer_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ts = TrajectorySet.from_arrays(
        t=np.linspace(0, 1, 5), x=np.arange(5.0).reshape(1, 5, 1), state_names=["q"]
    )
    path = write_trajectories(ts, tmp_path / "d.parquet")
    before = path.read_bytes()
    monkeypatch.setattr(io_mod.os, "fsync", _enospc)
    with pytest.raises(OutputError, match="ENOSPC"):
        write_trajectories(TrajectorySet.from_arrays(t=ts[0].t, x=2 * ts[0].x[None]), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]


# ---------------------------------------------------------------------------- directories
def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))}


def test_atomic_dir_replaces_a_directory_as_a_whole(tmp_path: Path) -> None:
    model = tmp_path / "model"
    with atomic_dir(model) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("2")
    with atomic_dir(model) as tmp:
        (tmp / "a").write_text("3")
    assert _tree(model) == {"a": b"3"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("fail", ["body", "replace"])
def test_atomic_dir_disk_full_keeps_the_earlier_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: str
) -> None:
    model = tmp_path / "model"
    with atomic_dir(model) as tmp:
        atomic_write_json(tmp / "config.json", {"v": 1})
    before = _tree(model)
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        if str(src).endswith(".tmpdir"):  # moving the new directory in fails; the backup works
            _enospc()
        real_replace(src, dst)

    if fail == "replace":
        monkeypatch.setattr(io_mod.os, "replace", replace)
    with (
        pytest.raises(OutputError, match=r"Cannot write .*model.*ENOSPC"),
        atomic_dir(model) as tmp,
    ):
        atomic_write_json(tmp / "config.json", {"v": 2})
        if fail == "body":
            _enospc()
    monkeypatch.undo()
    assert _tree(model) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_saved_model_directory_follows_the_umask(tmp_path: Path) -> None:
    from hybridwm.dynamics import PendulumPhysics, reference_dataset
    from hybridwm.models import WorldModel
    from hybridwm.training import TrainConfig

    phys = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)
    data = reference_dataset(phys, 2, 10, 0.05, seed=1)
    model = WorldModel.physics(phys).fit(data, TrainConfig(epochs=1, horizon=3, progress=False))
    old = os.umask(0o027)
    try:
        path = model.save(tmp_path / "runs" / "model")
    finally:
        os.umask(old)
    assert _mode(path) == 0o750 and _mode(path.parent) == 0o750
    files = [p for p in path.rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o640 for p in files), {p.name: oct(_mode(p)) for p in files}
