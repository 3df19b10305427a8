"""Settings of the distant-supervision classifiers, as plain dataclasses (no torch import), so
the Dagster layer builds its run-config classes from them and every default lives here.

The defaults are the ``sample`` profile's: ``kind: grid_probe``, linear heads over the frozen
region backbone's pooled grid features (EfficientNet-Lite0 with ImageNet weights, 192 px; see
:mod:`models.probe`), trained on an augmented view of each training image. ``kind: finetune``
trains a whole timm model on pixels: by default a small Swin (``swin_tiny_patch4_window7_224``
reshaped to 48 px, embedding 32, depths 1-1-2, the earlier default). The ``paper`` profile
(``pipeline/config/profiles/paper.yaml``) sets ``kind: finetune``, ``custom_arch: false``,
``backbone: swin_base_patch4_window7_224``, ``image_size: 224``, ``stem: patch`` and ``weights``
a local ImageNet state dict, with the paper's lr 2e-4, batch 60 and dropout 0.3.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("grid_probe", "finetune")


@dataclass(frozen=True)
class TimmImageModel:
    """A timm image model trained on pixels: the ``finetune`` classifiers' and MuJo-SF's image
    encoder (:func:`pipeline.distant.train.backbone_spec` builds it). By default a small Swin
    reshaped to 48 px; ``custom_arch: false`` takes the timm name's own architecture."""

    backbone: str = "swin_tiny_patch4_window7_224"
    custom_arch: bool = True            # False: the timm name's own architecture, nothing below
    image_size: int = 48
    patch_size: int = 4
    window_size: int = 3
    embed_dim: int = 32
    depths: tuple[int, ...] = (1, 1, 2)
    num_heads: tuple[int, ...] = (2, 4, 8)
    drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    stem: str = "conv"                  # "patch": timm's own; "conv": convolutional patch embedding (see models.attributes)
    weights: str = ""                   # local state dict of the bare timm backbone ("" = random init)


@dataclass(frozen=True)
class ClassifierConfig(TimmImageModel):
    kind: str = "grid_probe"            # or "finetune" (everything below the probe settings)
    # grid_probe: heads over the region backbone's grid, mean + pool x pool average-pooled
    pool: int = 3
    augment: bool = True                # training images seen as one augmented view (models.augment)
    # finetune: the image model's shape is TimmImageModel's (above); and
    max_shift: int = 0                  # random translation in pixels (training only)
    # both kinds (the defaults suit the probe; the Swin of ``finetune`` took 20 epochs, batch 32, lr 1e-3)
    epochs: int = 40
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    patience: int = 8                   # epochs without a better validation accuracy
    seed: int = 0
    split_seed: int = 0                 # the 8:1:1 image split
    decode_workers: int = 2
    # 1: train in the step's own process; N > 1: under `torchrun --nproc_per_node N`, DistributedDataParallel
    # over N processes (gloo on CPU; NCCL and one GPU per process where CUDA is) (pipeline.distant.torchrun)
    processes: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"classifier kind {self.kind!r}: expected one of {KINDS}")
        if self.processes < 1:
            raise ValueError(f"processes must be at least 1, got {self.processes}")


@dataclass(frozen=True)
class FashionAITraining(ClassifierConfig):
    """Multi-task single-label over FashionAI's tasks (Table I)."""

    tasks: tuple[str, ...] = ("sleeve_length_labels", "pant_length_labels", "skirt_length_labels",
                              "coat_length_labels", "collar_design_labels", "lapel_design_labels",
                              "neck_design_labels", "neckline_design_labels")


@dataclass(frozen=True)
class UTZap50kTraining(ClassifierConfig):
    """Joint multi-task (multi-label where the data is), then one single-task model for each of
    ``single_task_candidates`` whose joint validation accuracy is below ``single_task_below``
    (Table II). The candidates default to the tasks that label MAVP slots; add ``Material`` for
    the paper's full Table II (it costs a model more)."""

    tasks: tuple[str, ...] = ("Closure", "ToeStyle", "HeelHeight", "Gender", "Material")
    single_task_below: float = 0.8
    single_task_candidates: tuple[str, ...] = ("Closure", "ToeStyle", "HeelHeight")


@dataclass(frozen=True)
class IFashionTraining(ClassifierConfig):
    """Single-task models per label group, single-label and multi-label (Table III)."""

    tasks: tuple[str, ...] = ("color",)       # add "material", "pattern" as in the paper
    epochs: int = 20                          # colour converges fast; the budget goes to shapes
    strategies: tuple[str, ...] = ("single_label", "multi_label_mix", "multi_label")


@dataclass(frozen=True)
class CrawlTraining(ClassifierConfig):
    """Single-label models on the crawled folders (Table IV)."""

    tasks: tuple[str, ...] = ("upper_height",)


@dataclass(frozen=True)
class SlotClassifierChoice:
    """Which trained model labels one image slot. ``strategy: best`` takes the trained strategy
    with the highest validation accuracy on the task(s); several tasks are merged (FashionAI's
    four design tasks make neckline)."""

    slot: str
    source: str
    tasks: tuple[str, ...]
    strategy: str = "best"


DEFAULT_SLOT_CLASSIFIERS = (
    SlotClassifierChoice("neckline", "fashionai", ("neckline_design_labels", "collar_design_labels",
                                                   "lapel_design_labels", "neck_design_labels")),
    SlotClassifierChoice("sleeve_length", "fashionai", ("sleeve_length_labels",)),
    SlotClassifierChoice("skirt_length", "fashionai", ("skirt_length_labels",)),
    SlotClassifierChoice("pant_length", "fashionai", ("pant_length_labels",)),
    SlotClassifierChoice("heel_height", "utzap50k", ("HeelHeight",)),
    SlotClassifierChoice("closure", "utzap50k", ("Closure",)),
    SlotClassifierChoice("toecap", "utzap50k", ("ToeStyle",)),
    SlotClassifierChoice("color", "ifashion", ("color",), "single_label"),
    SlotClassifierChoice("upper_height", "crawl", ("upper_height",)),
)
