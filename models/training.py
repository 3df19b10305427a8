"""The one training loop every model here shares.

AdamW, a linear warm-up then cosine decay per step, optional gradient clipping, mixed
precision on a GPU, early stopping on a validation score, a checkpoint after every epoch and
resume from the last one. The batch order of an epoch comes from ``(seed, epoch)`` and the
torch RNG state is checkpointed, so a resumed run ends with the same weights as an
uninterrupted one. A caller may pass a ``progress`` meter for the steps (the pipeline's
``pipeline.progress.training_progress``); this module only calls it.

Under ``torchrun --nproc_per_node N`` the same loop is data-parallel: the model is wrapped in
DistributedDataParallel (gloo on CPUs, NCCL on GPUs), each rank takes its part of every batch
(:meth:`Batches.shard`), the loss and example counts are summed across ranks, and only rank 0
writes checkpoints. A run with N processes then takes the one-process steps.
"""

from __future__ import annotations

import copy
import math
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence, Sized

import numpy as np
import torch
from torch import nn

Batch = Mapping[str, torch.Tensor]
LAST_CHECKPOINT = "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    grad_clip: float | None = 1.0
    patience: int | None = None         # epochs without a better validation score; None: off
    seed: int = 0
    device: str = "auto"                # "auto": cuda when available
    mixed_precision: bool = True        # used on cuda only


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    best_score: float | None
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    examples_per_second: float = 0.0
    resumed_from: int | None = None


class Progress(Protocol):
    """What :func:`fit` reports its steps to: ``update(n, **postfix)`` after each step (the
    postfix holds the epoch, the epoch's running loss and the last validation score) and
    ``close()`` at the end."""

    def update(self, n: int = 1, **postfix: object) -> None: ...

    def close(self) -> None: ...


class _NoProgress:
    def update(self, n: int = 1, **postfix: object) -> None:
        pass

    def close(self) -> None:
        pass


class Batches(Sequence):
    """An epoch's batches, built one at a time when read: ``make(indices)`` for each chunk of
    ``order``. Its length is known without building anything, so an epoch's tensors are never
    all in memory at once and asking for the step count costs nothing."""

    def __init__(self, order: np.ndarray, batch_size: int, make: Callable[[np.ndarray], Batch]):
        self.chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        self.make = make

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> Batch:
        return self.make(self.chunks[i])

    def shard(self, rank: int, world: int) -> "Batches":
        """This rank's part of every batch (``chunk[rank::world]``), so that ``world`` processes
        together take the same batches as one: with gradients averaged across them (DDP) a step
        is the one-process step. A last batch too small to give every rank a row is left out on
        every rank, so that all ranks take the same number of steps."""
        out = Batches(np.zeros(0, int), 1, self.make)
        out.chunks = [c[rank::world] for c in self.chunks if len(c) >= world]
        return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_device(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def warmup_cosine(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """LR multiplier: linear from ~0 to 1 over the warm-up, then cosine down to 0."""
    warmup = max(1, int(round(total_steps * warmup_fraction))) if warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def distributed() -> tuple[int, int]:
    """``(rank, world size)``; under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is made
    on first use: NCCL on GPUs, gloo on CPUs. ``(0, 1)`` in a plain process."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _summed(values: list[float], world: int) -> list[float]:
    """``values`` summed over the ranks."""
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def is_main_process() -> bool:
    """Rank 0, or a plain process: the one that writes checkpoints and results."""
    return distributed()[0] == 0


def atomic_save(obj: object, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fit(model: nn.Module,
        epoch_batches: Callable[[int], Iterable[Batch] | Sized],
        loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
        config: TrainConfig,
        evaluate: Callable[[nn.Module], float] | None = None,
        checkpoint_dir: Path | str | None = None,
        stop_after_epochs: int | None = None,
        progress: Callable[[int], Progress] | None = None) -> TrainResult:
    """Train ``model`` in place and leave the best (or last) weights in it.

    ``epoch_batches(epoch)`` returns that epoch's batches (dicts of tensors, a sized
    sequence); ``loss_fn(model, batch)`` the scalar loss; ``evaluate(model)`` a validation
    score, higher is better. With ``checkpoint_dir`` every epoch is saved and a run finds and
    continues the last checkpoint there. ``stop_after_epochs`` ends the call early, as an
    interruption would (for resume tests and time-boxed runs). ``progress(total_steps)``, when
    given, makes the meter this run's steps are counted on (a resumed run counts what is left).
    """
    rank, world = distributed()
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    model.to(device)
    if world > 1:                           # each rank takes its part of every batch; DDP averages the gradients
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        whole = epoch_batches
        epoch_batches = lambda epoch: whole(epoch).shard(rank, world)   # noqa: E731
    else:
        train_model = model
    use_amp = config.mixed_precision and device.type == "cuda"
    steps_per_epoch = len(epoch_batches(0))
    total_steps = max(1, steps_per_epoch * config.epochs)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, config.warmup_fraction))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    result = TrainResult(epochs_run=0, best_epoch=-1, best_score=None)
    best_state: dict | None = None
    start_epoch = 0
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        last = ckpt_dir / LAST_CHECKPOINT
        if last.exists():
            state = torch.load(last, map_location="cpu", weights_only=False)
            if state.get("config") == asdict(config):
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                scaler.load_state_dict(state["scaler"])
                torch.set_rng_state(state["torch_rng"])
                best_state = state["best_model"]
                result = TrainResult(**state["result"])
                start_epoch = state["epoch"] + 1
                result.resumed_from = state["epoch"]
    if start_epoch == 0:
        seed_everything(config.seed)

    t0 = time.perf_counter()
    examples, train_seconds = 0, 0.0       # throughput counts the training steps, not validation
    stale = 0 if result.best_epoch < 0 else result.epochs_run - 1 - result.best_epoch
    meter = progress(steps_per_epoch * max(0, config.epochs - start_epoch)) if progress else _NoProgress()
    try:
        for epoch in range(start_epoch, config.epochs):
            if config.patience is not None and stale >= config.patience:
                meter.update(0, stopped="early")
                break
            model.train()
            total, n = 0.0, 0
            t_epoch = time.perf_counter()
            for batch in epoch_batches(epoch):
                batch = to_device(batch, device)
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    loss = loss_fn(train_model, batch)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                size = len(next(iter(batch.values())))
                total += float(loss.detach()) * size
                n += size
                meter.update(1, epoch=f"{epoch + 1}/{config.epochs}", loss=total / max(1, n))
            total, n = _summed([total, n], world)
            examples += int(n)
            train_seconds += time.perf_counter() - t_epoch
            record = {"epoch": epoch, "train_loss": total / max(1, n)}
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    score = float(evaluate(model))
                record["val_score"] = score
                meter.update(0, val=score)
                if result.best_score is None or score > result.best_score:
                    result.best_score, result.best_epoch, stale = score, epoch, 0
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                else:
                    stale += 1
            else:
                result.best_epoch = epoch
            result.history.append(record)
            result.epochs_run = epoch + 1
            if ckpt_dir is not None and rank == 0:
                atomic_save({"epoch": epoch, "config": asdict(config), "model": model.state_dict(),
                              "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                              "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                              "best_model": best_state, "result": asdict(result)}, ckpt_dir / LAST_CHECKPOINT)
            if world > 1 and ckpt_dir is not None:
                import torch.distributed as dist

                dist.barrier()                  # no rank reads a checkpoint rank 0 is still writing
            if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
                break
    finally:
        meter.close()
    result.seconds += time.perf_counter() - t0
    result.examples_per_second = examples / max(1e-9, train_seconds)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
