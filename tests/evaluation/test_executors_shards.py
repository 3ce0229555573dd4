"""Executors and sharded sweeps: a tiny grid gives the same results.json in this process, on a
local Ray instance and split into shards (killed with SIGKILL and run again, then merged);
the split is deterministic; every misuse is a named error."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hybridwm.cli import run
from hybridwm.errors import ConfigError, FormatError
from hybridwm.evaluation import BenchmarkConfig, benchmark
from hybridwm.evaluation.benchmark import run_grid
from hybridwm.evaluation.executors import check_address
from hybridwm.evaluation.merging import collect_run
from hybridwm.evaluation.shards import JobKey, Shard, job_keys

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def tiny(**changes: object) -> BenchmarkConfig:
    """Two seeds of two models on the pendulum, one scenario, a budget of two epochs."""
    base = dict(
        systems=("pendulum",),
        models=("physics", "hybrid"),
        scenarios=("id",),
        seeds=(0, 1),
        n_train=3,
        n_eval=2,
        duration=0.5,
        eval_duration=0.5,
        n_samples=1,
        executor="serial",
        train={"epochs": 2},
        discover={"pendulum": {"angles": ["theta"]}},
    )
    base.update(changes)
    return BenchmarkConfig(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- the split
GRID = dict(systems=("pendulum", "cartpole"), seeds=(3, 0, 11), models=("learned", "physics"))


@pytest.mark.parametrize("count", [1, 2, 3, 5, 12, 13, 40])
def test_every_job_lies_in_exactly_one_shard_of_balanced_sizes(count: int) -> None:
    keys = job_keys(tiny(**GRID))
    assert len(keys) == 12
    shards = [Shard(k, count).select(keys) for k in range(1, count + 1)]
    flat = [key for shard in shards for key in shard]
    assert sorted(flat) == sorted(keys) and len(set(flat)) == len(flat)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def test_the_split_ignores_the_order_of_the_config() -> None:
    reordered = dict(
        systems=("cartpole", "pendulum"), seeds=(11, 3, 0), models=("physics", "learned")
    )
    a, b = job_keys(tiny(**GRID)), job_keys(tiny(**reordered))
    for k in (1, 2, 3):
        assert Shard(k, 3).select(a) == Shard(k, 3).select(b)
    # one (system, seed)'s jobs, which share its data and physics, stay in one shard here
    assert [str(key) for key in Shard(1, 3).select(a)] == [
        "cartpole/seed0/learned",
        "cartpole/seed0/physics",
        "cartpole/seed3/learned",
        "cartpole/seed3/physics",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2", r"--shard must be k/N. Got '2'. Write it as k/N"),
        ("a/b", r"--shard must be k/N"),
        ("0/4", r"k = 0 and N = 4; k must be between 1 and N"),
        ("5/4", r"k = 5 and N = 4"),
        ("1/0", r"k = 1 and N = 0"),
    ],
)
def test_a_bad_shard_is_a_named_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Shard.parse(text)
    assert Shard.parse(" 2 / 4 ") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"


def test_job_keys_read_as_paths() -> None:
    assert str(JobKey("pendulum", 0, "hybrid")) == "pendulum/seed0/hybrid"


# ---------------------------------------------------------------------- kill -9 and merge
@pytest.fixture(scope="module")
def unsharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unsharded")
    benchmark(tiny(), out, progress=False)
    return out


def _jobs(lines: str, what: str) -> set[str]:
    return set(re.findall(rf"^job (\S+): {what}$", lines, flags=re.MULTILINE))


def _finished(out: Path) -> set[str]:
    from hybridwm.evaluation.jobs import finished

    return {str(k) for k in job_keys(tiny()) if finished(out, *k)}


def _kill_at_a_random_point(cfg_file: Path, out: Path, rng: random.Random) -> None:
    """Start shard 1/2 as a CLI process and SIGKILL it once it wrote its first job (and a random
    further delay from ``rng`` up to 0.3 s), or as soon as it ends."""
    argv = [sys.executable, "-c", "from hybridwm.cli import main; main()"]
    argv += ["benchmark", "--config", str(cfg_file)]
    argv += ["--out", str(out), "--shard", "1/2", "--no-progress", "--no-report"]
    # another hash seed than this process's: the split must not depend on it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "4242"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("job ") and line.rstrip().endswith("computed"):
                break
        delay = rng.uniform(0.0, 0.3)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.read()


def test_a_shard_killed_at_a_random_point_reruns_only_its_unfinished_jobs(
    tmp_path: Path, unsharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = tmp_path / "grid.json"
    cfg_file.write_text(json.dumps(tiny().to_dict()))
    first, second = tmp_path / "shard1", tmp_path / "shard2"
    _kill_at_a_random_point(cfg_file, first, random.Random(18))
    mine = {str(k) for k in Shard(1, 2).select(job_keys(tiny()))}
    done = _finished(first)
    assert done and done <= mine  # it wrote its first job, and none of shard 2's
    capsys.readouterr()
    argv = ["benchmark", "--config", str(cfg_file), "--shard", "1/2", "--no-progress"]
    assert run([*argv, "--out", str(first)]) == 0
    log = capsys.readouterr().out
    assert _jobs(log, "done, skipped") == done
    assert _jobs(log, "computed") == mine - done
    # shard 2 writes a directory of its own; --collect merges it into shard 1's
    assert run([*argv[:-2], "2/2", "--no-progress", "--out", str(second)]) == 0
    assert _jobs(capsys.readouterr().out, "computed") == {str(k) for k in job_keys(tiny())} - mine
    assert (
        run(["benchmark", "--collect", "--out", str(first), "--from", str(second), "--no-report"])
        == 0
    )
    want = (unsharded / "results.json").read_bytes()
    assert (first / "results.json").read_bytes() == want
    # or a new directory from both shards
    merged = tmp_path / "merged"
    collect_run(merged, [first, second])
    assert (merged / "results.json").read_bytes() == want


def test_a_second_run_of_a_finished_shard_computes_nothing(unsharded: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    done = run_grid(tiny(), unsharded, shard=Shard(2, 2), progress=False, log=lines.append)
    assert done.computed == [] and len(done.skipped) == 2
    assert lines == [f"job {k}: done, skipped" for k in done.skipped]


def test_collect_names_the_unfinished_jobs(unsharded: Path, tmp_path: Path) -> None:
    half = tmp_path / "half"
    run_grid(tiny(models=("physics",)), half, shard=Shard(1, 2), progress=False)
    with pytest.raises(
        ConfigError, match=r"1 of the 2 jobs are not finished .*pendulum/seed1/physics"
    ):
        collect_run(half)
    with pytest.raises(ConfigError, match=r"different configuration \(fields \['models'\]"):
        collect_run(half, [unsharded])


def test_collect_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FormatError, match=r"--collect found no benchmark in .*--from DIR"):
        collect_run(tmp_path / "nothing")
    with pytest.raises(FormatError, match=r"is not a benchmark run directory: it has no config"):
        collect_run(tmp_path / "new", [tmp_path])
    assert run(["benchmark", "--from", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "--from DIR merges shards and goes with --collect" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- Ray
@pytest.mark.slow  # ~20 s of CPU for Ray's start-up and two workers importing torch
def test_a_tiny_grid_on_a_local_ray_instance_gives_the_same_results(
    unsharded: Path, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    lines: list[str] = []
    path = benchmark(
        tiny(executor="ray", workers=2), tmp_path / "ray", progress=False, log=lines.append
    )
    assert path.read_bytes() == (unsharded / "results.json").read_bytes()
    assert _jobs("\n".join(lines), "computed") == {str(k) for k in job_keys(tiny())}
    assert not ray.is_initialized()  # the instance it started is shut down


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"needs Ray: `pip install 'hybridwm\[ray\]'`"):
        benchmark(tiny(executor="ray"), tmp_path, progress=False)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.0.0.5", r"--address must be `auto` or HOST:PORT of a Ray head .*Got '10.0.0.5'"),
        ("head:99999", r"--address must be `auto` or HOST:PORT"),
        ("http://head:6379", r"--address must be `auto` or HOST:PORT"),
        ("127.0.0.1:{port}", r"no Ray cluster answers there .*`ray start --head --port=6379`"),
    ],
)
def test_a_bad_ray_address_names_the_flag_and_the_fix(address: str, message: str) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match=message):
        check_address(address.format(port=port))


def test_an_address_without_ray_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--address auto is for --executor ray .*'serial'"):
        benchmark(tiny(), tmp_path, progress=False, address="auto")


def test_a_shard_may_resume_with_other_workers(unsharded: Path) -> None:
    done = run_grid(tiny(workers=2, executor="local"), unsharded, shard=Shard(1, 2), progress=False)
    assert done.computed == []
