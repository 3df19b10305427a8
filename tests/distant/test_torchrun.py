"""A classifier asset's ``processes: 2``: the source trained under torchrun (2 CPU processes,
gloo) gives the models one process gives, and only rank 0 writes."""

import dataclasses

import pytest
import torch

from models.attributes import load_classifier
from pipeline.distant.config import IFashionTraining
from pipeline.distant.strategies import train_source
from pipeline.distant.torchrun import train_source_torchrun


def config(**kw):
    # one model (single-label colour); batch 16 splits evenly over 2 ranks; the probe has no
    # dropout, so one process and two see the same batches and the same gradients
    return IFashionTraining(**{"kind": "grid_probe", "pool": 1, "epochs": 6, "batch_size": 16, "lr": 1e-2,
                               "patience": None, "decode_workers": 1, "tasks": ("color",),
                               "strategies": ("single_label",), **kw})


def test_two_torchrun_processes_train_the_one_process_model(tiny_source, tmp_path, backbone, monkeypatch):
    table = tmp_path / "records.parquet"
    tiny_source.to_parquet(table)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = train_source("ifashion", tiny_source, config(), tmp_path / "models", tmp_path / "cache", backbone)
    two = train_source_torchrun("ifashion", table, config(processes=2), tmp_path / "models", tmp_path / "cache",
                                backbone)
    assert two["config"]["processes"] == 2 and two["key"] != one["key"]          # its own folder
    a, _ = load_classifier(one["models"][0]["path"])
    b, _ = load_classifier(two["models"][0]["path"])
    # float summation order is all that differs (the 2-process loop test measures it below 1e-6)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-4), (name, (x - y).abs().max())
    assert [h["val_score"] for h in one["models"][0]["history"]] == pytest.approx(
        [h["val_score"] for h in two["models"][0]["history"]], abs=1e-6)
    # rank 0 alone wrote: one model file, one record, no stray temporary files
    folder = tmp_path / "models" / "ifashion" / two["key"]
    assert sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name.startswith(".")) == []
    again = train_source_torchrun("ifashion", table, config(processes=2), tmp_path / "models", tmp_path / "cache",
                                  backbone)
    assert again["reused"]


def test_processes_must_be_positive():
    with pytest.raises(ValueError, match="processes"):
        dataclasses.replace(config(), processes=0)
