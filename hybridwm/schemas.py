"""The documents of a benchmark run directory, defined once as pydantic models.

The writer (:mod:`hybridwm.evaluation`) builds these models and writes them; the reader
(:mod:`hybridwm.reports`) validates what it reads through them, so the two cannot drift apart.
A malformed document raises :class:`~hybridwm.errors.FormatError` naming the file, the field,
what was expected and how to fix it.

Run directory (``format_version`` 1). Only ``results.json`` is required by the reports; the
other files are used when present. ``results.json`` holds only what the config and seed decide:
two runs of one config on one machine write it byte for byte the same, however loaded the
machine was (unless the ``max_time`` safety cap stopped a training run, which its ``training``
rows say). Wall-clock times go to ``timings.json``.

``<run>/config.json``
    The ``BenchmarkConfig`` (:mod:`hybridwm.evaluation.config`) as a JSON object.

``<run>/results.json`` (:class:`RunResults`)
    * ``format_version``: the integer ``1``.
    * ``setup``: object; the report shows every key. The runner writes ``python``,
      ``hybridwm``, ``torch``, ``torchdiffeq``, ``pysindy``, ``mujoco``, ``numpy``,
      ``machine``, ``preset``.
    * ``systems``: ``{system: SystemEntry}``: names, equations, coefficients and whether the
      physics is incomplete, per system.
    * ``scenarios`` (optional): ``{system: {scenario: one-line description}}``.
    * ``metrics``: list of :class:`MetricRow` ``{"system", "model", "scenario", "seed",
      "metric", "value"}``; ``metric`` is e.g. ``"nrmse"``, ``"vpt"``, ``"diverged"``,
      ``"energy_drift"``, ``"residual_share"``. Every ``system`` must be a key of
      ``systems``. A scenario named ``<name>-adapted`` holds the errors on scenario ``<name>``
      after the model was recalibrated on a short record of that scenario's system.
    * ``training`` (optional): list of :class:`TrainingRow`: per model and training run (the
      fit, scenario ``"train"``; each adaptation, ``"<name>-adapted"``) the optimizer steps,
      the stop reason, the best epoch and how far trainable physics moved.
    * ``fit`` (optional, runs written before ``timings.json`` existed): cost rows as in
      ``timings.json``.

    Numbers are JSON numbers, ``null`` (NaN) or the strings ``"inf"`` / ``"-inf"`` (what
    :func:`hybridwm._io.to_jsonable` writes for non-finite floats).

``<run>/timings.json`` (:class:`Timings`)
    ``started``, ``finished`` (ISO 8601) and ``timings``: rows in the MetricRow layout,
    ``fit_time`` (scenario ``"train"``) and ``adapt_time`` (scenario ``"<name>-adapted"``) in
    seconds, NaN where a cached model was reused.

``<run>/metrics.parquet``
    The metric rows as a table (columns :data:`METRIC_COLUMNS`).

``<run>/curves.parquet``
    Error versus horizon, columns :data:`CURVE_COLUMNS`.

``<run>/samples/<system>__<scenario>.parquet``
    Sample episodes for the rollout plots, long format: columns :data:`SAMPLE_COLUMNS`
    (``source`` is ``"truth"`` or a model name) and one column per state.

``<run>/jobs/<system>/seed<k>/eval/<model>.json`` (:class:`JobResult`)
    What one (system, seed, model) job measured, before collection.

``<run>/summary.json`` (:class:`Summary`)
    The aggregated numbers the report shows (written by :mod:`hybridwm.reports`).

A learning-loop run directory (``hybridwm learn``) holds ``learning.json``
(:class:`LearningRun`): the task, the loop's and the planner's settings, and one
:class:`LearningRoundRow` per model kind, seed and round; :mod:`hybridwm.reports.learning`
renders it.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hybridwm._document_errors import document_error
from hybridwm._io import atomic_write_json, to_jsonable
from hybridwm.errors import FormatError, IncompatibleVersionError

__all__ = [
    "ADAPTED_SUFFIX",
    "COST_METRICS",
    "CURVE_COLUMNS",
    "FIT_SCENARIO",
    "FORMAT_VERSION",
    "METRIC_COLUMNS",
    "SAMPLE_COLUMNS",
    "TIMINGS_FILE",
    "AggregateRow",
    "BestRow",
    "Coefficients",
    "ComparisonRow",
    "Curve",
    "Document",
    "JobResult",
    "JsonFloat",
    "LearningRoundRow",
    "LearningRun",
    "LossRow",
    "MetricRow",
    "OracleEpisodeRow",
    "RatioRow",
    "RunResults",
    "SampleEpisodes",
    "Summary",
    "SystemEntry",
    "Timings",
    "TrainingRow",
    "json_float",
    "read_json",
]

FORMAT_VERSION = 1
METRIC_COLUMNS = ("system", "model", "scenario", "seed", "metric", "value")
CURVE_COLUMNS = ("system", "model", "scenario", "seed", "t", "nrmse")
SAMPLE_COLUMNS = ("episode", "t", "source")
#: a scenario evaluated again after the models were recalibrated: ``"<scenario>-adapted"``
ADAPTED_SUFFIX = "-adapted"
#: the scenario of the ``fit_time`` cost rows and of the fit's training row
FIT_SCENARIO = "train"
#: the wall-clock rows (``timings.json``), never among the metrics
COST_METRICS = ("fit_time", "adapt_time")
#: the run directory's file of wall-clock times (:class:`Timings`)
TIMINGS_FILE = "timings.json"
D = TypeVar("D", bound="Document")


def json_float(value: Any) -> float:
    """A JSON number as a float: ``null`` is NaN, ``"inf"``/``"-inf"``/``"nan"`` are kept.

    Raises:
        ValueError: for anything else (turned into a FormatError naming the field).
    """
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"must be a number, null, 'inf' or '-inf'. Got {value!r}.")
    return float(value)


#: a float written by :func:`hybridwm._io.to_jsonable` (NaN as null, infinities as strings)
JsonFloat = Annotated[float, BeforeValidator(json_float)]
#: ``{equation: {feature: value}}``
Coefficients = dict[str, dict[str, JsonFloat]]


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing or malformed file is a :class:`FormatError`."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{str(p)!r} does not exist or is not a file.")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{str(p)!r} is not valid JSON: {exc}.") from None
    except OSError as exc:
        raise FormatError(f"Cannot read {str(p)!r}: {exc.strerror or exc}.") from None


# ---------------------------------------------------------------------------- base
class Document(BaseModel):
    """Base of the run-directory documents: parse with clear errors, write atomically.

    Keys a document does not define are kept (and written back), so files written by a newer
    hybridwm or by other tools still read.
    """

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, protected_namespaces=())

    #: how error messages name one such document ("a results.json", "each row", ...)
    what: ClassVar[str] = "the document"
    #: how to repair a malformed file of this kind
    fix: ClassVar[str] = "Rerun `hybridwm benchmark` to rewrite the file, or correct the field."

    @classmethod
    def parse(cls: type[D], data: Any, source: str) -> D:
        """Validate parsed JSON; ``source`` names the file in the error messages.

        Raises:
            FormatError: naming the file, the field, what was expected and the fix.
        """
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise document_error(cls, exc, source) from None

    @classmethod
    def read(cls: type[D], path: str | os.PathLike[str]) -> D:
        """Read and validate a JSON file."""
        return cls.parse(read_json(path), repr(str(path)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (absent optional parts left out, non-finite floats encoded)."""
        data: dict[str, Any] = to_jsonable(self.model_dump(mode="python", exclude_none=True))
        return data

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the document as indented JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def required_keys(cls) -> list[str]:
        """Keys every instance must have, in order."""
        return [n for n, f in cls.model_fields.items() if f.is_required()]

    @classmethod
    def optional_keys(cls) -> list[str]:
        """Keys an instance may have."""
        return [n for n, f in cls.model_fields.items() if not f.is_required()]


