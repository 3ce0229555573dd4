"""The small checks shared by the data modules and the layers above them."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data.checks import (
    MissingValue,
    capitalized,
    check_number,
    first_missing,
    require_keys,
    warn_caller,
)
from hybridwm.errors import ConfigError, FormatError


def test_first_missing_in_row_major_order():
    assert first_missing(np.zeros((3, 2))) is None
    values = np.array([[0.0, 1.0], [2.0, -np.inf], [np.nan, 3.0]])
    assert first_missing(values) == MissingValue(row=1, column=1, kind="inf")
    values[1, 1] = 0.0
    assert first_missing(values) == MissingValue(row=2, column=0, kind="NaN")


def test_require_keys_lists_the_missing_ones_in_order():
    require_keys({"a": 1, "b": 2}, ["b", "a"], FormatError)
    with pytest.raises(FormatError, match=r"\['c', 'a'\]"):
        require_keys(["b"], ["c", "a", "b"], lambda missing: FormatError(str(missing)))


@pytest.mark.parametrize(
    ("value", "inclusive", "match"),
    [
        ("1", False, r"`x` of f must be a number > 0 \(unit\)\. Got '1'\.$"),
        (True, False, r"must be a number > 0"),
        (0, False, r"`x` of f must be finite and > 0 \(unit\)\. Got 0 instead\.$"),
        (-1e-9, True, r"must be finite and >= 0"),
        (float("inf"), True, r"must be finite and >= 0"),
        (np.nan, False, r"must be finite and > 0"),
    ],
)
def test_check_number_errors(value, inclusive, match):
    with pytest.raises(ConfigError, match=match):
        check_number(value, "`x` of f", inclusive=inclusive, hint=" (unit)")


def test_check_number_accepts_numpy_and_zero_when_inclusive():
    assert check_number(np.int64(3), "x") == 3.0
    assert check_number(0, "x", inclusive=True) == 0.0


def test_warn_caller_points_at_the_first_line_outside_the_package():
    with pytest.warns(UserWarning, match="look here") as rec:
        warn_caller("look here")
    assert rec[0].filename == __file__


def test_capitalized_keeps_the_rest_of_the_text():
    assert capitalized("the file '/Data/Run A.csv'") == "The file '/Data/Run A.csv'"
    assert capitalized("") == ""
