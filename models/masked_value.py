"""Masked value predictors of visualized saliency ascription (MuJo-SF, section III-B1).

Both read the BERT representation ``h_w^T`` of the single [MASK] that replaced a value and
score all ``Z`` values of all slots with a linear softmax. The multimodal one first fuses
``h_w^T`` with region features ``U`` (l x d_U) exactly as eqs. (1)-(3):

    alpha = softmax((U W_U)(h W_w)^T / sqrt(d))        (1)
    U'    = sum_q alpha_q u_q                          (2)
    h^M   = (h W_w) * (U' W_U)                         (3)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import BertModel


def mask_representation(encoder: BertModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        mask_index: torch.Tensor) -> torch.Tensor:
    """``h_w^T``: the encoder's output at each row's [MASK] position, (B, d_t)."""
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), mask_index]


class TextMaskedValuePredictor(nn.Module):
    """P^T: softmax over all values from the [MASK] representation."""

    def __init__(self, encoder: BertModel, num_values: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_values)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                mask_index: torch.Tensor) -> torch.Tensor:
        h = mask_representation(self.encoder, input_ids, attention_mask, mask_index)
        return self.classifier(self.dropout(h))


class RegionFusion(nn.Module):
    """Eqs. (1)-(3): attention of the [MASK] over regions, then element-wise fusion."""

    def __init__(self, text_dim: int, region_dim: int, fusion_dim: int):
        super().__init__()
        self.w_text = nn.Linear(text_dim, fusion_dim, bias=False)      # W_w, d_t x d
        self.w_region = nn.Linear(region_dim, fusion_dim, bias=False)  # W_U, d_U x d
        # Eq. (3) gates the text by the image. On standardised (zero-mean) region features a
        # bias-free U'W_U is centred at 0, so at the start every text feature is multiplied by
        # noise of random sign: P^M has to learn the text evidence P^T gets for free, through
        # that noise, and loses part of it. The offset (1 at init, learned) makes the gate start
        # as the identity: h^M = h W_w for an image with average features, plus what the image adds.
        self.gate_offset = nn.Parameter(torch.ones(fusion_dim))
        # The attention starts as the mean over regions and sharpens as it learns where to look
        # (1/sqrt(d) times a learned factor that starts at 0): a few hundred instances of a slot
        # otherwise fix it early on regions picked by chance (a backdrop instead of the toe).
        self.sharpness = nn.Parameter(torch.zeros(()))
        self.scale = 1.0 / math.sqrt(fusion_dim)

    def forward(self, h: torch.Tensor, regions: torch.Tensor,
                region_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``h`` (B, d_t), ``regions`` (B, l, d_U), ``region_mask`` (B, l) true where a region
        exists. Returns ``h^M`` (B, d) and ``alpha`` (B, l)."""
        h_proj = self.w_text(h)                                        # (B, d)
        scores = torch.einsum("bld,bd->bl", self.w_region(regions), h_proj) * (self.scale * self.sharpness)
        if region_mask is not None:
            scores = scores.masked_fill(~region_mask, torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=-1)                          # (1)
        pooled = torch.einsum("bl,bld->bd", alpha, regions)            # (2) U', (B, d_U)
        fused = h_proj * (self.w_region(pooled) + self.gate_offset)    # (3)
        return fused, alpha


class MultimodalMaskedValuePredictor(nn.Module):
    """P^M: softmax over all values from the fused [MASK] and region representation."""

    def __init__(self, encoder: BertModel, region_dim: int, num_values: int, fusion_dim: int = 64,
                 dropout: float = 0.1, region_dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        # Each product has one fixed U. Without dropping feature entries while training, a
        # small corpus lets the model learn products by heart through their image features
        # (text-slot values included) instead of what the images show.
        self.region_dropout = nn.Dropout(region_dropout)
        self.fusion = RegionFusion(encoder.config.hidden_size, region_dim, fusion_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fusion_dim, num_values)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, mask_index: torch.Tensor,
                regions: torch.Tensor, region_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = mask_representation(self.encoder, input_ids, attention_mask, mask_index)
        fused, _ = self.fusion(h, self.region_dropout(regions), region_mask)
        return self.classifier(self.dropout(fused))
