"""The benchmark grid as a list of named jobs, and its deterministic split into shards.

A *job* is one (system, seed, model) cell of the grid: it fits one model kind and evaluates it
on every scenario (:func:`~hybridwm.evaluation.jobs.fit_and_evaluate`). Its key,
``<system>/seed<k>/<model>`` (:class:`JobKey`), is the same on every machine: it depends on
the config's names only, never on a dict's order or Python's hash seed.

``--shard k/N`` (:class:`Shard`) runs the k-th of N parts of the grid, with no coordinator:
the jobs are sorted by key and cut into N contiguous blocks whose sizes differ by at most one,
so every job lies in exactly one shard, and the jobs of one (system, seed), which share its
simulated data and discovered physics, stay together where the sizes allow. Run the N shards
anywhere (a SLURM job array, GNU ``parallel``, N machines), then merge them with
``hybridwm benchmark --collect``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from hybridwm.errors import ConfigError
from hybridwm.evaluation.config import BenchmarkConfig

__all__ = ["JobKey", "Shard", "job_keys"]

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_SHARD_FIX = (
    "Write it as k/N with 1 <= k <= N, e.g. --shard 2/4 for the second of four shards (a "
    "SLURM array runs `--shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT`)."
)


class JobKey(NamedTuple):
    """One (system, seed, model) job of the grid; ``str(key)`` is ``<system>/seed<k>/<model>``."""

    system: str
    seed: int
    model: str

    def __str__(self) -> str:
        return f"{self.system}/seed{self.seed}/{self.model}"


class Shard(NamedTuple):
    """The ``index``-th (1-based) of ``count`` parts of the grid."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The shard written as ``"k/N"`` (``1 <= k <= N``).

        Raises:
            ConfigError: ``text`` is not of that form.
        """
        match = _SHARD.fullmatch(str(text))
        if match is None:
            raise ConfigError(f"--shard must be k/N. Got {text!r}. {_SHARD_FIX}")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise ConfigError(
                f"--shard {text!r} has k = {index} and N = {count}; k must be between 1 and N. "
                f"{_SHARD_FIX}"
            )
        return cls(index, count)

    def select(self, keys: list[JobKey]) -> list[JobKey]:
        """This shard's block of the sorted ``keys`` (block sizes differ by at most one)."""
        ordered = sorted(keys)
        n = len(ordered)
        return ordered[(self.index - 1) * n // self.count : self.index * n // self.count]


def job_keys(cfg: BenchmarkConfig) -> list[JobKey]:
    """Every job of the grid of ``cfg``, sorted by (system, seed, model)."""
    return sorted(JobKey(s, k, m) for s in cfg.systems for k in cfg.seeds for m in cfg.models)
