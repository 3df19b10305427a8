"""Runs of the benchmark: encoders from local files, content-keyed reuse, the reliable-labels run."""

from dataclasses import replace

import numpy as np
import torch

from models.text import SmallBertConfig, build_char_encoder
from pipeline.benchmark.config import MujoSFConfig
from pipeline.benchmark.data import load_slot_data
from pipeline.benchmark.metrics import IGNORE
from pipeline.benchmark.train import VARIANTS, load_predictions, train_variant, training_targets
from tests.benchmark.test_data import _dataset

SHAPE = {"backbone": "swin_tiny_patch4_window7_224", "custom_arch": True, "image_size": 16, "patch_size": 4,
         "window_size": 2, "embed_dim": 8, "depths": (1, 1), "num_heads": (1, 2), "stem": "patch"}


def _local_encoders(tmp_path) -> MujoSFConfig:
    """A saved BERT folder and a saved state dict of the image model, as the paper profile names them."""
    torch.manual_seed(0)
    bert = build_char_encoder(["纯棉真皮鞋材质颜色鞋头", "none"], SmallBertConfig(hidden_size=16, num_hidden_layers=1,
                                                                         num_attention_heads=2, intermediate_size=32))
    bert.save_pretrained(tmp_path / "bert")
    config = MujoSFConfig(**SHAPE, text_encoder=str(tmp_path / "bert"), epochs=1, batch_size=4)
    torch.save(_image_state(config), tmp_path / "swin.pth")
    return replace(config, weights=str(tmp_path / "swin.pth"))


def _image_state(config: MujoSFConfig) -> dict:
    from pipeline.distant.train import backbone_spec

    return backbone_spec(config).create().state_dict()


def test_runs_load_local_encoders_and_a_rerun_reuses_them(tmp_path):
    data = load_slot_data(_dataset(tmp_path), 16, tmp_path / "cache")
    config = _local_encoders(tmp_path)
    first = train_variant(VARIANTS["mujo_sf"], config, data, tmp_path / "models")
    assert not first["reused"] and first["epochs"] == 1 and first["train_instances"] == 4
    predicted = load_predictions(first)
    evaluated = np.concatenate([data.rows("validation"), data.rows("test")])
    assert (predicted["text"][evaluated] != IGNORE).all() and (predicted["text"][data.rows("train")] == IGNORE).all()
    assert predicted["image"].shape == (len(data.frame), len(data.image_slots))
    again = train_variant(VARIANTS["mujo_sf"], config, data, tmp_path / "models")
    assert again["reused"] and again["dir"] == first["dir"]
    other = train_variant(VARIANTS["mujo_sf"], replace(config, lambda_image=0.5), data, tmp_path / "models")
    assert other["dir"] != first["dir"]                    # another λ2: another run
    text_only = load_predictions(train_variant(VARIANTS["text_only"], config, data, tmp_path / "models"))
    assert (text_only["image"] == IGNORE).all() and (text_only["text"][evaluated] != IGNORE).all()


def test_the_reliable_run_drops_image_labels_below_the_threshold_only(tmp_path):
    data = load_slot_data(_dataset(tmp_path), 16, tmp_path / "cache")
    every = training_targets(VARIANTS["image_only"], data, 0.5)
    reliable = training_targets(VARIANTS["image_only_reliable"], data, 0.5)
    assert np.array_equal(every, data.image_targets)
    # colour labels (0.9) stay, toecap labels (0.2) go; slots a category lacks stay IGNORE
    assert np.array_equal(reliable[:, 0], data.image_targets[:, 0])
    assert (reliable[:, 1] == IGNORE).all()
