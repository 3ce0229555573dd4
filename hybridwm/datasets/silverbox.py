"""Silverbox (Wigren & Schoukens 2013): an electronic Duffing oscillator,
``m y'' + d y' + (a + b y^2) y = u``, measured at 610.35 Hz, in the official splits.

The splits are those of the official loader ``nonlinear-benchmarks`` 1.0.1 (``Silverbox()``):
the multisine part ``[40650, 105712)`` for estimation and validation (cut in half as Champneys
et al. 2024 did: estimation ``[40650, 73181)``, validation ``[73181, 105712)``), and three test
records, ``test_multisine`` ``[105712, 127400)``, ``test_arrow_full`` ``[100, 40575)`` (it
reaches output amplitudes the multisine never does: extrapolation) and
``test_arrow_no_extrapolation`` ``[100, 32100)``; 0-based, half-open. The score is the RMSE in mV
after the first 50 samples (the initialisation window). See ``data/silverbox/README.md``.

The input is a band-limited multisine from a generator with a reconstruction filter, sampled at
9 samples per period of the 67 Hz resonance: a continuous-time model should interpolate it
between samples (``hybridwm fit --intersample quintic``, or ``foh``/``cubic``). Held instead, it
lags by half a sample, and the Duffing prior trained for 100 steps scored 13.3 mV instead of
1.6 mV (``foh``) on the multisine test (``benchmarks/RESULTS.md``, session 13).
"""

from __future__ import annotations

import os

from hybridwm.datasets.archive import ShippedFile, read_columns
from hybridwm.datasets.dataset import MeasuredDataset, PublishedRow, record_split

__all__ = ["SILVERBOX_FILE", "SILVERBOX_SPLITS", "silverbox"]

#: the benchmark record ``SNLS80mV`` at full precision (converted from the official .mat)
SILVERBOX_FILE = ShippedFile(
    "silverbox",
    "SNLS80mV.csv",
    "945b62bc951452f735ba3137436ceed4fbe819fdb8282d90b4c2ef3904ffbcfc",
    ("index", "V1", "V2"),
)

#: ``{split: (start, stop, role)}``, 0-based half-open sample indices of ``SNLS80mV``
SILVERBOX_SPLITS: dict[str, tuple[int, int, str]] = {
    "estimation": (40650, 73181, "estimation"),
    "validation": (73181, 105712, "validation"),
    "train_val": (40650, 105712, "estimation"),
    "test_multisine": (105712, 127400, "test"),
    "test_arrow_full": (100, 40575, "test"),
    "test_arrow_no_extrapolation": (100, 32100, "test"),
}

#: the official loader's sampling time (the paper's exact rate is 10^7 / 2^14 = 610.3515625 Hz)
SAMPLING_TIME = 1 / 610.35
TESTS = ("test_multisine", "test_arrow_full", "test_arrow_no_extrapolation")
_CHAMPNEYS = "Champneys et al. 2024, IFAC-PapersOnLine 58(15):474-479"


def _row(
    method: str, scores: tuple[float, float, float], status: str = "transcribed"
) -> PublishedRow:
    return PublishedRow(method, dict(zip(TESTS, scores, strict=True)), _CHAMPNEYS, status)


#: published test RMSE [mV] (Champneys et al. 2024, Tables 3-4, via a transcription; the
#: ARX and pNARX rows were recomputed by the data's curators to within 0.01 mV)
PUBLISHED: tuple[PublishedRow, ...] = (
    _row("LTI SS (BLA, nx=2)", (6.96, 14.4, 6.58)),
    _row("LTI ARX", (6.95, 14.2, 6.59), "reproduced"),
    _row("pNARX (polynomial NARX)", (0.640, 2.25, 0.571), "reproduced"),
    _row("GP NARX", (0.301, 0.60, 0.259)),
    _row("MLP NARX", (2.80, 5.18, 2.40)),
    _row("MLP FIR", (18.9, 20.2, 15.3)),
    _row("RNN", (1.64, 4.88, 1.73)),
    _row("GRU", (1.49, 2.80, 0.947)),
    _row("LSTM", (1.50, 2.68, 0.960)),
    _row("OLSTM", (1.51, 2.38, 1.08)),
    PublishedRow(
        "DT SUBNET (Beintema et al. 2021), quoted by Champneys et al.",
        dict(zip(TESTS, (0.36, 1.4, 0.32), strict=True)),
        _CHAMPNEYS,
        note="not confirmed against the SUBNET paper",
    ),
)

CITATION = (
    'T. Wigren and J. Schoukens, "Three free data sets for development and benchmarking in '
    'nonlinear system identification", 2013 European Control Conference (ECC), Zurich, '
    "pp. 2933-2938."
)


def silverbox(data_dir: str | os.PathLike[str] | None = None) -> MeasuredDataset:
    """The Silverbox benchmark in its official splits (output ``y`` [V], input ``u`` [V]).

    Args:
        data_dir: a folder holding ``SNLS80mV.csv.xz`` to read instead of the shipped copy
            (checked against the same SHA-256).

    Returns:
        A :class:`MeasuredDataset` with splits ``estimation``, ``validation``, ``train_val``,
        ``test_multisine``, ``test_arrow_full``, ``test_arrow_no_extrapolation``; ``n_init`` 50,
        scores in mV.

    Raises:
        FormatError: the file is missing, altered or not the shipped one.
    """
    record = read_columns(SILVERBOX_FILE, data_dir)
    units = {"t": "s", "y": "V", "u": "V"}
    splits = {
        name: record_split(
            record,
            start,
            stop,
            names=(("V2", "y"), ("V1", "u")),
            sampling_time=SAMPLING_TIME,
            meta={
                "dataset": "silverbox",
                "split": name,
                "role": role,
                "file": SILVERBOX_FILE.name,
                "n_init": 50,
                "units": units,
                "score_unit": "mV",
            },
        )
        for name, (start, stop, role) in SILVERBOX_SPLITS.items()
    }
    return MeasuredDataset("silverbox", splits, TESTS, 50, "mV", 1000.0, units, PUBLISHED, CITATION)
