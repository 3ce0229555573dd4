"""Merge the run directories of a sharded benchmark and collect its results.

The shards of a grid (``hybridwm benchmark --shard k/N``) write either one run directory on a
shared disk or one directory each. :func:`collect_run` copies the finished jobs of each
source directory into the run directory (through the same atomic writers as the jobs
themselves, :func:`~hybridwm.evaluation.pieces.write_piece`), checks that every job of the
grid is finished, and collects ``results.json`` and the tables: the same, byte for byte, as
an unsharded run of the config on one machine would write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hybridwm.errors import ConfigError, FormatError
from hybridwm.evaluation.benchmark import check_same_config
from hybridwm.evaluation.collection import collect, now
from hybridwm.evaluation.config import BenchmarkConfig
from hybridwm.evaluation.jobs import finished, job_dir
from hybridwm.evaluation.pieces import Piece, read_files, write_piece
from hybridwm.evaluation.shards import job_keys

__all__ = ["collect_run", "run_config"]

#: how many unfinished jobs an error lists by name
_LISTED = 12


def run_config(run: Path) -> BenchmarkConfig:
    """The config a benchmark run directory was started with (its ``config.json``).

    Raises:
        FormatError: ``run`` holds no readable ``config.json``.
    """
    path = run / "config.json"
    if not path.is_file():
        raise FormatError(
            f"{str(run)!r} is not a benchmark run directory: it has no config.json. Pass the "
            f"--out of `hybridwm benchmark` (or of one of its shards)."
        )
    return BenchmarkConfig.from_file(path)


def _merge(cfg: BenchmarkConfig, out: Path, source: Path) -> int:
    """Copy the finished jobs of ``source`` (a run of ``cfg``) into ``out``; returns how many
    files were written."""
    written = 0
    for system in cfg.systems:
        for seed in cfg.seeds:
            done = [m for m in cfg.models if finished(source, system, seed, m)]
            if not done:
                continue
            have = read_files(job_dir(out, system, seed), ["*"])
            files = {
                rel: data
                for rel, data in read_files(job_dir(source, system, seed), ["*"]).items()
                if have.get(rel) != data and not _unfinished_result(rel, done)
            }
            if files:
                write_piece(out, Piece(f"{system}/seed{seed}", system, seed, files))
                written += len(files)
    return written


def _unfinished_result(rel: str, done: list[str]) -> bool:
    """Whether ``rel`` is a result file of a job that is not finished (a damaged one)."""
    return rel.startswith("eval/") and rel.removeprefix("eval/").removesuffix(".json") not in done


def collect_run(
    out: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """Merge the shard run directories ``sources`` into ``out`` and collect the results.

    Args:
        out: the run directory that receives the results (it may be a shard's own, or the
            directory that every shard wrote; a new one takes the config of the sources).
        sources: run directories of shards of the same config; none when the shards all
            wrote ``out``.

    Returns:
        The path of ``results.json``.

    Raises:
        ConfigError: a source holds another config, or a job of the grid is finished nowhere
            (the message names the jobs and the shards to run again).
        FormatError: ``out`` (when no source is given) or a source is no run directory.
    """
    out_dir = Path(out)
    paths = [Path(s) for s in sources]
    if not paths and not (out_dir / "config.json").is_file():
        raise FormatError(
            f"--collect found no benchmark in {str(out_dir)!r} (no config.json). Pass the run "
            f"directory that the shards wrote as --out, or the shards' directories with "
            f"--from DIR (repeatable)."
        )
    cfg = run_config(out_dir if (out_dir / "config.json").is_file() else paths[0])
    check_same_config(cfg, out_dir)
    cfg.save(out_dir / "config.json")
    for source in paths:
        check_same_config(run_config(source), out_dir)
        _merge(cfg, out_dir, source)
    keys = job_keys(cfg)
    missing = [k for k in keys if not finished(out_dir, *k)]
    if missing:
        listed = ", ".join(str(k) for k in missing[:_LISTED])
        more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
        raise ConfigError(
            f"{len(missing)} of the {len(keys)} jobs are not finished in {str(out_dir)!r} or "
            f"the --from directories: {listed}{more}. Run (or rerun) the shards that hold "
            f"them (`hybridwm benchmark --shard k/N --out DIR` computes only the unfinished "
            f"jobs of shard k), then --collect again."
        )
    return collect(cfg, out_dir, now())
