"""Region features U (l x d_U) of product images, one interface for every extractor.

* :class:`FasterRCNNRegions`: torchvision Faster R-CNN; the top-l detections' RoI-pooled box-head
  features (the paper's bottom-up features), weights from a local state-dict file.
* :class:`GridRegions`: the cells of a backbone's last feature map (the fast default).

Precomputed arrays (MEPAVE's ``imgs.embedded*.npy``) need no extractor; the pipeline reads
them straight into the same (l, d_U) shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
import torchvision
from torch import nn

from models.backbones import to_tensor_batch


class RegionExtractor(Protocol):
    """Maps uint8 HWC RGB images to one float32 (l, d_U) array each."""

    dim: int

    def config(self) -> dict: ...

    def extract(self, images: Sequence[np.ndarray]) -> list[np.ndarray]: ...


@dataclass
class GridRegions:
    """Every cell of the backbone's last feature map is a region: l = h * w."""

    backbone: nn.Module
    image_size: int = 64
    batch_size: int = 64
    weights_id: str = "random"          # what the backbone's weights are (hash of a checkpoint)
    name: str = "grid"

    @property
    def dim(self) -> int:
        return self.backbone.out_channels

    def config(self) -> dict:
        return {"kind": self.name, "image_size": self.image_size, "weights": self.weights_id,
                "dim": self.dim}

    @torch.no_grad()
    def extract(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.backbone.eval()
        out: list[np.ndarray] = []
        for i in range(0, len(images), self.batch_size):
            fmap = self.backbone(to_tensor_batch(list(images[i:i + self.batch_size]), self.image_size))
            cells = fmap.flatten(2).transpose(1, 2)            # (B, h*w, C)
            out.extend(c.numpy().astype(np.float32) for c in cells)
        return out


@dataclass
class FasterRCNNRegions:
    """Top-l detections of a torchvision Faster R-CNN, each as its box-head feature (1024-d).

    When the detector keeps fewer than ``top_l`` boxes (a weak or random model, a plain
    product shot), the highest-objectness RPN proposals fill the rest, so U always has l rows.
    """

    variant: str = "fasterrcnn_resnet50_fpn"
    weights: Path | str | None = None
    top_l: int = 10
    min_size: int = 800
    max_size: int = 1333
    box_score_thresh: float = 0.05
    weights_id: str = "random"
    model: nn.Module = field(init=False, repr=False)

    def __post_init__(self) -> None:
        num_classes = 91
        state = None
        if self.weights is not None:
            state = torch.load(Path(self.weights), map_location="cpu", weights_only=True)
            num_classes = int(state["roi_heads.box_predictor.cls_score.weight"].shape[0])
        self.model = torchvision.models.get_model(
            self.variant, weights=None, weights_backbone=None, num_classes=num_classes,
            min_size=self.min_size, max_size=self.max_size, box_score_thresh=self.box_score_thresh)
        if state is not None:
            self.model.load_state_dict(state)
        self.model.eval()

    @property
    def dim(self) -> int:
        return int(self.model.roi_heads.box_predictor.cls_score.in_features)

    def config(self) -> dict:
        return {"kind": "faster_rcnn", "variant": self.variant, "weights": self.weights_id,
                "top_l": self.top_l, "min_size": self.min_size, "max_size": self.max_size,
                "box_score_thresh": self.box_score_thresh}

    @torch.no_grad()
    def extract(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        m = self.model
        tensors = [torch.tensor(im).permute(2, 0, 1).float() / 255.0 for im in images]
        batch, _ = m.transform(tensors)
        features = m.backbone(batch.tensors)
        proposals, _ = m.rpn(batch, features)
        detections, _ = m.roi_heads(features, proposals, batch.image_sizes)
        boxes = []
        for det, props in zip(detections, proposals):
            chosen = det["boxes"][: self.top_l]
            if len(chosen) < self.top_l:          # proposals come sorted by objectness
                chosen = torch.cat([chosen, props[: self.top_l - len(chosen)]])
            boxes.append(chosen)
        pooled = m.roi_heads.box_roi_pool(features, boxes, batch.image_sizes)
        feats = m.roi_heads.box_head(pooled)
        return [f.numpy().astype(np.float32) for f in feats.split([len(b) for b in boxes])]


def save_faster_rcnn(path: Path | str, variant: str = "fasterrcnn_resnet50_fpn", num_classes: int = 91,
                     seed: int = 0) -> Path:
    """Write a randomly initialised detector's state dict (tests, and a template to fill)."""
    torch.manual_seed(seed)
    model = torchvision.models.get_model(variant, weights=None, weights_backbone=None,
                                         num_classes=num_classes)
    path = Path(path)
    torch.save(model.state_dict(), path)
    return path

