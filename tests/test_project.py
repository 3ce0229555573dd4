"""Project metadata: citation file, README quick start, version."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

import hybridwm

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_citation_cff_has_the_required_cff_1_2_0_keys() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    for author in cff["authors"]:
        assert "name" in author or "family-names" in author
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert str(cff["version"]) == pyproject["project"]["version"]


def test_readme_quick_start_is_two_make_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_version_comes_from_package_metadata() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert hybridwm.__version__ == pyproject["project"]["version"]


def test_every_public_name_resolves() -> None:
    import importlib

    for name in hybridwm.__all__:
        assert getattr(hybridwm, name) is not None, name
    # lazily exported names come from the subpackage that owns them
    assert hybridwm.WorldModel is importlib.import_module("hybridwm.models").WorldModel
    assert set(dir(hybridwm)) == set(hybridwm.__all__)


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_modules_and_functions_stay_small() -> None:
    """DESIGN.md: modules under 600 lines, functions under 80 (ruff checks complexity and
    statements; this checks length, which ruff does not)."""
    import ast

    too_long: list[str] = []
    for path in sorted((ROOT / "hybridwm").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {length} lines")
    assert not too_long, "split these (DESIGN.md, Layout): " + "; ".join(too_long)
    assert len((ROOT / "hybridwm/models/world_model.py").read_text().splitlines()) <= 400
