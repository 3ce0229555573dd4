"""Executors: how the benchmark's independent jobs run, behind one interface.

An executor is a callable ``run(fn, jobs, workers, *, gpus=0)`` that calls ``fn(*job)`` for
every job and yields the results as they finish (in any order). Three are registered in
:data:`EXECUTORS`: ``"serial"`` (in this process, in order), ``"local"`` (a process pool on
this machine; serial for one worker or one job) and ``"ray"`` (Ray tasks,
``pip install 'hybridwm[ray]'``). A new engine is a new executor registered here, not a new
code path. The results travel back to the caller, which writes them
(:mod:`~hybridwm.evaluation.pieces`): workers need no shared file system.

:func:`executor_session` holds what an executor needs for a whole benchmark: for Ray, a
connection to an existing cluster (``address="auto"`` or ``"HOST:PORT"``) or a local Ray
instance of ``workers`` CPUs, started once for every stage and shut down at the end; a
connection that was open before is reused and left open.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import ModuleType
from typing import Any, Protocol

from hybridwm.errors import ConfigError
from hybridwm.registry import Registry

__all__ = [
    "EXECUTORS",
    "Executor",
    "check_address",
    "check_session",
    "executor_session",
    "run_local",
    "run_ray",
    "run_serial",
]

Job = tuple[Any, ...]

#: seconds to wait for a Ray head to accept a connection before calling its address wrong
CONNECT_TIMEOUT = 5.0
_ADDRESS = re.compile(r"(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[^\s:/]+):(?P<port>\d{1,5})")
_CLUSTER_FIX = (
    "Start a cluster with `ray start --head --port=6379` on the head machine and "
    "`ray start --address=HEAD:6379` on each worker, then pass --address HEAD:6379 (or "
    "--address auto on a machine of the cluster); or leave --address out to run on a local "
    "Ray instance of --workers CPUs."
)


class Executor(Protocol):
    """Runs ``fn(*job)`` for every job with up to ``workers`` in parallel (``gpus`` GPUs
    reserved per job where the engine schedules GPUs); yields the results as the jobs
    finish."""

    def __call__(
        self, fn: Callable[..., Any], jobs: Sequence[Job], workers: int, *, gpus: float = 0
    ) -> Iterator[Any]: ...


def run_serial(
    fn: Callable[..., Any], jobs: Sequence[Job], workers: int, *, gpus: float = 0
) -> Iterator[Any]:
    """Run the jobs one after the other in this process (``workers`` and ``gpus`` are
    ignored)."""
    for job in jobs:
        yield fn(*job)


def run_local(
    fn: Callable[..., Any], jobs: Sequence[Job], workers: int, *, gpus: float = 0
) -> Iterator[Any]:
    """Run the jobs in a pool of ``workers`` processes (in this process for one worker or one
    job; every process sees the machine's GPUs, ``gpus`` is ignored). ``fn`` must be
    importable: a module-level function."""
    if workers <= 1 or len(jobs) <= 1:
        yield from run_serial(fn, jobs, workers)
        return
    ctx = mp.get_context("spawn")  # torch and MuJoCo thread pools do not survive fork
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()


def _ray() -> ModuleType:
    """The ``ray`` module.

    Raises:
        ImportError: Ray is not installed (the message names the install).
    """
    try:
        import ray  # optional dependency, imported only by this executor
    except ImportError:
        raise ImportError(
            "executor='ray' (--executor ray) needs Ray: `pip install 'hybridwm[ray]'` (or "
            "`pip install ray`), or use --executor local."
        ) from None
    return ray


def check_address(address: str) -> None:
    """Check that a Ray cluster can be reached at ``address`` (``"auto"``, ``"HOST:PORT"`` or
    ``"ray://HOST:PORT"``) within :data:`CONNECT_TIMEOUT` seconds (``"auto"`` is left to Ray).

    Raises:
        ConfigError: ``address`` is malformed, or nothing accepts a connection there.
    """
    if address == "auto":
        return
    match = _ADDRESS.fullmatch(address.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ConfigError(
            f"--address must be `auto` or HOST:PORT of a Ray head (e.g. 10.0.0.5:6379). Got "
            f"{address!r}. {_CLUSTER_FIX}"
        )
    host = match["host"].strip("[]")
    try:
        with socket.create_connection((host, int(match["port"])), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}). "
            f"{_CLUSTER_FIX}"
        ) from None


def _connect(ray: ModuleType, address: str | None, workers: int) -> None:
    """Connect to the cluster at ``address``, or start a local instance of ``workers`` CPUs."""
    if address is not None:
        check_address(address)
    where: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
    try:
        ray.init(include_dashboard=False, logging_level="warning", **where)
    except ConnectionError as exc:
        raise ConfigError(f"--address {address}: {exc} {_CLUSTER_FIX}") from None


def check_session(executor: str, address: str | None) -> None:
    """Check that ``address`` goes with ``executor`` (only Ray takes a cluster address).

    Raises:
        ConfigError: ``address`` is given for another executor than ``"ray"``.
    """
    if address is not None and executor != "ray":
        raise ConfigError(
            f"--address {address} is for --executor ray (a Ray cluster); the executor is "
            f"{executor!r}. Add --executor ray, or leave --address out."
        )


@contextlib.contextmanager
def executor_session(executor: str, workers: int, address: str | None = None) -> Iterator[None]:
    """Hold what ``executor`` needs while the body runs its jobs.

    For ``"ray"``: connect to the cluster at ``address`` (``"auto"``: the one this machine
    belongs to) or, without one, start a local Ray instance of ``workers`` CPUs; shut it
    down afterwards, unless Ray was connected before (then it is reused and left open).

    Raises:
        ImportError: ``executor`` is ``"ray"`` and Ray is not installed.
        ConfigError: ``address`` is given for another executor, or no cluster answers there.
    """
    check_session(executor, address)
    if executor != "ray":
        yield
        return
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    _connect(ray, address, workers)
    try:
        yield
    finally:
        ray.shutdown()


def run_ray(
    fn: Callable[..., Any], jobs: Sequence[Job], workers: int, *, gpus: float = 0
) -> Iterator[Any]:
    """Run the jobs as Ray tasks of one CPU and ``gpus`` GPUs each (Ray schedules them) on the
    connected cluster, or on a local Ray instance of ``workers`` CPUs started for these jobs
    when none is connected (:func:`executor_session`).

    Raises:
        ImportError: Ray is not installed (the message names the install).
    """
    ray = _ray()
    with executor_session("ray", workers):
        remote = ray.remote(num_cpus=1, num_gpus=gpus)(fn)
        pending = [remote.remote(*job) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])


EXECUTORS: Registry[Executor] = Registry("executor", "`executor`")
EXECUTORS.register("serial", run_serial)
EXECUTORS.register("local", run_local)
EXECUTORS.register("ray", run_ray)
