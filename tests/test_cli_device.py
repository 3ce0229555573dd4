"""``--device`` through fit, rollout, evaluate and benchmark.

Without a GPU only the errors run; the tests marked ``cuda`` (``pytest -m cuda``) fit, roll out,
evaluate and benchmark on CUDA and compare with the CPU's numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridwm.cli import run
from hybridwm.data import read_trajectories, write_trajectories
from hybridwm.evaluation import BenchmarkConfig, benchmark
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

GPU = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="torch sees no CUDA GPU")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("command", ["rollout", "evaluate"])
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu9", r"--device 'tpu9': .*must be a torch device such as 'cpu', 'cuda'"),
        pytest.param(
            "cuda",
            r"--device 'cuda': .*sees no CUDA device",
            marks=pytest.mark.skipif(GPU, reason="a GPU is here"),
        ),
    ],
)
def test_a_device_that_is_not_here_is_a_named_error(
    command: str, device: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--model", str(tmp_path), "--data", str(tmp_path / "d.parquet")]
    argv += ["--device", device] + (
        ["--out", str(tmp_path / "p.parquet")] if command == "rollout" else []
    )
    assert run(argv) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.skipif(GPU, reason="a GPU is here")
def test_benchmark_on_cuda_without_a_gpu_is_a_named_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["benchmark", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "--device 'cuda': " in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- on a GPU
def _tiny_benchmark(device: str) -> BenchmarkConfig:
    return BenchmarkConfig(
        systems=("pendulum",),
        models=("learned", "physics", "hybrid"),
        scenarios=("id",),
        n_train=4,
        n_eval=3,
        duration=0.6,
        eval_duration=0.6,
        executor="serial",
        train={"epochs": 2, "device": device},
        discover={"pendulum": {"angles": ["theta"]}},
    )


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pendulum")
    train = simulate(system="pendulum", n_trajectories=4, duration=0.6, seed=0, progress=False)
    test = simulate(
        system="pendulum", scenario="id", n_trajectories=3, duration=0.6, seed=1, progress=False
    )
    return write_trajectories(train, folder / "train.parquet"), write_trajectories(
        test, folder / "test.parquet"
    )


@pytest.mark.cuda
@needs_gpu
def test_fit_rollout_and_evaluate_on_cuda_match_the_cpu(
    pendulum: tuple[Path, Path], tmp_path: Path
) -> None:
    train_file, test_file = pendulum
    train = read_trajectories(train_file)
    phys = discover(train, config=DiscoverConfig(angles=["theta"]))
    wm = WorldModel.from_kind("hybrid", physics=phys, hidden=(16,))
    wm.fit(train, config=TrainConfig(epochs=2, device="cuda", progress=False, threads=1, seed=0))
    assert all(p.is_cuda for p in wm.model_.parameters())
    wm.save(tmp_path / "model")
    preds = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"pred-{device}.parquet"
        argv = ["rollout", "--model", str(tmp_path / "model"), "--data", str(test_file)]
        assert run([*argv, "--out", str(out), "--device", device]) == 0
        preds[device] = np.concatenate([tr.x for tr in read_trajectories(out)])
        metrics = tmp_path / f"metrics-{device}.json"
        argv = ["evaluate", "--model", str(tmp_path / "model"), "--data", str(test_file)]
        assert run([*argv, "--out", str(metrics), "--device", device]) == 0
    np.testing.assert_allclose(preds["cuda"], preds["cpu"], rtol=1e-4, atol=1e-6)
    on = json.loads((tmp_path / "metrics-cuda.json").read_text())["metrics"]["nrmse"]
    off = json.loads((tmp_path / "metrics-cpu.json").read_text())["metrics"]["nrmse"]
    assert on == pytest.approx(off, rel=1e-3)


@pytest.mark.cuda
@needs_gpu
def test_the_benchmark_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    numbers = {}
    for device in ("cuda", "cpu"):
        path = benchmark(_tiny_benchmark(device), tmp_path / device, progress=False)
        rows = json.loads(path.read_text())["metrics"]
        numbers[device] = {
            (r["model"], r["metric"]): r["value"] for r in rows if r["metric"] == "nrmse"
        }
    assert numbers["cuda"].keys() == numbers["cpu"].keys()
    for key, value in numbers["cpu"].items():
        assert numbers["cuda"][key] == pytest.approx(value, rel=1e-3, abs=1e-6), key
    model = WorldModel.load(
        tmp_path / "cuda" / "jobs" / "pendulum" / "seed0" / "models" / "hybrid", device="cuda"
    )
    assert all(p.is_cuda for p in model.model_.parameters())


@pytest.mark.cuda
@needs_gpu
def test_the_benchmark_cli_takes_device_cuda(tmp_path: Path) -> None:
    cfg = tmp_path / "grid.json"
    cfg.write_text(json.dumps(_tiny_benchmark("cpu").to_dict()))
    argv = ["benchmark", "--config", str(cfg), "--device", "cuda", "--out", str(tmp_path / "run")]
    assert run([*argv, "--no-progress", "--no-report"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["device"] == "cuda"
