"""Property tests of the readers: exact round trips, and only hybridwm errors on bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hybridwm.data import ColumnMapping, Trajectory, TrajectorySet, read_trajectories
from hybridwm.errors import HybridWMError

FORMATS = ["csv", "parquet", "npz"]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

names = st.text(alphabet=st.sampled_from(list("abtxyz_ 0é,\"'#\n-")), min_size=1, max_size=6)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def trajectory_sets(draw):
    n_x = draw(st.integers(1, 3))
    n_u = draw(st.integers(0, 2))
    all_names = draw(st.lists(names, min_size=n_x + n_u, max_size=n_x + n_u, unique=True))
    n_ep = draw(st.integers(1, 3))
    trajs = []
    for i in range(n_ep):
        T = draw(st.integers(2, 6))
        start = draw(st.floats(-1e6, 1e6))
        steps = draw(arrays(np.float64, T, elements=st.floats(1e-6, 10.0)))
        t = start + np.cumsum(steps)
        x = draw(arrays(np.float64, (T, n_x), elements=finite))
        u = draw(arrays(np.float64, (T, n_u), elements=finite))
        trajs.append(
            Trajectory(
                t, x, u, all_names[:n_x], all_names[n_x:], meta={"i": i, "name": all_names[0]}
            )
        )
    return TrajectorySet(trajs)


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(ts=trajectory_sets())
def test_round_trip_property(tmp_path_factory, assert_same, fmt, ts):
    path = tmp_path_factory.mktemp("rt") / f"d.{fmt}"
    ts.write(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random columns may be constant
        back = TrajectorySet.read(path)
    assert_same(ts, back)


def _read_only_our_errors(path, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_trajectories(path, **kwargs)
    except HybridWMError:
        pass


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path_factory, fmt, data):
    path = tmp_path_factory.mktemp("rb") / f"r.{fmt}"
    path.write_bytes(data)
    _read_only_our_errors(path)
    _read_only_our_errors(path, columns={"time": "t", "states": ["x"], "episode": "e"})


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(cut=st.floats(0.0, 1.0), flip=st.integers(0, 10_000), seed=st.integers(0, 3))
def test_truncated_and_corrupted_files(tmp_path_factory, make_set, fmt, cut, flip, seed):
    folder = tmp_path_factory.mktemp("tr")
    path = make_set(seed=seed).write(folder / f"d.{fmt}")
    raw = bytearray(path.read_bytes())
    cut_at = int(cut * len(raw))
    path.write_bytes(bytes(raw[:cut_at]))
    _read_only_our_errors(path)
    raw[flip % len(raw)] ^= 0xFF
    path.write_bytes(bytes(raw))
    _read_only_our_errors(path)


cell = st.one_of(
    st.floats(width=64),  # includes NaN and ±inf
    st.integers(-5, 5),
    st.sampled_from(["", "abc", "1.5", "nan", "inf", "1e400", " 2 ", "[1]"]),
    st.none(),
    st.booleans(),
)


@st.composite
def frames(draw):
    n = draw(st.integers(0, 8))
    cols = {}
    for name in ["e", "t", "x", "u"]:
        kind = draw(st.sampled_from(["float", "mixed", "dup", "absent"]))
        if kind == "absent" and name != "x":
            continue
        if kind == "float":
            cols[name] = draw(st.lists(st.floats(width=64), min_size=n, max_size=n))
        elif kind == "dup":
            cols[name] = [draw(st.integers(0, 2))] * n
        else:
            cols[name] = draw(st.lists(cell, min_size=n, max_size=n))
    return pd.DataFrame(cols)


def _npz_column(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy()
    return col.astype(str).to_numpy(dtype=str)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@FUZZ
@given(df=frames(), dropna=st.booleans(), allow_nan=st.booleans())
def test_random_frames(tmp_path_factory, fmt, df, dropna, allow_nan):
    path = tmp_path_factory.mktemp("df") / f"f.{fmt}"
    try:
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "parquet":
            df.astype(str).to_parquet(path) if df.dtypes.eq(object).any() else df.to_parquet(path)
        else:
            np.savez(path, **{c: _npz_column(df[c]) for c in df.columns})
    except Exception:  # pandas/pyarrow cannot write this frame; nothing to read
        return
    mapping = ColumnMapping(time="t", states=("x",), actions=("u",), episode="e")
    _read_only_our_errors(path, columns=mapping, dropna=dropna, allow_nan=allow_nan)
    _read_only_our_errors(path, columns={"time": "t", "states": ["x"]}, dropna=dropna)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            TrajectorySet.from_dataframe(df, states=["x"], episode="e", dropna=dropna)
    except HybridWMError:
        pass
