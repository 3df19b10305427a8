"""Trains a small classifier with models.training.fit and saves its weights: run as a plain
process or under ``torchrun --nproc_per_node 2`` (tests/models/test_distributed.py)."""

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.training import Batches, TrainConfig, distributed, fit


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(0, 1, (200, 12)).astype(np.float32))     # 200: a last batch of 8, 4 a rank
    y = torch.from_numpy((x[:, 0] + x[:, 1] > 0).long().numpy())
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 2))

    def epoch_batches(epoch: int) -> Batches:
        order = np.random.default_rng([0, epoch]).permutation(len(x))
        return Batches(order, 32, lambda idx: {"x": x[torch.from_numpy(idx)], "y": y[torch.from_numpy(idx)]})

    def loss_fn(m: nn.Module, b: dict) -> torch.Tensor:
        return nn.functional.cross_entropy(m(b["x"]), b["y"])

    def evaluate(m: nn.Module) -> float:
        return float((m(x).argmax(1) == y).float().mean())

    result = fit(model, epoch_batches, loss_fn, TrainConfig(epochs=4, lr=1e-2, device="cpu"), evaluate=evaluate,
                 checkpoint_dir=out / "checkpoints")
    rank, world = distributed()
    if rank == 0:
        torch.save({"state": model.state_dict(), "world": world, "history": result.history}, out / "model.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
