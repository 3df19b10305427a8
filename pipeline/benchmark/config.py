"""Settings of the MuJo-SF model and its benchmark, as plain dataclasses (no torch import), so the
Dagster layer builds its run-config classes from them and every default lives here.

The defaults are the ``sample`` profile's: a small random-init character BERT and a small
random-init Swin at 48 px (the shape of the distant classifiers' ``finetune`` kind), sized so
that the model and its baselines train in about a minute each on 2 cores. The ``paper``
profile sets ``text_encoder`` to a local BERT-base directory and the image encoder to Swin-B at
224 px with ImageNet weights, with the paper's λ1 = λ2 = 1, lr 2e-4, dropout 0.3, batch 60,
50 epochs with 20 of warm-up, weight decay 0.02 (section IV-A).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.distant.config import TimmImageModel


@dataclass(frozen=True)
class MujoSFConfig(TimmImageModel):
    """The image encoder's fields are :class:`TimmImageModel`'s (first); then eq. 12's λs, the
    training and the text encoder."""

    lambda_text: float = 1.0            # λ1 of eq. 12 (the T-D loss)
    lambda_image: float = 1.0           # λ2 of eq. 12 (the I-D loss)
    epochs: int = 8
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.02
    warmup_fraction: float = 0.1
    dropout: float = 0.3
    patience: int = 3                   # epochs without a better validation slot accuracy
    seed: int = 0
    device: str = "auto"                # "auto": CUDA when there is one (mixed precision there)
    # description encoder (BERT_fixed is a frozen copy): a hub name or a local save_pretrained
    # directory; "" builds a random-init character BERT of the size below from the splits' texts
    text_encoder: str = ""
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_length: int = 64                # description tokens (the sentences are short)

    def __post_init__(self) -> None:
        if self.lambda_text < 0 or self.lambda_image < 0 or not (self.lambda_text or self.lambda_image):
            raise ValueError("lambda_text and lambda_image must be >= 0, and not both 0")


@dataclass(frozen=True)
class BenchmarkConfig:
    bootstrap_samples: int = 1000       # paired bootstrap resamples of the instances
    confidence: float = 0.95
    min_reliability: float = 0.5        # item 5: image labels below it are left out of the "reliable" run
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.bootstrap_samples < 1:
            raise ValueError("bootstrap_samples must be at least 1")