# ---------------------------------------------------------------------------- results.json
class MetricRow(Document):
    """One number of a run: a metric of one model on one scenario of one (system, seed) job."""

    what: ClassVar[str] = "each row"

    system: str
    model: str
    scenario: str
    seed: int
    metric: str
    value: JsonFloat


class SystemEntry(Document):
    """What a run records about one system's discovered equations.

    Attributes:
        state_names, action_names: the system's names.
        equations: one readable equation per state, e.g. ``"d(omega)/dt = -9.81 sin(theta)"``.
        equations_latex: the same in LaTeX, one per state.
        coefficients: discovered ``{equation: {feature: value}}`` (non-zero terms).
        coefficients_std: the same layout, std over the discovery ensemble.
        inclusion_probability: the same layout, in [0, 1].
        true_coefficients: the same layout, the ground truth where known in closed form.
        note: why the truth is not compared, where it is not.
        incomplete_physics: True where the simulator has effects that no closed-form equations
            hold (a ``*-rig`` system: friction, motor lag, saturation, drag), so the
            discovered physics cannot be complete; False where the closed form is known.
    """

    what: ClassVar[str] = "each system"

    state_names: list[str]
    action_names: list[str]
    equations: list[str]
    equations_latex: list[str] | None = None
    coefficients: Coefficients | None = None
    coefficients_std: Coefficients | None = None
    inclusion_probability: Coefficients | None = None
    true_coefficients: Coefficients | None = None
    note: str | None = None
    incomplete_physics: bool | None = None


