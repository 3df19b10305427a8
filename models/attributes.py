"""Attribute classifiers: one timm backbone (Swin by default), one linear head per task.

A task is single-label (softmax cross-entropy over its classes) or multi-label (a sigmoid and
binary cross-entropy per class). Targets come as a multi-hot matrix per task plus a mask of the
rows that carry a label for that task, so one batch can mix images labelled for different
tasks (FashionAI's images each belong to one task) and each head learns only from its rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import math

import timm
import torch
from timm.layers import PatchEmbed
from torch import nn

from models.backbones import load_fitting, read_state
from models.training import atomic_save


@dataclass(frozen=True)
class TaskHead:
    name: str
    classes: tuple[str, ...]
    multi_label: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class ConvStemPatchEmbed(PatchEmbed):
    """Patch embedding by stride-2 3x3 convolutions (BatchNorm, ReLU; log2(patch) of them, the
    last one linear) instead of one patch-sized convolution. An early convolutional stem gives a
    vision transformer trained from scratch on little data the locality prior it lacks, and
    makes it train faster and generalise better (Xiao et al., "Early convolutions help
    transformers see better", NeurIPS 2021); the transformer stages are unchanged."""

    def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96, norm_layer=None, **kwargs):
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
                         norm_layer=norm_layer, **kwargs)
        steps = int(math.log2(patch_size))
        if 2 ** steps != patch_size or steps < 1:
            raise ValueError(f"a convolutional stem needs a power-of-two patch size, got {patch_size}")
        layers: list[nn.Module] = []
        c_in = in_chans
        for i in range(steps):
            c_out = embed_dim if i == steps - 1 else max(16, embed_dim // 2 ** (steps - 1 - i))
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=i == steps - 1))
            if i < steps - 1:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.proj = nn.Sequential(*layers)


STEMS = {"patch": PatchEmbed, "conv": ConvStemPatchEmbed}


@dataclass(frozen=True)
class BackboneSpec:
    """A timm model name and the keyword arguments that shape it (empty: the name's defaults).
    ``stem: conv`` swaps a Swin/ViT-style patch embedding for :class:`ConvStemPatchEmbed`."""

    name: str = "swin_tiny_patch4_window7_224"
    kwargs: tuple[tuple[str, object], ...] = ()
    drop_rate: float = 0.0
    stem: str = "patch"

    def create(self) -> nn.Module:
        extra = {"embed_layer": STEMS[self.stem]} if self.stem != "patch" else {}
        return timm.create_model(self.name, pretrained=False, num_classes=0, drop_rate=self.drop_rate,
                                 **dict(self.kwargs), **extra)


class AttributeClassifier(nn.Module):
    """Pooled backbone features -> logits per task."""

    def __init__(self, backbone: BackboneSpec, heads: Sequence[TaskHead]):
        super().__init__()
        self.spec = backbone
        self.task_heads = tuple(heads)
        self.backbone = backbone.create()
        self.heads = nn.ModuleDict({h.name: nn.Linear(self.backbone.num_features, h.num_classes) for h in heads})

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled backbone features the heads read."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.embed(x)
        return {name: head(features) for name, head in self.heads.items()}

    def describe(self) -> dict:
        """What rebuilds this module (saved beside its weights)."""
        return {"backbone": {"name": self.spec.name, "kwargs": [list(kv) for kv in self.spec.kwargs],
                             "drop_rate": self.spec.drop_rate, "stem": self.spec.stem},
                "heads": [asdict(h) for h in self.task_heads]}


def build_attribute_classifier(backbone: BackboneSpec, heads: Sequence[TaskHead],
                               pretrained: Path | str | None = None) -> AttributeClassifier:
    """The classifier with random heads; the backbone from ``pretrained`` (a local state dict
    of the bare timm model, e.g. ImageNet weights saved offline) when given."""
    model = AttributeClassifier(backbone, heads)
    if pretrained:
        load_fitting(model.backbone, read_state(pretrained), pretrained)
    return model


def task_loss(logits: torch.Tensor, targets: torch.Tensor, has_label: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Mean loss over the rows labelled for this task (0 when none is)."""
    if not bool(has_label.any()):
        return logits.sum() * 0.0
    logits, targets = logits[has_label], targets[has_label]
    if multi_label:
        return nn.functional.binary_cross_entropy_with_logits(logits, targets)
    return nn.functional.cross_entropy(logits, targets.argmax(dim=1))


def multitask_loss(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor],
                   heads: Sequence[TaskHead]) -> torch.Tensor:
    """Mean over the batch's labelled (image, task) pairs: each task's mean loss weighted by its
    share of the pairs. With images that each carry one task (FashionAI) a plain sum of task
    means would let a task with one image in the batch weigh as much as one with thirty."""
    counts = [batch[f"has:{h.name}"].sum() for h in heads]
    total = torch.clamp(sum(counts), min=1)
    return sum(task_loss(outputs[h.name], batch[f"y:{h.name}"], batch[f"has:{h.name}"], h.multi_label) * (n / total)
               for h, n in zip(heads, counts))


def top1_hits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether the highest-scoring class is one of the true labels, per row. For a single-label
    task this is accuracy; for a multi-label task it scores the one value labeling emits."""
    return targets.gather(1, logits.argmax(dim=1, keepdim=True)).squeeze(1) > 0


def probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def save_classifier(model: nn.Module, path: Path | str, extra: Mapping | None = None) -> None:
    """Weights plus what rebuilds the module, in one file (written atomically)."""
    atomic_save({"describe": model.describe(), "state_dict": model.state_dict(), "extra": dict(extra or {})}, Path(path))


def load_classifier(path: Path | str) -> tuple[nn.Module, dict]:
    """A classifier saved by :func:`save_classifier` (an :class:`AttributeClassifier` or a
    :class:`models.probe.GridProbe`), in eval mode, and its ``extra``."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=False)
    if saved["describe"].get("kind") == "grid_probe":
        from models.probe import probe_from_description

        model = probe_from_description(saved["describe"])
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["extra"]
    spec = saved["describe"]["backbone"]
    backbone = BackboneSpec(spec["name"], tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in spec["kwargs"]),
                            spec["drop_rate"], spec.get("stem", "patch"))
    heads = [TaskHead(h["name"], tuple(h["classes"]), h["multi_label"]) for h in saved["describe"]["heads"]]
    model = AttributeClassifier(backbone, heads)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved["extra"]
