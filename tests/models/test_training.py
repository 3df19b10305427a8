"""The shared training loop: resume from a checkpoint gives the same weights."""

import dataclasses

import numpy as np
import torch
from torch import nn

from models.training import TrainConfig, fit, warmup_cosine

X = torch.randn(96, 5, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] + X[:, 1] > 0).long()


def make_model() -> nn.Module:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def epoch_batches(epoch: int):
    order = np.random.default_rng([0, epoch]).permutation(len(X))
    return [{"x": X[order[i:i + 16]], "y": Y[order[i:i + 16]]} for i in range(0, len(X), 16)]


def loss_fn(model, batch):
    return nn.functional.cross_entropy(model(batch["x"]), batch["y"])


def accuracy(model):
    return float((model(X).argmax(-1) == Y).float().mean())


CONFIG = TrainConfig(epochs=6, lr=1e-2, seed=3, device="cpu")


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    straight = make_model()
    fit(straight, epoch_batches, loss_fn, CONFIG, evaluate=accuracy, checkpoint_dir=tmp_path / "a")

    resumed = make_model()
    first = fit(resumed, epoch_batches, loss_fn, CONFIG, evaluate=accuracy, checkpoint_dir=tmp_path / "b",
                stop_after_epochs=2)
    assert first.epochs_run == 2
    resumed = make_model()                              # a fresh process: new model, same checkpoint dir
    second = fit(resumed, epoch_batches, loss_fn, CONFIG, evaluate=accuracy, checkpoint_dir=tmp_path / "b")
    assert second.resumed_from == 1 and second.epochs_run == 6
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_training_learns_and_early_stopping_keeps_the_best():
    model = make_model()
    result = fit(model, epoch_batches, loss_fn, TrainConfig(epochs=30, lr=1e-2, patience=3, device="cpu"),
                 evaluate=accuracy)
    assert result.best_score is not None and result.best_score > 0.9
    assert accuracy(model) == result.best_score
    assert result.epochs_run <= 30


def test_warmup_then_cosine():
    f = warmup_cosine(100, 0.1)
    assert f(0) == 0.1 and f(9) == 1.0
    assert 0.49 < f(55) < 0.51 and f(99) < 0.01


class RecordingMeter:
    def __init__(self, total):
        self.total, self.done, self.postfix, self.closed = total, 0, {}, 0

    def update(self, n=1, **postfix):
        self.done += n
        self.postfix.update(postfix)

    def close(self):
        self.closed += 1


def test_progress_counts_the_steps_left_and_changes_no_weight(tmp_path):
    meters = []

    def progress(total):
        meters.append(RecordingMeter(total))
        return meters[-1]

    config = dataclasses.replace(CONFIG, epochs=3)
    plain, reported = make_model(), make_model()
    fit(plain, epoch_batches, loss_fn, config, evaluate=accuracy)
    result = fit(reported, epoch_batches, loss_fn, config, evaluate=accuracy, progress=progress)
    for a, b in zip(plain.state_dict().values(), reported.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    meter = meters[0]
    assert meter.total == meter.done == 3 * 6 and meter.closed == 1
    last = result.history[-1]
    assert meter.postfix == {"epoch": "3/3", "loss": last["train_loss"], "val": last["val_score"]}

    resumed = make_model()
    fit(resumed, epoch_batches, loss_fn, config, checkpoint_dir=tmp_path, stop_after_epochs=1, progress=progress)
    fit(resumed, epoch_batches, loss_fn, config, checkpoint_dir=tmp_path, progress=progress)
    assert [(m.total, m.done) for m in meters[1:]] == [(18, 6), (12, 12)]     # a resumed run counts what is left
