"""Masks: rows kept by a safe expression, episodes split at the gaps, events carried along."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybridwm.data import (
    Trajectory,
    TrajectorySet,
    decode_events,
    encode_events,
    keep_rows,
    mask_rows,
    read_trajectories,
    select_episodes,
    write_trajectories,
)
from hybridwm.errors import ConfigError, DataError, ParseError, UnknownNameError


def episode(n: int = 10, limit_rows: tuple[int, ...] = (), index: int = 0) -> Trajectory:
    t = 0.1 * np.arange(n)
    x = np.stack([np.sin(t) + index, np.cos(t)], axis=1)
    at_limit = np.zeros(n, dtype=bool)
    at_limit[list(limit_rows)] = True
    meta = {"index": index, "events": encode_events({"at_limit": at_limit})}
    return Trajectory(t, x, t[:, None], ("theta", "omega"), ("torque",), meta)


@pytest.fixture
def data() -> TrajectorySet:
    return TrajectorySet([episode(10, (3, 4), 0), episode(8, (), 1), episode(6, (0, 5), 2)])


def test_a_mask_splits_episodes_at_the_dropped_rows(data: TrajectorySet) -> None:
    result = mask_rows(data, "not at_limit")
    kept = result.data
    assert [len(tr) for tr in kept] == [3, 5, 8, 4]
    assert [tr.meta["segment"] for tr in kept] == [
        {"episode": 0, "start": 0, "stop": 3},
        {"episode": 0, "start": 5, "stop": 10},
        {"episode": 1, "start": 0, "stop": 8},
        {"episode": 2, "start": 1, "stop": 5},
    ]
    np.testing.assert_array_equal(kept[1].t, data[0].t[5:])
    np.testing.assert_array_equal(kept[1].u, data[0].u[5:])  # the held actions go along
    assert all(not decode_events(tr)["at_limit"].any() for tr in kept)
    assert (result.rows_kept, result.rows_masked, result.rows_short) == (20, 4, 0)
    assert "kept 20 of 24 rows in 4 segment(s) of 3 episode(s)" in result.describe()


def test_short_segments_are_dropped_and_counted(data: TrajectorySet) -> None:
    result = mask_rows(data, "not at_limit", min_samples=4)
    assert [len(tr) for tr in result.data] == [5, 8, 4]
    assert result.rows_short == 3
    with pytest.raises(ConfigError, match="`min_samples` must be >= 2"):
        mask_rows(data, "not at_limit", min_samples=1)


def test_masking_a_segment_again_keeps_the_rows_of_the_original_episode(
    data: TrajectorySet,
) -> None:
    once = mask_rows(data, "not at_limit").data
    twice = mask_rows(once, "t > 0.65").data
    assert twice[0].meta["segment"] == {"episode": 0, "start": 7, "stop": 10}
    # `episode` names the episode as read, through selections and masks
    later = mask_rows(select_episodes(once, exclude=[0, 1]), "episode == 1").data
    assert [tr.meta["segment"] for tr in later] == [{"episode": 1, "start": 0, "stop": 8}]


def test_expressions_combine_columns_events_and_functions(data: TrajectorySet) -> None:
    kept = mask_rows(data, "abs(theta - episode) < 0.3 and not at_limit or episode == 2").data
    lengths = [len(tr) for tr in kept]
    # |sin t| < 0.3 up to t = 0.3: rows 0-2 of episode 0 (3 and 4 at the limit), 0-3 of
    # episode 1, and all of episode 2
    assert lengths == [3, 4, 6]
    chained = mask_rows(data, "0.1 <= t < 0.45 and cos(t) ** 2 > -1").data
    assert [len(tr) for tr in chained] == [4, 4, 4]


@pytest.mark.parametrize(
    ("expression", "error", "match"),
    [
        ("__import__('os').system('true')", ParseError, "not allowed"),
        ("theta.real > 0", ParseError, "'theta.real'"),
        ("[x for x in t]", ParseError, "not allowed"),
        ("abs(theta, 1) > 0", ParseError, "not allowed"),
        ("'text' == theta", ParseError, "not allowed"),
        ("theta >", ParseError, "Cannot parse the mask"),
        ("(" * 300 + "t" + ")" * 300, ParseError, "Cannot parse|nested too deeply"),
        ("-" * 200 + "t > 0", ParseError, "nested too deeply"),
        ("t > 0 and " * 120 + "t > 0", ParseError, "at most 1000"),
        ("theta + 1", ConfigError, "true or false on each row"),
        ("", ConfigError, "an expression over the columns"),
        ("not in_contact", UnknownNameError, "'in_contact'.*Columns: \\['at_limit'"),
    ],
)
def test_unsafe_or_wrong_masks_are_refused(
    data: TrajectorySet, expression: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mask_rows(data, expression)


def test_a_mask_that_keeps_nothing_says_so(data: TrajectorySet) -> None:
    with pytest.raises(DataError, match=r"kept no segment .* loosen the mask"):
        mask_rows(data, "t < 0")
    with pytest.raises(DataError, match="one boolean array per episode"):
        keep_rows(data, [np.ones(10, dtype=bool)])
    with pytest.raises(DataError, match=r"shape \(10,\)"):
        keep_rows(data, [np.ones(3, dtype=bool)] * 3)


def test_events_survive_a_file_and_bad_events_are_named(
    data: TrajectorySet, tmp_path: Path
) -> None:
    back = read_trajectories(write_trajectories(data, tmp_path / "d.parquet"))
    np.testing.assert_array_equal(
        decode_events(back[0])["at_limit"], decode_events(data[0])["at_limit"]
    )
    broken = data[0].replace(meta={"events": {"at_limit": [True, False]}})
    with pytest.raises(DataError, match="must map event names to 10 booleans"):
        decode_events(broken)


def test_select_episodes_keeps_and_excludes_positions(data: TrajectorySet) -> None:
    assert [tr.meta["index"] for tr in select_episodes(data, [2, 0])] == [0, 2]
    assert [tr.meta["index"] for tr in select_episodes(data, exclude=[1])] == [0, 2]
    with pytest.raises(ConfigError, match="names episode 3, but the data has 3 episodes"):
        select_episodes(data, [3])
    with pytest.raises(ConfigError, match="must list episode positions"):
        select_episodes(data, exclude=["a"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="leaves none of the 3 episodes"):
        select_episodes(data, [1], exclude=[1])
