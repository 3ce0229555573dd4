"""Registries list valid names on a miss; atomic writes never leave half-written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybridwm._io import atomic_path, atomic_write_json, to_jsonable
from hybridwm.errors import UnknownNameError
from hybridwm.registry import Registry


def test_registry_lookup_and_error_lists_names() -> None:
    reg: Registry[int] = Registry("solver", "`solver`")
    reg.register("rk4", 4)
    reg.register("euler", 1)
    assert reg["rk4"] == 4 and list(reg) == ["euler", "rk4"] and len(reg) == 2
    with pytest.raises(
        UnknownNameError, match=r"Unknown solver 'rk5' for `solver`. Valid names: 'euler', 'rk4'"
    ):
        reg["rk5"]
    with pytest.raises(UnknownNameError, match="already registered"):
        reg.register("rk4", 5)
    reg.register("rk4", 5, overwrite=True)
    assert reg["rk4"] == 5


def test_registry_membership_and_get_do_not_raise() -> None:
    reg: Registry[int] = Registry("solver", "`solver`")
    reg.register("rk4", 4)
    assert "rk4" in reg and "rk5" not in reg and "" not in reg and 3 not in reg
    assert reg.get("rk4") == 4 and reg.get("rk5") is None and reg.get("rk5", 1) == 1
    assert reg.check("rk4") == "rk4"
    with pytest.raises(UnknownNameError, match=r"Unknown solver 'rk5' for `solver`. Valid names"):
        reg.check("rk5")


def test_atomic_path_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_keeps_old_file_on_keyboard_interrupt(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert len(list(tmp_path.iterdir())) == 1


def test_atomic_write_json_converts_numpy(tmp_path: Path) -> None:
    path = atomic_write_json(
        tmp_path / "sub" / "r.json",
        {"a": np.arange(3), "b": np.float32(1.5), "c": (1, 2), "d": float("nan"), "p": tmp_path},
    )
    data = json.loads(path.read_text())
    assert data == {"a": [0, 1, 2], "b": 1.5, "c": [1, 2], "d": None, "p": str(tmp_path)}
    assert to_jsonable(float("inf")) == "inf"
