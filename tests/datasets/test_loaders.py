"""The shipped measured benchmarks: official splits, units, checksums, bounded reading, and
agreement with the official loader (``nonlinear-benchmarks``) split for split."""

from __future__ import annotations

import hashlib
import lzma
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hybridwm.datasets import archive, emps, load_dataset, silverbox
from hybridwm.datasets.emps import EMPS_FILES
from hybridwm.datasets.silverbox import SILVERBOX_FILE
from hybridwm.errors import FormatError, UnknownNameError

DATA = Path(str(resources.files("hybridwm.datasets").joinpath("data")))


@pytest.fixture(scope="module")
def sb():
    return silverbox()


@pytest.fixture(scope="module")
def em():
    return emps()


def test_silverbox_official_splits(sb):
    expected = {
        "estimation": (40650, 73181),
        "validation": (73181, 105712),
        "train_val": (40650, 105712),
        "test_multisine": (105712, 127400),
        "test_arrow_full": (100, 40575),
        "test_arrow_no_extrapolation": (100, 32100),
    }
    assert list(sb.splits) == list(expected)
    for name, (start, stop) in expected.items():
        (tr,) = sb.split(name)
        assert (tr.meta["start"], tr.meta["stop"], len(tr)) == (start, stop, stop - start)
        assert tr.state_names == ("y",) and tr.action_names == ("u",)
        np.testing.assert_allclose(np.diff(tr.t), 1 / 610.35)
    assert sb.tests == ("test_multisine", "test_arrow_full", "test_arrow_no_extrapolation")
    assert (sb.n_init, sb.score_unit, sb.score_scale) == (50, "mV", 1000.0)
    assert sb.units == {"t": "s", "y": "V", "u": "V"}
    full, short = sb.split("test_arrow_full")[0], sb.split("test_arrow_no_extrapolation")[0]
    np.testing.assert_array_equal(full.x[:32000], short.x)
    # the README's numbers: the arrow reaches |y| = 0.300 V, the multisine +0.216 / -0.214 V
    assert abs(full.x).max() == pytest.approx(0.300, abs=5e-4)
    tv = sb.split("train_val")[0].x
    assert (tv.max(), tv.min()) == (pytest.approx(0.216, abs=5e-4), pytest.approx(-0.214, abs=5e-4))


def test_emps_official_splits(em):
    assert list(em.splits) == ["estimation", "validation", "train_val", "test"]
    (test,) = em.split("test")
    (tv,) = em.split("train_val")
    assert len(test) == len(tv) == 24841
    assert test.meta["file"] == "DATA_EMPS_PULSES.csv" and tv.meta["file"] == "DATA_EMPS.csv"
    assert len(em.split("estimation")[0]) + len(em.split("validation")[0]) == 24841
    assert test.state_names == ("q",) and test.action_names == ("vir",)
    assert test.t[1] == pytest.approx(1.0000080e-3, rel=1e-7)
    assert tv.t[1] == pytest.approx(1.0000241e-3, rel=1e-7)
    assert (em.n_init, em.score_unit, em.tests) == (20, "mm", ("test",))
    assert em.parameters["M"] == 95.1089 and em.units["vir"] == "V"
    assert 0.246 < test.x.max() < 0.2466 and -7.95 < test.u.min() < -7.9


def test_unknown_names_are_listed(em):
    with pytest.raises(UnknownNameError, match=r"`split` 'val' is not a split of emps; valid"):
        em.split("val")
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'wiener'.*'emps', 'silverbox'"):
        load_dataset("wiener")


def _copy(tmp_path: Path, name: str = "DATA_EMPS.csv.xz") -> Path:
    shutil.copy(DATA / "emps" / "DATA_EMPS_PULSES.csv.xz", tmp_path)
    shutil.copy(DATA / "emps" / name, tmp_path)
    return tmp_path / name


