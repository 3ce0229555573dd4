"""RunConfig checks its seed and device when built (issue 19): a named error, not a traceback."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from hybridwm.errors import ConfigError
from hybridwm.training import TrainConfig


def test_negative_seed_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"RunConfig.seed must be greater than or equal to 0"):
        TrainConfig(seed=-1)


def test_unknown_device_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"device must be a torch device such as 'cpu'.*'nope'"):
        TrainConfig(device="nope")
    assert TrainConfig(device="cpu").device == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_without_cuda_says_how_to_fix(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"'cuda'.*no CUDA device.*install a CUDA build"):
        TrainConfig(device="cuda")
    with pytest.raises(ConfigError, match=r"'cuda:1'"):
        TrainConfig(device="cuda:1")
    # the record of a run on a GPU still reads on a CPU-only machine
    path = tmp_path / "train_config.json"
    path.write_text('{"run": {"device": "cuda"}}')
    assert TrainConfig.from_record(path).device == "cuda"
    with pytest.raises(ConfigError, match=r"'cuda'"):
        TrainConfig.from_file(path)


def test_a_checkpoint_on_a_full_disk_is_a_named_error_and_keeps_the_last_one(
    tmp_path, monkeypatch
) -> None:
    from hybridwm.errors import OutputError
    from hybridwm.training.checkpoint import save_checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint(path, {"version": 3, "w": torch.ones(3)})
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"No space left on device"):
        save_checkpoint(path, {"version": 3, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
