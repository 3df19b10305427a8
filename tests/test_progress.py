"""Progress meters: throttled log lines with counts, rate and ETA, a final line, a tqdm bar
where asked for; and the long steps that report on them."""

import logging

import pytest
import torch
from torch import nn

from models.training import TrainConfig, fit
from pipeline.progress import LOGGER_NAME, Progress, bar_wanted, clock_text, track, training_progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME and r.levelno == logging.INFO]


@pytest.fixture
def caplog_info(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    return caplog


def test_lines_at_the_interval_with_counts_rate_and_eta_then_a_final_line(caplog_info):
    clock = FakeClock()
    with Progress("decoding images", 100, "image", interval=10, bar=False, clock=clock) as progress:
        for _ in range(12):                   # 8 images every 2 s
            clock.now += 2
            progress.update(8)
    assert progress_lines(caplog_info) == [
        "decoding images: 40/100 (40%), 4.0 image/s, ETA 00:15",        # t = 10 s
        "decoding images: 80/100 (80%), 4.0 image/s, ETA 00:05",        # t = 20 s
        "decoding images: 96/100 (96%), 4.0 image/s, took 00:24",       # closed
    ]


def test_postfix_long_etas_and_nothing_for_silent_or_empty_meters(caplog_info):
    clock = FakeClock()
    progress = Progress("training", 10_000, "step", interval=5, bar=False, clock=clock)
    clock.now += 5
    progress.update(1, epoch="1/3", loss=0.123456)
    progress.update(0, val=0.5)                                      # under the interval: no line
    progress.close()
    progress.close()                                                 # once only
    assert progress_lines(caplog_info) == [
        "training: 1/10000 (0%), 0.2 step/s, ETA 13:53:15, epoch 1/3, loss 0.1235",
        "training: 1/10000 (0%), 0.2 step/s, took 00:05, epoch 1/3, loss 0.1235, val 0.5",
    ]
    assert clock_text(59.4) == "00:59" and clock_text(3600) == "1:00:00"
    caplog_info.clear()
    with Progress(None, 10, interval=0, clock=clock) as silent:
        silent.update(10)
    with Progress("nothing to do", 0, interval=0, bar=False, clock=clock):
        pass
    assert progress_lines(caplog_info) == []


def test_track_counts_chunks_and_the_bar_is_drawn_when_asked(caplog_info, capsys, monkeypatch):
    chunks = [[1, 2, 3], [4, 5], [6]]
    items = [x for chunk in track(chunks, "chunks", 6, "item", count=len, interval=0, bar=True) for x in chunk]
    assert items == [1, 2, 3, 4, 5, 6]
    lines = progress_lines(caplog_info)
    assert [line.split(",")[0] for line in lines] == ["chunks: 3/6 (50%)", "chunks: 5/6 (83%)", "chunks: 6/6 (100%)",
                                                     "chunks: 6/6 (100%)"]
    assert "took" in lines[-1]
    assert "chunks: 100%" in capsys.readouterr().err                  # tqdm's bar on stderr
    monkeypatch.setenv("MAVP_PROGRESS_BAR", "1")
    assert bar_wanted()
    monkeypatch.setenv("MAVP_PROGRESS_BAR", "0")
    assert not bar_wanted()
    monkeypatch.delenv("MAVP_PROGRESS_BAR")
    assert not bar_wanted()                                           # pytest's stderr is no terminal


def test_training_reports_steps_epoch_loss_and_validation(caplog_info):
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(4, 2)

    def epoch_batches(epoch):
        return [{"x": x[i:i + 8], "y": y[i:i + 8]} for i in range(0, 32, 8)]

    fit(model, epoch_batches, lambda m, b: nn.functional.cross_entropy(m(b["x"]), b["y"]),
        TrainConfig(epochs=3, lr=1e-2, device="cpu"), evaluate=lambda m: 0.75,
        progress=training_progress("training tiny", interval=0))
    lines = progress_lines(caplog_info)
    assert len(lines) == 3 * 4 + 3 + 1                   # every step and validation (interval 0), final
    assert lines[0].startswith("training tiny: 1/12 (8%), ") and "ETA" in lines[0] and "epoch 1/3, loss " in lines[0]
    assert lines[-1].startswith("training tiny: 12/12 (100%), ") and "took" in lines[-1]
    assert "epoch 3/3" in lines[-1] and lines[-1].endswith("val 0.75")

