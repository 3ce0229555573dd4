"""``python -m hybridwm.datasets export NAME --out DIR``: write a shipped benchmark's official
splits as trajectory files (``DIR/<split>.parquet``), the input of ``hybridwm fit --data``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from hybridwm.datasets import DATASETS, load_dataset

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Export every split of a dataset (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m hybridwm.datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write every official split as a trajectory file")
    export.add_argument("name", choices=DATASETS.names())
    export.add_argument("--out", type=Path, required=True, help="folder for <split>.parquet")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.name)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, data in dataset.splits.items():
        path = data.write(args.out / f"{split}.parquet")
        print(f"{split}: {data.n_samples} samples -> {path}")


if __name__ == "__main__":
    main()