class TrainingRow(Document):
    """One training run of one model in one (system, seed) job: what it did, all decided by
    the config and seed (except where ``stop_reason`` is ``"max_time"``).

    Attributes:
        system, model, seed: the job.
        scenario: ``"train"`` for the fit, ``"<name>-adapted"`` for an adaptation.
        steps: optimizer steps taken.
        best_epoch: the epoch whose weights were kept (0: the initial weights).
        stop_reason: why training ended (``"steps"``, ``"epochs"``, ``"patience"``,
            ``"max_time"``: the wall-clock safety cap, ``"nothing to train"``, ...).
        physics_change: the largest relative change of a physics coefficient (or a declared
            parameter) from the job's discovered physics, ``|now - start| / |start|``; None
            without physics.
        physics_change_term: the coefficient (``"d(omega)/dt: sin(theta)"``) or parameter of
            that largest change.
        coefficients: the model's physics after training, ``{equation: {feature: value}}``
            (non-zero terms). parameters: a declared prior's ``{name: value}`` after training.
    """

    what: ClassVar[str] = "each training row"

    system: str
    model: str
    scenario: str
    seed: int
    steps: int
    best_epoch: int
    stop_reason: str
    physics_change: JsonFloat | None = None
    physics_change_term: str | None = None
    coefficients: Coefficients | None = None
    parameters: dict[str, JsonFloat] | None = None


class RunResults(Document):
    """``results.json``: the collected results of a benchmark run (format in the module doc)."""

    what: ClassVar[str] = "a results.json"

    format_version: int
    setup: dict[str, Any] = Field(description="must be an object")
    systems: dict[str, SystemEntry] = Field(description="must be an object keyed by system")
    scenarios: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="must map each system to {scenario: description} with string descriptions",
    )
    metrics: list[MetricRow] = Field(description="must be a list of rows")
    training: list[TrainingRow] = Field(default_factory=list, description="must be a list")
    fit: list[MetricRow] = Field(default_factory=list, description="must be a list of rows")

    @classmethod
    def parse(cls, data: Any, source: str) -> RunResults:
        """Check ``format_version`` first (another version may differ in every other part)."""
        if isinstance(data, dict) and "format_version" in data:
            version = data["format_version"]
            if version != FORMAT_VERSION:
                raise IncompatibleVersionError(
                    f"{source} has format_version {version!r}; this hybridwm reads "
                    f"format_version {FORMAT_VERSION}. Re-render with the hybridwm version that "
                    f"wrote the run, or rerun the benchmark."
                )
        return super().parse(data, source)

    @model_validator(mode="after")
    def _rows_name_known_systems(self) -> RunResults:
        for key in ("metrics", "training", "fit"):
            for i, row in enumerate(getattr(self, key)):
                if row.system not in self.systems:
                    raise ValueError(
                        f"{key}[{i}] names system {row.system!r}, which is not in `systems` "
                        f"{list(self.systems)}."
                    )
        return self


# ---------------------------------------------------------------------------- job files
class Curve(Document):
    """Error against horizon of one model on one scenario: ``nrmse[k]`` at time ``t[k]``."""

    what: ClassVar[str] = "each curve"

    scenario: str
    t: list[float]
    nrmse: list[JsonFloat]


class SampleEpisodes(Document):
    """A few evaluation episodes kept for the rollout plots.

    Attributes:
        truth: per episode, (T, n_x) ground-truth states.
        pred: per episode, (T, n_x) predicted states.
        t: per episode, (T,) sample times.
    """

    what: ClassVar[str] = "each sample"

    truth: list[list[list[JsonFloat]]]
    pred: list[list[list[JsonFloat]]]
    t: list[list[float]]


class JobResult(Document):
    """``jobs/<system>/seed<k>/eval/<model>.json``: what one model measured in one job.

    Attributes:
        metrics: the metric rows (files written before ``timings`` existed also hold the cost
            rows here).
        curves: error against horizon per scenario.
        samples: ``{scenario: SampleEpisodes}``.
        state_names: the columns of the sample arrays.
        training: the training rows of the fit and of each adaptation.
        timings: the cost rows (``fit_time``, ``adapt_time``), in seconds.
    """

    what: ClassVar[str] = "a job file"
    fix: ClassVar[str] = "Delete the file; `hybridwm benchmark` then evaluates the job again."

    metrics: list[MetricRow]
    curves: list[Curve]
    samples: dict[str, SampleEpisodes]
    state_names: list[str]
    training: list[TrainingRow] = Field(default_factory=list, description="must be a list")
    timings: list[MetricRow] = Field(default_factory=list, description="must be a list of rows")


class Timings(Document):
    """``timings.json``: the wall-clock side of a run, kept out of ``results.json``."""

    what: ClassVar[str] = "a timings.json"

    format_version: int
    started: str | None = None
    finished: str | None = None
    timings: list[MetricRow] = Field(default_factory=list, description="must be a list of rows")


