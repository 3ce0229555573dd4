"""gymnasium is an optional extra: without it, hybridwm.envs and `hybridwm collect` say how to
install it, and nothing else of hybridwm needs it."""

from __future__ import annotations

import importlib
import sys

import pytest

import hybridwm.cli.collect as cli_collect
from hybridwm.cli import run


def test_envs_without_gymnasium_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "gymnasium" or m.startswith("gymnasium.")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in [m for m in sys.modules if m.startswith("hybridwm.envs")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'hybridwm\[gym\]'"):
        importlib.import_module("hybridwm.envs")


def test_collect_command_without_gymnasium_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli_collect, "_MISSING", ImportError("No module named 'gymnasium'"))
    out = tmp_path / "data.parquet"
    assert run(["collect", "--env", "Pendulum-v1", "--episodes", "1", "--out", str(out)]) == 2
    assert "pip install 'hybridwm[gym]'" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()
