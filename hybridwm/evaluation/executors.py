"""Executors: how the benchmark's independent jobs run, behind one interface.

An executor is a callable ``run(fn, jobs, workers)`` that calls ``fn(*job)`` for every job and
yields the results as they finish (in any order). Three are registered in :data:`EXECUTORS`:
``"serial"`` (in this process, in order), ``"local"`` (a process pool on this machine; serial
for one worker or one job) and ``"ray"`` (a Ray cluster, ``pip install ray``). A new engine is
a new executor registered here, not a new code path.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from hybridwm.registry import Registry

__all__ = ["EXECUTORS", "Executor", "run_local", "run_ray", "run_serial"]

Job = tuple[Any, ...]


class Executor(Protocol):
    """Runs ``fn(*job)`` for every job with up to ``workers`` in parallel; yields the results
    as the jobs finish."""

    def __call__(
        self, fn: Callable[..., Any], jobs: Sequence[Job], workers: int
    ) -> Iterator[Any]: ...


def run_serial(fn: Callable[..., Any], jobs: Sequence[Job], workers: int) -> Iterator[Any]:
    """Run the jobs one after the other in this process (``workers`` is ignored)."""
    for job in jobs:
        yield fn(*job)


def run_local(fn: Callable[..., Any], jobs: Sequence[Job], workers: int) -> Iterator[Any]:
    """Run the jobs in a pool of ``workers`` processes (in this process for one worker or one
    job). ``fn`` must be importable: a module-level function."""
    if workers <= 1 or len(jobs) <= 1:
        yield from run_serial(fn, jobs, workers)
        return
    ctx = mp.get_context("spawn")  # torch and MuJoCo thread pools do not survive fork
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()


def run_ray(fn: Callable[..., Any], jobs: Sequence[Job], workers: int) -> Iterator[Any]:
    """Run the jobs as Ray tasks of one CPU each (Ray schedules them; ``workers`` is ignored).

    Raises:
        ImportError: Ray is not installed (the message names the install).
    """
    try:
        import ray  # optional dependency, imported only by this executor
    except ImportError:
        raise ImportError(
            "executor='ray' needs Ray: `pip install ray` (or `pip install 'ray[default]'`), "
            "or use executor='local'."
        ) from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(fn)
    pending = [remote.remote(*job) for job in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


EXECUTORS: Registry[Executor] = Registry("executor", "`executor`")
EXECUTORS.register("serial", run_serial)
EXECUTORS.register("local", run_local)
EXECUTORS.register("ray", run_ray)