def test_data_dir_reads_a_checked_copy(tmp_path, em):
    _copy(tmp_path)
    again = emps(tmp_path)
    np.testing.assert_array_equal(again.split("test")[0].x, em.split("test")[0].x)


def test_altered_missing_or_foreign_files_are_refused(tmp_path, monkeypatch):
    path = _copy(tmp_path)
    text = lzma.decompress(path.read_bytes()).replace(b"\n0,", b"\n0,1", 1)
    path.write_bytes(lzma.compress(text, preset=0))
    with pytest.raises(FormatError, match=r"checksum of DATA_EMPS.csv is .* altered"):
        emps(tmp_path)
    path.write_bytes(b"index,t\n0,1\n")
    with pytest.raises(FormatError, match="not a readable xz file"):
        emps(tmp_path)
    path.unlink()
    with pytest.raises(FormatError, match=r"DATA_EMPS.csv.xz is missing.*data_dir="):
        emps(tmp_path)
    _copy(tmp_path)
    monkeypatch.setattr(archive, "MAX_CSV_BYTES", 1000)
    with pytest.raises(FormatError, match="decompresses to more than 1000 bytes"):
        emps(tmp_path)


def test_agrees_with_the_official_loader_split_for_split(tmp_path, sb, em):
    nb = pytest.importorskip("nonlinear_benchmarks")
    savemat = pytest.importorskip("scipy.io").savemat
    # the official loader reads the .mat files of its cache folder; write them from the shipped
    # CSVs (bit-exact conversions of those .mat files) and let it cut them
    box = tmp_path / "Silverbox" / "SilverboxFiles"
    box.mkdir(parents=True)
    (tmp_path / "Silverbox" / "SilverboxFiles.zip").touch()
    rec = archive.read_columns(SILVERBOX_FILE)
    savemat(box / "SNLS80mV.mat", {"V1": rec["V1"][None], "V2": rec["V2"][None]})
    savemat(box / "Schroeder80mV.mat", {"V1": rec["V1"][None]})
    train_val, tests = nb.Silverbox(dir_placement=tmp_path)
    np.testing.assert_array_equal(train_val.y, sb.split("train_val")[0].x[:, 0])
    for ours, theirs in zip(sb.tests, tests, strict=True):
        np.testing.assert_array_equal(theirs.y, sb.split(ours)[0].x[:, 0])
        np.testing.assert_array_equal(theirs.u, sb.split(ours)[0].u[:, 0])
        assert theirs.state_initialization_window_length == sb.n_init
        assert theirs.sampling_time == pytest.approx(sb.split(ours)[0].t[1], rel=1e-12)
    folder = tmp_path / "EMPS"
    folder.mkdir()
    (folder / "EMPS.zip").touch()
    for key, file in EMPS_FILES.items():
        r = archive.read_columns(file)
        savemat(folder / f"{key}.mat", {k: r[k][:, None] for k in ("qm", "qg", "t", "vir")})
    train_val, test = nb.EMPS(dir_placement=tmp_path)
    for theirs, ours in ((train_val, "train_val"), (test, "test")):
        np.testing.assert_array_equal(theirs.y, em.split(ours)[0].x[:, 0])
        np.testing.assert_array_equal(theirs.u, em.split(ours)[0].u[:, 0])
        assert theirs.sampling_time == pytest.approx(em.split(ours)[0].t[1], rel=1e-12)
    assert test.state_initialization_window_length == em.n_init


def test_shipped_checksum_files_agree_with_the_code():
    for folder, files in (("silverbox", [SILVERBOX_FILE]), ("emps", list(EMPS_FILES.values()))):
        sums = dict(
            reversed(line.split("  "))
            for line in (DATA / folder / "SHA256SUMS").read_text().splitlines()
        )
        for file in files:
            assert sums[file.name] == file.sha256
            xz = DATA / folder / f"{file.name}.xz"
            assert sums[xz.name] == hashlib.sha256(xz.read_bytes()).hexdigest()
        assert "## Citation" in (DATA / folder / "README.md").read_text()
