"""Episodes read through a ColumnMapping remember it in ``meta["columns"]`` (issue 11).

A model fitted on such data can read the same file again without the user repeating the
mapping: ``ColumnMapping.from_dict(ts[0].meta["columns"])``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridwm.data import ColumnMapping, TrajectorySet, read_trajectories
from hybridwm.errors import ConfigError

MAP = ColumnMapping(
    time="ms",
    states=("q", "qd"),
    actions=("tau",),
    episode="run",
    time_scale=0.001,
    state_names=("theta", "omega"),
)
LOG = pd.DataFrame(
    {
        "run": ["a", "a", "a", "b", "b", "b"],
        "ms": [0, 10, 20, 0, 10, 30],
        "q": [0.0, 0.1, 0.3, 1.0, 1.2, 1.1],
        "qd": [1.0, 2.0, 1.5, -1.0, 0.5, 0.0],
        "tau": [0.1, 0.2, np.nan, 0.3, 0.4, 0.5],
        "note": ["x", "y", "z", "u", "v", "w"],
    }
)


def _write_log(folder: Path, fmt: str) -> Path:
    path = folder / f"log.{fmt}"
    if fmt == "csv":
        LOG.to_csv(path, index=False)
    elif fmt == "parquet":
        LOG.to_parquet(path)
    else:
        np.savez(path, **{c: np.asarray(LOG[c].tolist()) for c in LOG.columns})
    return path


def _read(path: Path, **kwargs) -> TrajectorySet:
    return read_trajectories(path, columns=MAP, allow_nan=True, **kwargs)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
def test_every_episode_remembers_the_mapping(tmp_path, fmt):
    ts = _read(_write_log(tmp_path, fmt))
    assert [tr.meta["episode"] for tr in ts] == ["a", "b"]
    assert all(tr.meta["columns"] == MAP.to_dict() for tr in ts)
    ts[0].meta["columns"]["states"].append("changed")  # each episode holds its own copy
    assert ts[1].meta["columns"] == MAP.to_dict()


def test_remembered_mapping_reads_the_same_file_again(tmp_path, assert_same):
    path = _write_log(tmp_path, "csv")
    for read in (read_trajectories, TrajectorySet.read):
        ts = read(path, columns=MAP, allow_nan=True)
        again = read(path, columns=ColumnMapping.from_dict(ts[0].meta["columns"]), allow_nan=True)
        assert_same(ts, again)


def test_time_scale_argument_is_remembered_in_the_mapping(tmp_path, assert_same):
    path = _write_log(tmp_path, "csv")
    plain = MAP.replace(time_scale=1.0)
    ts = read_trajectories(path, columns=plain, time_scale=0.001, allow_nan=True)
    remembered = ColumnMapping.from_dict(ts[0].meta["columns"])
    assert remembered == MAP
    assert_same(ts, read_trajectories(path, columns=remembered, allow_nan=True))
    with pytest.raises(ConfigError, match=r"`time_scale` was given twice"):
        read_trajectories(path, columns=remembered, time_scale=0.001)


def test_mapping_survives_set_operations(tmp_path):
    ts = _read(_write_log(tmp_path, "parquet"))
    clean = ts.interpolate()
    results = [
        ts.select([1, 0]),
        ts[:1],
        ts.filter(lambda tr: True),
        *ts.split((0.5, 0.5)),
        TrajectorySet.concat([ts, clean]),
        ts + clean,
        ts.dropna(),
        clean,
        clean.resample(0.005),
        clean.add_noise(0.1),
        clean.check_finite(),
        TrajectorySet.from_dataframe(clean.to_dataframe()),
    ]
    for out in results:
        assert all(tr.meta["columns"] == MAP.to_dict() for tr in out)


def test_with_time_scale_scales_the_remembered_mapping(tmp_path):
    ts = _read(_write_log(tmp_path, "csv"))
    seconds_to_ms = ts.with_time_scale(1000.0)
    assert seconds_to_ms[0].meta["columns"] == MAP.replace(time_scale=1.0).to_dict()
    np.testing.assert_allclose(seconds_to_ms[0].t, [0.0, 10.0, 20.0])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
def test_mapping_round_trips_through_hybridwm_files(tmp_path, assert_same, fmt):
    ts = _read(_write_log(tmp_path, "csv")).interpolate()
    back = TrajectorySet.read(ts.write(tmp_path / f"again.{fmt}"))
    assert_same(ts, back)
    assert back[1].meta["columns"] == MAP.to_dict()


def test_only_files_read_through_a_mapping_get_one(tmp_path, make_set):
    ts = make_set()
    assert "columns" not in ts[0].meta
    for fmt in ("csv", "parquet", "npz"):
        assert "columns" not in TrajectorySet.read(ts.write(tmp_path / f"d.{fmt}"))[0].meta
    from_df = TrajectorySet.from_dataframe(
        LOG.dropna(), time="ms", states=["q", "qd"], episode="run"
    )
    assert [tr.meta for tr in from_df] == [{"episode": "a"}, {"episode": "b"}]
