"""read_json (every run-directory document): a binary or unreadable file is a FormatError."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridwm.errors import FormatError
from hybridwm.schemas import JobResult, read_json


def test_a_binary_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "hybrid.json"
    path.write_bytes(b"\xff\xfe\x00garbage\x89PNG")
    with pytest.raises(FormatError, match=r"hybrid\.json' is not valid JSON"):
        read_json(path)
    with pytest.raises(FormatError, match="not valid JSON"):
        JobResult.read(path)


def test_a_truncated_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "hybrid.json"
    path.write_text('{"metrics": [{"system": "pend')
    with pytest.raises(FormatError, match=r"hybrid\.json' is not valid JSON"):
        JobResult.read(path)
