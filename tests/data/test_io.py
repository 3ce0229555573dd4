"""Reading and writing trajectory files: exact round trips, mappings and every error message."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hybridwm.data import (
    ColumnMapping,
    Trajectory,
    TrajectorySet,
    read_schema,
    read_trajectories,
    write_trajectories,
)
from hybridwm.errors import (
    ConfigError,
    DataError,
    FormatError,
    IncompatibleVersionError,
    UnknownNameError,
)

FORMATS = ["csv", "parquet", "npz"]


def _csv(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


MAP = ColumnMapping(time="t", states=("theta", "omega"), actions=("tau",), episode="ep")
GOOD = "ep,t,theta,omega,tau\n0,0.0,1.0,2.0,0.5\n0,0.1,1.1,2.1,0.4\n1,0.0,0.9,1.5,0.3\n1,0.1,1.0,1.6,0.2\n"


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n_u", [0, 1, 3])
def test_round_trip_exact(tmp_path, make_set, assert_same, fmt, n_u):
    ts = make_set(lengths=(5, 2, 9), n_u=n_u, seed=n_u)
    path = write_trajectories(ts, tmp_path / f"data.{fmt}")
    assert path == tmp_path / f"data.{fmt}"
    back = read_trajectories(path)
    assert_same(ts, back)
    assert back.n_u == n_u


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_awkward_values_and_names(tmp_path, assert_same, fmt):
    vals = np.array([0.1, -0.0, 5e-324, 1e-310, 1.7976931348623157e308, -1 / 3, 2.0**60, 1.0])
    t = np.array([-1e6, -0.5, 0.0, 1e-9, 0.3, 1.0, 1e5, 1e6])
    tr = Trajectory(
        t=t,
        x=np.column_stack([vals, vals[::-1]]),
        u=np.column_stack([vals * 0.5]),
        state_names=("t", 'a, "quoted"\nname'),
        action_names=("episode",),
        meta={"note": "é ünïcode # and , commas", "nested": {"k": [1, 2.5, None]}},
    )
    ts = TrajectorySet([tr, tr.replace(meta={})])
    back = read_trajectories(write_trajectories(ts, tmp_path / f"d.{fmt}"))
    assert_same(ts, back)


@pytest.mark.parametrize("fmt", FORMATS)
def test_methods_delegate(tmp_path, make_set, assert_same, fmt):
    ts = make_set()
    p = ts.write(tmp_path / "sub" / "dir" / f"x.{fmt}")
    assert p.exists()
    assert_same(ts, TrajectorySet.read(p))


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_format_overrides_suffix(tmp_path, make_set, assert_same, fmt):
    ts = make_set()
    p = write_trajectories(ts, tmp_path / "data.bin", format=fmt)
    assert_same(ts, read_trajectories(p, format=fmt))
    assert_same(ts, read_trajectories(p, format=fmt.upper()))


def test_pq_suffix_and_single_trajectory(tmp_path, make_set, assert_same):
    ts = make_set(lengths=(4,))
    p = write_trajectories(ts[0], tmp_path / "one.pq")
    assert_same(ts, read_trajectories(p))


def test_csv_is_readable_by_plain_pandas(tmp_path, make_set):
    ts = make_set(lengths=(3, 4))
    p = write_trajectories(ts, tmp_path / "d.csv")
    first = p.read_text().splitlines()[0]
    assert first.startswith("# hybridwm ")
    schema = json.loads(first[len("# hybridwm ") :])
    assert schema["states"] == ["s0", "s1"] and schema["actions"] == ["a0"]
    df = pd.read_csv(p, comment="#")
    assert list(df.columns) == ["episode", "t", "s0", "s1", "a0"]
    assert len(df) == 7
    np.testing.assert_array_equal(df["s1"].to_numpy()[:3], ts[0].x[:, 1])


def test_parquet_is_readable_by_plain_pandas(tmp_path, make_set):
    ts = make_set(lengths=(3, 4))
    p = write_trajectories(ts, tmp_path / "d.parquet")
    df = pd.read_parquet(p)
    assert list(df.columns) == ["episode", "t", "s0", "s1", "a0"]
    assert read_schema(p)["meta"][1]["seed"] == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_schema(tmp_path, make_set, fmt):
    ts = make_set()
    p = write_trajectories(ts, tmp_path / f"d.{fmt}")
    schema = read_schema(p)
    assert schema["format"] == "hybridwm.trajectories"
    assert schema["version"] == 1
    assert len(schema["meta"]) == 3


def test_read_schema_of_foreign_file_is_none(tmp_path):
    assert read_schema(_csv(tmp_path, GOOD)) is None


def test_dataframe_round_trip(make_set, assert_same):
    ts = make_set(n_u=0)
    df = ts.to_dataframe()
    assert list(df.columns) == ["episode", "t", "s0", "s1"]
    assert df.attrs["hybridwm"]["states"] == ["s0", "s1"]
    assert_same(ts, TrajectorySet.from_dataframe(df))


def test_from_dataframe_infers_states_and_single_episode():
    df = pd.DataFrame({"t": [0.0, 1.0, 2.0], "a": [1.0, 2.0, 4.0], "u": [0.0, 1.0, 0.5]})
    ts = TrajectorySet.from_dataframe(df, actions=["u"])
    assert len(ts) == 1
    assert ts.state_names == ("a",) and ts.action_names == ("u",)
    assert ts[0].meta == {}


def test_from_dataframe_string_labels_order_and_interleaving():
    df = pd.DataFrame(
        {
            "run": ["b", "a", "b", "a", "b"],
            "time": [0.0, 0.0, 1.0, 2.0, 3.0],
            "q": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    ts = TrajectorySet.from_dataframe(df, time="time", states=["q"], episode="run")
    assert [tr.meta["episode"] for tr in ts] == ["b", "a"]  # order of first appearance
    np.testing.assert_array_equal(ts[0].x[:, 0], [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(ts[1].t, [0.0, 2.0])


def test_from_dataframe_rejects_non_dataframe():
    with pytest.raises(FormatError, match=r"must be a pandas DataFrame. Got dict"):
        TrajectorySet.from_dataframe({"t": [0, 1]})


def test_from_dataframe_missing_explicit_episode_column():
    df = pd.DataFrame({"t": [0.0, 1.0], "q": [1.0, 2.0]})
    with pytest.raises(FormatError, match=r"lacks the column\(s\) \['run'\]"):
        TrajectorySet.from_dataframe(df, states=["q"], episode="run")


def test_from_dataframe_without_state_columns():
    with pytest.raises(FormatError, match=r"no columns left for states"):
        TrajectorySet.from_dataframe(pd.DataFrame({"t": [0.0, 1.0]}))


# ---------------------------------------------------------------------------------- mappings
def test_mapping_from_toml_ms_and_renames(tmp_path):
    toml = tmp_path / "mapping.toml"
    toml.write_text(
        'time = "time_ms"\ntime_scale = 0.001\nepisode = "run"\nstates = ["q", "qd"]\n'
        'actions = ["torque"]\nstate_names = ["theta", "omega"]\n'
    )
    log = _csv(
        tmp_path,
        "run,time_ms,q,qd,torque,note\n7,0,1,2,3,x\n7,10,1.5,2,3.5,y\n8,0,0,0,1,z\n8,20,1,1,0,w\n",
    )
    m = ColumnMapping.from_file(toml)
    assert m.time_scale == 0.001 and m.states == ("q", "qd")
    for columns in (m, toml, str(toml), m.to_dict()):
        ts = read_trajectories(log, columns=columns)
        assert ts.state_names == ("theta", "omega")
        assert ts.action_names == ("torque",)
        np.testing.assert_array_equal(ts[0].t, [0.0, 0.01])
        np.testing.assert_array_equal(ts[1].t, [0.0, 0.02])
        assert [tr.meta for tr in ts] == [{"episode": e, "columns": m.to_dict()} for e in (7, 8)]


def test_mapping_without_episode_is_one_episode(tmp_path):
    log = _csv(tmp_path, "t,x\n0,1\n1,2\n2,4\n")
    ts = read_trajectories(log, columns={"time": "t", "states": ["x"]})
    assert len(ts) == 1 and ts.n_u == 0 and len(ts[0]) == 3


def test_time_scale_argument(tmp_path, make_set):
    ts = make_set()
    p = write_trajectories(ts, tmp_path / "d.npz")
    back = read_trajectories(p, time_scale=0.5)
    np.testing.assert_array_equal(back[0].t, ts[0].t * 0.5)


def test_mapping_overrides_schema(tmp_path, make_set):
    ts = make_set()
    p = write_trajectories(ts, tmp_path / "d.parquet")
    back = read_trajectories(p, columns=ColumnMapping("t", ("s1",), ("s0",), "episode"))
    assert back.state_names == ("s1",) and back.action_names == ("s0",)
    np.testing.assert_array_equal(back[2].u[:, 0], ts[2].x[:, 0])


def test_foreign_npz_with_mapping(tmp_path):
    p = tmp_path / "log.npz"
    np.savez(p, time=np.arange(4.0), ep=np.array([0, 0, 1, 1]), q=np.arange(4.0) ** 2)
    ts = read_trajectories(p, columns=ColumnMapping(time="time", states=("q",), episode="ep"))
    assert len(ts) == 2
    np.testing.assert_array_equal(ts[1].x[:, 0], [4.0, 9.0])


def test_datetime_and_timedelta_time_columns(tmp_path):
    base = pd.Timestamp("2024-01-01 12:00:00")
    df = pd.DataFrame(
        {
            "stamp": [base, base + pd.Timedelta(milliseconds=250), base + pd.Timedelta(seconds=1)],
            "lag": pd.to_timedelta([0, 500, 1500], unit="ms"),
            "q": [0.0, 1.0, 3.0],
        }
    )
    p = tmp_path / "log.parquet"
    df.to_parquet(p)
    ts = read_trajectories(p, columns={"time": "stamp", "states": ["q"]})
    np.testing.assert_allclose(np.diff(ts[0].t), [0.25, 0.75])
    ts2 = read_trajectories(p, columns={"time": "lag", "states": ["q"]})
    np.testing.assert_array_equal(ts2[0].t, [0.0, 0.5, 1.5])


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"time": "t"}, r"needs the field\(s\) \['states'\]"),
        ({"time": "t", "states": "x"}, "single string 'x'"),
        ({"time": "t", "states": []}, "`states` of ColumnMapping is empty"),
        ({"time": "t", "states": ["x", "x"]}, r"names \['x'\] more than once"),
        ({"time": "t", "states": ["t"]}, "'t' is in time and states"),
        ({"time": "t", "states": ["x"], "actions": ["x"]}, "'x' is in states and actions"),
        ({"time": "t", "states": ["x"], "time_scale": 0}, "finite and > 0"),
        ({"time": "t", "states": ["x"], "time_scale": "ms"}, "must be a number > 0"),
        ({"time": "t", "states": ["x"], "state_names": ["a", "b"]}, "one name per column"),
        ({"time": "", "states": ["x"]}, "name of the time column"),
        ({"time": "t", "states": ["x"], "episode": 3}, "column name or None"),
        ({"time": "t", "states": ["x"], "unit": "s"}, r"Unknown ColumnMapping field\(s\)"),
        ({"time": "t", "states": [1]}, "non-empty strings"),
        (
            {
                "time": "t",
                "states": ["x"],
                "actions": ["u"],
                "state_names": ["a"],
                "action_names": ["a"],
            },
            "share",
        ),
    ],
)
def test_mapping_errors(fields, match):
    with pytest.raises(ConfigError, match=match):
        ColumnMapping.from_dict(fields)


def test_mapping_bad_columns_argument(tmp_path):
    with pytest.raises(ConfigError, match=r"`columns` must be a ColumnMapping"):
        read_trajectories(_csv(tmp_path, GOOD), columns=42)


def test_mapping_columns_property():
    assert MAP.columns == ["ep", "t", "theta", "omega", "tau"]


def test_time_scale_given_twice(tmp_path):
    with pytest.raises(ConfigError, match=r"`time_scale` was given twice"):
        read_trajectories(_csv(tmp_path, GOOD), columns=MAP.replace(time_scale=2.0), time_scale=3)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "1"])
def test_time_scale_invalid(tmp_path, bad):
    with pytest.raises(ConfigError, match=r"`time_scale`"):
        read_trajectories(_csv(tmp_path, GOOD), columns=MAP, time_scale=bad)


# ---------------------------------------------------------------------------------- file errors
def test_unknown_suffix(tmp_path):
    with pytest.raises(
        FormatError, match=r"suffix '\.xlsx'.*'\.parquet', '\.pq', '\.csv', '\.npz'"
    ):
        read_trajectories(tmp_path / "data.xlsx")
    with pytest.raises(FormatError, match=r"Supported suffixes"):
        write_trajectories(Trajectory([0.0, 1.0], [[1.0], [2.0]]), tmp_path / "data")


def test_unknown_format_name(tmp_path):
    with pytest.raises(UnknownNameError, match=r"Valid names: 'csv', 'npz', 'parquet'"):
        read_trajectories(tmp_path / "d.csv", format="hdf5")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FormatError, match=r"does not exist"):
        read_trajectories(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FormatError, match=r"is not a file"):
        read_trajectories(tmp_path / "dir.csv")


def test_path_type(tmp_path):
    with pytest.raises(FormatError, match=r"must be a file path"):
        read_trajectories(123)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file(tmp_path, fmt):
    p = tmp_path / f"e.{fmt}"
    p.write_bytes(b"")
    with pytest.raises(FormatError, match=r"is empty \(0 bytes\)"):
        read_trajectories(p, columns=MAP)


def test_csv_header_only(tmp_path):
    with pytest.raises(FormatError, match=r"has a header but no data rows"):
        read_trajectories(_csv(tmp_path, "ep,t,theta,omega,tau\n"), columns=MAP)


def test_csv_only_schema_line(tmp_path, make_set):
    p = write_trajectories(make_set(), tmp_path / "d.csv")
    p.write_text(p.read_text().splitlines()[0] + "\n")
    with pytest.raises(FormatError, match=r"has no header and no data rows"):
        read_trajectories(p)


def test_blank_csv(tmp_path):
    with pytest.raises(FormatError, match=r"no header and no data rows"):
        read_trajectories(_csv(tmp_path, "\n\n"), columns=MAP)


def test_parquet_without_rows(tmp_path):
    p = tmp_path / "e.parquet"
    pd.DataFrame({"ep": [], "t": [], "theta": [], "omega": [], "tau": []}).to_parquet(p)
    with pytest.raises(FormatError, match=r"header but no data rows"):
        read_trajectories(p, columns=MAP)


@pytest.mark.parametrize(("fmt", "name"), [("parquet", "Parquet"), ("npz", "NPZ"), ("csv", "CSV")])
def test_garbage_bytes(tmp_path, fmt, name):
    p = tmp_path / f"g.{fmt}"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe" * 10)
    with pytest.raises(FormatError, match=f"Cannot read .* as {name}"):
        read_trajectories(p, columns=MAP)


def test_npz_holding_npy(tmp_path):
    p = tmp_path / "Run A.npz"
    with open(p, "wb") as f:
        np.save(f, np.arange(3.0))
    with pytest.raises(FormatError, match=r"single \.npy array"):
        read_trajectories(p, columns=MAP)
    with pytest.raises(FormatError, match=re.escape(f"The file {str(p)!r} holds")):
        read_trajectories(p)  # the path keeps its capitals


def test_npz_with_object_array_needs_no_pickle(tmp_path):
    p = tmp_path / "a.npz"
    np.savez(p, t=np.array([0.0, 1.0]), x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(FormatError, match=r"allow_pickle=False"):
        read_trajectories(p, columns={"time": "t", "states": ["x"]})


def test_npz_inconsistent_with_schema(tmp_path, make_set):
    p = write_trajectories(make_set(), tmp_path / "d.npz")
    with np.load(p) as z:
        arrays = dict(z)
    arrays["lengths"] = arrays["lengths"] + 1
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match=r"'lengths' .* summing to the 15 samples"):
        read_trajectories(p)
    arrays["lengths"] -= 1
    arrays["x"] = arrays["x"][:, :1]
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match=r"disagree with its schema"):
        read_trajectories(p)
    del arrays["u"]
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match=r"lacks the array\(s\) \['u'\]"):
        read_trajectories(p)
    arrays["u"] = np.array(["a"] * 15)
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match=r"must be a numeric 2-D array"):
        read_trajectories(p)
    arrays["hybridwm_schema"] = np.arange(3)
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match=r"must be a 0-d string array"):
        read_trajectories(p)


def test_foreign_npz_errors(tmp_path):
    p = tmp_path / "log.npz"
    np.savez(p, t=np.arange(4.0), x=np.zeros((2, 4, 1)), q=np.arange(3.0))
    with pytest.raises(FormatError, match=r"no hybridwm schema"):
        read_trajectories(p)
    with pytest.raises(FormatError, match=r"lacks the array\(s\) \['w'\]"):
        read_trajectories(p, columns={"time": "t", "states": ["w"]})
    with pytest.raises(FormatError, match=r"from_arrays"):
        read_trajectories(p, columns={"time": "t", "states": ["x"]})
    with pytest.raises(FormatError, match=r"different lengths"):
        read_trajectories(p, columns={"time": "t", "states": ["q"]})


def test_foreign_file_without_mapping(tmp_path):
    with pytest.raises(FormatError, match=r"no hybridwm schema.*Pass `columns=.*\['ep', 't'"):
        read_trajectories(_csv(tmp_path, GOOD))
    p = tmp_path / "x.parquet"
    pd.read_csv(_csv(tmp_path, GOOD)).to_parquet(p)
    with pytest.raises(FormatError, match=r"no hybridwm schema"):
        read_trajectories(p)


def test_missing_mapped_column_lists_available(tmp_path):
    m = MAP.replace(states=("theta", "q"))
    with pytest.raises(
        FormatError,
        match=r"lacks the column\(s\) \['q'\] named by the column mapping\. Available columns: "
        r"\['ep', 't', 'theta', 'omega', 'tau'\]",
    ):
        read_trajectories(_csv(tmp_path, GOOD), columns=m)


def test_missing_schema_column(tmp_path, make_set):
    p = tmp_path / "d.parquet"
    write_trajectories(make_set(), p)
    table = pq.read_table(p)
    pq.write_table(table.drop_columns(["s1"]), p)
    with pytest.raises(
        FormatError, match=r"lacks the column\(s\) \['s1'\] named by the hybridwm schema"
    ):
        read_trajectories(p)


def test_extra_columns_in_schema_file_warn(tmp_path, make_set, assert_same):
    ts = make_set()
    p = write_trajectories(ts, tmp_path / "d.csv")
    header, *rest = p.read_text().splitlines()
    rows = [rest[0] + ",note"] + [r + ",x" for r in rest[1:]]
    p.write_text("\n".join([header, *rows]) + "\n")
    with pytest.warns(UserWarning, match=r"column\(s\) \['note'\] that its hybridwm schema") as rec:
        back = read_trajectories(p)
    assert rec[0].filename == __file__  # stacklevel points at the caller
    assert_same(ts, back)


def test_duplicate_column_names(tmp_path):
    p = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays(
        [pa.array([0.0, 1.0]), pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["t", "x", "x"]
    )
    pq.write_table(table, p)
    with pytest.raises(FormatError, match=r"duplicate column names \['x'\]"):
        read_trajectories(p, columns={"time": "t", "states": ["x"]})


# ---------------------------------------------------------------------------------- schema errors
def _with_schema(tmp_path: Path, schema: str) -> Path:
    return _csv(tmp_path, f"# hybridwm {schema}\n" + GOOD.replace("ep,", "episode,"))


@pytest.mark.parametrize(
    ("schema", "error", "match"),
    [
        ("{not json", FormatError, "not valid JSON"),
        ('{"format": "other"}', FormatError, "is malformed: expected a JSON object"),
        ('{"format": "hybridwm.trajectories", "version": "1"}', FormatError, "invalid version"),
        (
            '{"format": "hybridwm.trajectories", "version": 99}',
            IncompatibleVersionError,
            "schema version 99.*Upgrade hybridwm",
        ),
        (
            '{"format": "hybridwm.trajectories", "version": 1, "states": "theta"}',
            FormatError,
            "'states' must be a list",
        ),
        (
            '{"format": "hybridwm.trajectories", "version": 1, "states": ["theta"], "actions": [],'
            ' "time": 5}',
            FormatError,
            "'time' and 'episode' must be column names",
        ),
        (
            '{"format": "hybridwm.trajectories", "version": 1, "states": ["theta"], "actions": [],'
            ' "time": "t", "episode": "episode", "meta": 3}',
            FormatError,
            "'meta' must be a list",
        ),
        (
            '{"format": "hybridwm.trajectories", "version": 1, "states": ["t"], "actions": [],'
            ' "time": "t", "episode": "episode"}',
            FormatError,
            "is inconsistent",
        ),
    ],
)
def test_schema_errors(tmp_path, schema, error, match):
    with pytest.raises(error, match=match):
        read_trajectories(_with_schema(tmp_path, schema))


def test_hand_written_schema_works(tmp_path):
    schema = (
        '{"format": "hybridwm.trajectories", "version": 1, "states": ["theta", "omega"],'
        ' "actions": ["tau"], "time": "t", "episode": "episode", "meta": [{"a": 1}]}'
    )
    ts = read_trajectories(_with_schema(tmp_path, schema))
    assert [tr.meta for tr in ts] == [{"a": 1}, {}]  # episode 1 has no stored meta


# ---------------------------------------------------------------------------------- row errors
def test_non_numeric_value(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0.0,1.0,2.0,0.5\n0,0.1,abc,2.1,0.4\n1,0,1,1,1\n1,1,2,2,2\n"
    with pytest.raises(
        FormatError,
        match=r"Column `theta` must be numeric, but row 1 of the file .* holds 'abc' \(str\); 1 of 4",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_non_numeric_time(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0.0,1.0,2.0,0.5\n0,later,1.1,2.1,0.4\n"
    with pytest.raises(FormatError, match=r"Time column `t` must be numeric, but row 1 .* 'later'"):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_nested_values_are_not_numbers(tmp_path):
    p = tmp_path / "n.parquet"
    pd.DataFrame({"t": [0.0, 1.0], "x": [[1.0], [2.0]]}).to_parquet(p)
    with pytest.raises(FormatError, match=r"Column `x` must be numeric, but row 0"):
        read_trajectories(p, columns={"time": "t", "states": ["x"]})


def test_nan_message_names_episode_column_and_rows(tmp_path):
    text = GOOD + "2,0.0,1,1,1\n2,0.1,nan,1,1\n2,0.2,1,1,1\n"
    with pytest.raises(
        DataError,
        match=r"Episode 2 has NaN in column `theta` at row 1 \(row 5 of the file .*log\.csv'\); "
        r"1 missing values in 1 rows of 1 episode\(s\) in all\. .*dropna=True",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_inf_and_string_labels(tmp_path):
    text = "ep,t,theta,omega,tau\nrun-a,0,1,2,3\nrun-a,1,1,inf,3\n"
    with pytest.raises(DataError, match=r"Episode 'run-a' has inf in column `omega` at row 1"):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_empty_cell_is_missing(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,3\n0,1,1,,3\n0,2,1,3,3\n"
    with pytest.raises(DataError, match=r"NaN in column `omega` at row 1"):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


@pytest.mark.filterwarnings("ignore:.*is constant")
def test_nan_time(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,3\n0,,1,2,3\n0,2,1,3,3\n"
    with pytest.raises(DataError, match=r"NaN in time column `t` at row 1 .*dropna=True"):
        read_trajectories(_csv(tmp_path, text), columns=MAP)
    ts = read_trajectories(_csv(tmp_path, text), columns=MAP, dropna=True)
    np.testing.assert_array_equal(ts[0].t, [0.0, 2.0])


def test_dropna_and_allow_nan_on_read(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,3\n0,1,nan,2,3\n0,2,3,3,4\n1,0,1,1,1\n1,1,2,2,2\n"
    ts = read_trajectories(_csv(tmp_path, text), columns=MAP, dropna=True)
    np.testing.assert_array_equal(ts[0].t, [0.0, 2.0])
    raw = read_trajectories(_csv(tmp_path, text), columns=MAP, allow_nan=True)
    assert raw.has_missing and np.isnan(raw[0].x[1, 0])
    np.testing.assert_array_equal(raw.interpolate()[0].x[:, 0], [1.0, 2.0, 3.0])


def test_dropna_leaving_short_episode(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,3\n0,1,nan,2,3\n1,0,1,1,1\n1,1,2,2,2\n"
    with pytest.raises(
        DataError,
        match=r"Episode 0 has 1 sample\(s\) \(row 0 of .*\) after dropping rows with missing",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP, dropna=True)


def test_duplicate_timestamps(tmp_path):
    text = GOOD + "2,0.0,1,1,1\n2,0.5,1,2,1\n2,0.5,1,3,1\n"
    with pytest.raises(
        DataError,
        match=r"Episode 2 has the duplicate timestamp t=0\.5 at rows 1 and 2 \(rows 5 and 6 of "
        r"the file .*drop_duplicates\(subset=\['ep', 't'\]\)",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_unsorted_times(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,3\n0,2,1,2,3\n0,1,1,2,3\n"
    with pytest.raises(
        DataError,
        match=r"Episode 0 is not sorted by time: row 2 has t=1\.0 after t=2\.0 at row 1 .*"
        r"sort_values\(\['ep', 't'\]\)",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_unsorted_without_episode_column_hints_episode(tmp_path):
    text = "t,theta\n0,1\n1,2\n0,3\n1,4\n"
    with pytest.raises(DataError, match=r"map the column that separates episodes"):
        read_trajectories(_csv(tmp_path, text), columns={"time": "t", "states": ["theta"]})


def test_ragged_action_column(tmp_path):
    text = GOOD + "2,0,1,1,\n2,1,2,2,\n"
    with pytest.raises(
        FormatError,
        match=r"Action column `tau` .* is empty in 1 of 3 episodes \(labels 2\) but has values "
        r"in the others: the columns are ragged",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_column_without_any_value(tmp_path):
    text = "t,x,u\n0,1,\n1,2,\n"
    with pytest.raises(FormatError, match=r"Action column `u` .* has no values at all"):
        read_trajectories(
            _csv(tmp_path, text), columns={"time": "t", "states": ["x"], "actions": ["u"]}
        )


def test_constant_column_warns_at_caller(tmp_path):
    text = "ep,t,theta,omega,tau\n0,0,1,2,0\n0,1,1,3,0\n1,0,1,4,0\n1,1,1,5,0\n"
    for read in (read_trajectories, TrajectorySet.read):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            read(_csv(tmp_path, text), columns=MAP)
        msgs = [str(w.message) for w in rec]
        assert len(msgs) == 2
        assert re.search(r"State column `theta` .* is constant \(= 1\.0\) over all 2", msgs[0])
        assert re.search(r"Action column `tau` .* is constant \(= 0\.0\)", msgs[1])
        assert all(w.category is UserWarning and w.filename == __file__ for w in rec)


def test_short_episode(tmp_path):
    text = GOOD + "5,0,1,1,1\n"
    with pytest.raises(
        DataError,
        match=r"Episode 5 has 1 sample\(s\) \(row 4 of the file .*\); an episode needs at "
        r"least 2 samples\. Drop those episodes or check the episode column `ep`",
    ):
        read_trajectories(_csv(tmp_path, text), columns=MAP)


def test_single_row_file(tmp_path):
    with pytest.raises(DataError, match=r"Episode 0 has 1 sample\(s\).*needs more rows"):
        read_trajectories(_csv(tmp_path, "t,x\n0,1\n"), columns={"time": "t", "states": ["x"]})


def test_missing_episode_label(tmp_path):
    p = tmp_path / "l.parquet"
    pd.DataFrame({"ep": [1.0, None], "t": [0.0, 1.0], "x": [1.0, 2.0]}).to_parquet(p)
    with pytest.raises(
        FormatError, match=r"Episode column `ep` is empty at row 1 .* \(1 rows in all\)"
    ):
        read_trajectories(p, columns={"time": "t", "states": ["x"], "episode": "ep"})


def test_scaled_time_collapsing_is_data_error(tmp_path):
    text = "t,x\n0,1\n1e-320,2\n"
    with pytest.raises(DataError, match=r"strictly increasing"):
        read_trajectories(
            _csv(tmp_path, text), columns={"time": "t", "states": ["x"]}, time_scale=1e-10
        )


# ---------------------------------------------------------------------------------- write errors
def test_write_rejects_shared_state_action_name(tmp_path):
    tr = Trajectory([0.0, 1.0], [[1.0], [2.0]], [[0.0], [1.0]], ("a",), ("a",))
    with pytest.raises(DataError, match=r"\['a'\] are both"):
        write_trajectories(tr, tmp_path / "d.csv")


def test_write_rejects_short_episode(tmp_path):
    tr = Trajectory([0.0], [[1.0]])
    with pytest.raises(DataError, match=r"Trajectory 0 has 1 sample\(s\)"):
        write_trajectories([tr], tmp_path / "d.csv")


def test_write_rejects_non_json_meta(tmp_path):
    tr = Trajectory([0.0, 1.0], [[1.0], [2.0]], meta={"f": object()})
    with pytest.raises(DataError, match=r"`meta` of trajectory 0 cannot be stored as JSON"):
        write_trajectories(tr, tmp_path / "d.npz")


def test_write_rejects_other_data(tmp_path):
    with pytest.raises(DataError, match=r"must be a TrajectorySet"):
        write_trajectories({"t": [0, 1]}, tmp_path / "d.npz")


# ---------------------------------------------------------------------------------- atomicity
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_old_file(tmp_path, make_set, monkeypatch, fmt, exc):
    path = tmp_path / f"d.{fmt}"
    write_trajectories(make_set(seed=1), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        target = args[0] if fmt == "npz" else args[1]
        if hasattr(target, "write"):
            target.write("partial" if fmt == "csv" else b"partial")
        else:
            Path(target).write_bytes(b"partial")
        raise exc("interrupted")

    if fmt == "csv":
        monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    elif fmt == "parquet":
        monkeypatch.setattr(pq, "write_table", boom)
    else:
        monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(exc, match=r"interrupted"):
        write_trajectories(make_set(seed=2), path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_failed_first_write_leaves_nothing(tmp_path, make_set, monkeypatch):
    monkeypatch.setattr(pq, "write_table", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError, match=r"disk"):
        write_trajectories(make_set(), tmp_path / "new.parquet")
    assert os.listdir(tmp_path) == []


def test_no_warnings_on_clean_round_trip(tmp_path, make_set):
    p = write_trajectories(make_set(), tmp_path / "d.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_trajectories(p)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_missing_values_with_allow_nan(tmp_path, fmt):
    x = np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, 4.0]])
    ts = TrajectorySet([Trajectory([0.0, 1.0, 2.0], x, [[1.0], [-np.inf], [0.5]], allow_nan=True)])
    p = write_trajectories(ts, tmp_path / f"d.{fmt}")
    with pytest.raises(DataError, match="NaN in column `x1` at row 0"):
        read_trajectories(p)
    back = read_trajectories(p, allow_nan=True)
    np.testing.assert_array_equal(back[0].x, x)
    np.testing.assert_array_equal(back[0].u[:, 0], [1.0, -np.inf, 0.5])
    assert back[0].allow_nan


def test_numbers_stored_as_strings_are_read_exactly(tmp_path):
    p = tmp_path / "s.parquet"
    pd.DataFrame({"t": ["0", "0.1", "0.2"], "x": ["0.1", " 1e-3 ", None]}).to_parquet(p)
    ts = read_trajectories(p, columns={"time": "t", "states": ["x"]}, allow_nan=True)
    np.testing.assert_array_equal(ts[0].t, [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(ts[0].x[:2, 0], [0.1, 1e-3])
    assert np.isnan(ts[0].x[2, 0])


def test_complex_values_are_not_numbers(tmp_path):
    df = pd.DataFrame({"t": [0.0, 1.0], "x": [1.0 + 0j, 2.0 + 1j]})
    with pytest.raises(FormatError, match=r"Column `x` must be numeric, but row 0 .*complex"):
        TrajectorySet.from_dataframe(df)


def test_mapping_save_and_load_json(tmp_path):
    m = ColumnMapping(time="ms", states=["q"], actions=["f"], episode="run", time_scale=0.001)
    assert m.states == ("q",)  # lists become tuples
    m.save(tmp_path / "m.json")
    assert ColumnMapping.from_file(tmp_path / "m.json") == m
    assert ColumnMapping.from_dict(m.to_dict()) == m


def test_mapping_file_errors(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text("time = \n")
    with pytest.raises(FormatError, match="Cannot parse config file"):
        read_trajectories(_csv(tmp_path, GOOD), columns=bad)
    with pytest.raises(FormatError, match="does not exist"):
        ColumnMapping.from_file(tmp_path / "missing.toml")


def test_mapping_is_a_validated_config():
    assert ColumnMapping("t", ["x"]).states == ("x",)  # positional fields, lists → tuples
    m = MAP.replace(time_scale=0.5)
    with pytest.raises(ConfigError, match=r"`time_scale` of ColumnMapping must be finite"):
        m.time_scale = -1.0
    assert m.time_scale == 0.5
    with pytest.raises(ConfigError, match=r"'theta' is in time and states"):
        m.replace(time="theta")
