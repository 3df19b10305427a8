"""A source's classifiers trained under ``torchrun``: the classifier assets' ``processes > 1``.

The asset's own process first reads the source (decoding and extracting into the caches), so
the ranks only read caches; then it runs

    python -m torch.distributed.run --standalone --nproc_per_node N -m pipeline.distant.torchrun ARGS.json

Every rank runs :func:`pipeline.distant.strategies.train_source`, whose training loop
(:func:`models.training.fit`) wraps the model in DistributedDataParallel (gloo on CPU, NCCL with
one GPU per rank), gives each rank its part of every batch and sums the metrics across ranks.
Every rank ends with the same weights; rank 0 alone writes checkpoints, models and the source's
record, where a one-process run would. The ranks share the machine's cores: each gets
``cores // N`` threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from pipeline.distant.config import ClassifierConfig
from pipeline.saliency.config import RegionConfig


def command(processes: int, args_file: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "pipeline.distant.torchrun", str(args_file)]


def train_source_torchrun(source: str, table_path: Path, config: ClassifierConfig, models_dir: Path,
                          cache_dir: Path, backbone: RegionConfig | None = None) -> dict:
    """:func:`train_source` over ``config.processes`` ranks; returns rank 0's record."""
    from pipeline.distant.strategies import source_data

    source_data(pd.read_parquet(table_path), config, cache_dir, backbone)      # the ranks find every cache filled
    with tempfile.TemporaryDirectory(prefix=f"mavp-torchrun-{source}-") as scratch:
        args = {"source": source, "table": str(table_path), "config": asdict(config), "models_dir": str(models_dir),
                "cache_dir": str(cache_dir), "backbone": asdict(backbone) if backbone else None,
                "record": str(Path(scratch) / "record.json")}
        args_file = Path(scratch) / "args.json"
        args_file.write_text(json.dumps(args), encoding="utf-8")
        threads = max(1, (os.cpu_count() or 1) // config.processes)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(command(config.processes, args_file), env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"torchrun ({config.processes} processes) failed with exit code {done.returncode}:\n"
                               + (done.stderr or done.stdout)[-4000:])
        return json.loads(Path(args["record"]).read_text(encoding="utf-8"))


def main(args_file: str) -> None:
    import torch

    from models.training import distributed
    from pipeline.distant.strategies import train_source
    from pipeline.sources.registry import source

    args = json.loads(Path(args_file).read_text(encoding="utf-8"))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rank, _ = distributed()
    settings = source(args["source"]).training
    config = settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in args["config"].items()})
    backbone = RegionConfig(**args["backbone"]) if args["backbone"] else None
    record = train_source(args["source"], pd.read_parquet(args["table"]), config, Path(args["models_dir"]),
                          Path(args["cache_dir"]), backbone)
    if rank == 0:
        Path(args["record"]).write_text(json.dumps(record), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