# ---------------------------------------------------------------------------- summary.json
class AggregateRow(Document):
    """Mean and std over seeds of one (system, model, scenario, metric) cell."""

    what: ClassVar[str] = "each table row"

    system: str
    model: str
    scenario: str
    metric: str
    mean: JsonFloat
    std: JsonFloat
    n_seeds: int


class BestRow(Document):
    """The best model of one (system, scenario) for one metric."""

    what: ClassVar[str] = "each best row"

    system: str
    scenario: str
    metric: str
    model: str
    mean: JsonFloat


class RatioRow(Document):
    """A model's mean error on an OOD scenario over its mean error in distribution."""

    what: ClassVar[str] = "each ratio row"

    system: str
    model: str
    scenario: str
    ratio: JsonFloat
    id_mean: JsonFloat
    ood_mean: JsonFloat


class LossRow(Document):
    """A (system, scenario) where the hybrid's mean error is worse than the best other's."""

    what: ClassVar[str] = "each loss row"

    system: str
    scenario: str
    metric: str
    hybrid_mean: JsonFloat
    hybrid_std: JsonFloat
    best_model: str
    best_mean: JsonFloat
    best_std: JsonFloat


class ComparisonRow(Document):
    """The hybrid's mean error over another model's on one (system, scenario); ``physics``:
    ``"incomplete physics"``, ``"exact physics"`` or that the run did not record it."""

    what: ClassVar[str] = "each comparison row"

    system: str
    scenario: str
    other: str
    hybrid_mean: JsonFloat
    other_mean: JsonFloat
    ratio: JsonFloat
    physics: str
    info_only: bool


class Summary(Document):
    """``summary.json``: the aggregated view of a run (see :func:`hybridwm.reports.summarize`)."""

    what: ClassVar[str] = "a summary.json"
    fix: ClassVar[str] = "Render it again with `hybridwm report RUN_DIR`."

    format_version: int
    run: str
    systems: list[str]
    models: list[str]
    scenarios: list[str]
    table: list[AggregateRow]
    best: list[BestRow]
    ood_id_ratio: list[RatioRow]
    hybrid_losses: list[LossRow]
    findings: list[str]
    hybrid_comparison: list[ComparisonRow] = Field(default_factory=list)


# ---------------------------------------------------------------------------- learning.json
class LearningRoundRow(Document):
    """One round of the model-based learning loop (:mod:`hybridwm.control.learning`): the
    real seconds its model was fitted on and how its evaluation episode went; ``phase``
    ``"shifted"``: a round on the changed system, whose model saw ``new_seconds`` of data
    recorded after the change."""

    what: ClassVar[str] = "each round"

    kind: str
    seed: int
    round: int
    interaction_seconds: float
    success: bool
    total_return: JsonFloat
    final_goal_error: JsonFloat
    phase: Literal["nominal", "shifted"] = "nominal"
    new_seconds: float = 0.0


class OracleEpisodeRow(Document):
    """The reference of a learning run: the same planner over MuJoCo itself (no data), one
    evaluation episode per seed on the nominal and (``phase="shifted"``) the changed system."""

    what: ClassVar[str] = "each oracle episode"

    seed: int
    phase: Literal["nominal", "shifted"]
    success: bool
    total_return: JsonFloat
    final_goal_error: JsonFloat


class LearningRun(Document):
    """``<run>/learning.json``: every round of a learning-loop run, per model kind and seed.

    Like ``results.json``, it holds only what the settings and seeds decide (no wall-clock
    time), so a rerun writes it byte for byte the same.
    """

    what: ClassVar[str] = "a learning.json"
    fix: ClassVar[str] = (
        "Rerun the loop with `hybridwm learn` (or benchmarks/bench_control_learning.py --out) "
        "to rewrite the file, or correct the field."
    )

    format_version: int
    task: str
    kinds: list[str]
    seeds: list[int]
    settings: dict[str, Any] = Field(description="must be the LearningConfig as an object")
    planner: dict[str, Any] = Field(description="must be the PlannerConfig as an object")
    rounds: list[LearningRoundRow]
    oracle: list[OracleEpisodeRow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rounds_match(self) -> LearningRun:
        for row in self.rounds:
            if row.kind not in self.kinds or row.seed not in self.seeds:
                raise ValueError(
                    f"round {row.round} of kind {row.kind!r}, seed {row.seed} is not among "
                    f"`kinds` {self.kinds} and `seeds` {self.seeds}"
                )
        for episode in self.oracle:
            if episode.seed not in self.seeds:
                raise ValueError(
                    f"the oracle episode of seed {episode.seed} is not among `seeds` {self.seeds}"
                )
        return self
