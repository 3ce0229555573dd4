"""Files saved again by other tools (a UTF-8 byte-order mark) and episodes too short to train."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hybridwm.data import (
    ColumnMapping,
    Trajectory,
    TrajectorySet,
    make_windows,
    read_schema,
    read_trajectories,
    write_trajectories,
)
from hybridwm.errors import ConfigError, DataError

BOM = "\ufeff".encode()


def test_a_hybridwm_csv_saved_with_a_bom_reads_back_equal(tmp_path, make_set, assert_same):
    ts = make_set()
    path = write_trajectories(ts, tmp_path / "a.csv")
    path.write_bytes(BOM + path.read_bytes())  # as Excel's "CSV UTF-8" saves it
    assert read_schema(path) is not None
    assert_same(read_trajectories(path), ts)


def test_a_bom_and_windows_line_ends_are_both_accepted(tmp_path, make_set, assert_same):
    ts = make_set(lengths=(4, 6))
    path = write_trajectories(ts, tmp_path / "a.csv")
    path.write_bytes(BOM + path.read_bytes().replace(b"\n", b"\r\n"))
    assert_same(read_trajectories(path), ts)


def test_a_foreign_csv_with_a_bom_keeps_its_first_column_name(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(BOM + b"time,pos,force\n0.0,1.0,0.5\n0.1,1.5,0.5\n0.2,2.0,0.4\n")
    ts = read_trajectories(path, columns=ColumnMapping(time="time", states=("pos",)))
    np.testing.assert_array_equal(ts[0].t, [0.0, 0.1, 0.2])
    assert read_schema(path) is None


def _with_one_sample_episode() -> TrajectorySet:
    long = Trajectory(t=np.arange(6) * 0.1, x=np.zeros((6, 2)), u=np.zeros((6, 1)))
    one = Trajectory(t=np.array([0.0]), x=np.zeros((1, 2)), u=np.zeros((1, 1)))
    return TrajectorySet([long, one])


def test_a_one_sample_episode_gets_advice_that_works() -> None:
    data = _with_one_sample_episode()
    with pytest.raises(
        DataError, match=r"episode 1 has only 1 sample, too few for any horizon"
    ) as e:
        make_windows(data, 3)
    message = str(e.value)
    assert "--horizon 0" not in message and "horizon=0" not in message
    assert "needs 2 samples" in message
    # the advice, followed, works
    fix = re.search(r"data\.filter\(lambda tr: len\(tr\) > (\d+)\)", message)
    assert fix is not None
    kept = data.filter(lambda tr: len(tr) > int(fix.group(1)))
    assert len(make_windows(kept, 3)) == 3  # windows starting at samples 0, 1 and 2
    with pytest.raises(ConfigError, match=r"`horizon` must be an integer >= 1"):
        make_windows(data, 0)


def test_a_short_episode_of_two_samples_still_gets_the_horizon_advice() -> None:
    t = np.arange(3) * 0.1
    data = TrajectorySet([Trajectory(t=t, x=np.zeros((3, 1)), u=np.zeros((3, 1)))])
    with pytest.raises(DataError, match=r"horizon <= 2 \(`--horizon 2`"):
        make_windows(data, 5)
