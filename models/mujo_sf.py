"""MuJo-SF, the paper's multimodal joint slot-filling model (section III-C, eqs. 4-12), and its
single-modality baselines (Table VII).

* Input (III-C1): a description encoder (BERT) gives ``H_D`` (B, k, d_t); a frozen copy,
  ``BERT_fixed``, gives each text slot's local representation ``h_sj`` and each candidate
  value's ``h_v`` (its ``[CLS]``, standardized over the set: :func:`standardized`); the description encoder reads ``[SLOT_1] s_1 [SLOT_2] s_2 ...``
  once, and the ``[SLOT_j]`` positions are the slots' global representations ``h'_sj``. The
  image encoder (a timm model, Swin in the paper) gives ``Û``.
* Cross-modality interaction (eqs. 4-5), both ways, with LayerNorm.
* Text-dependent slots (eqs. 6-8): two attentions of the slot over ``H~_D``, fused by LayerNorm,
  scored by the negative L2 distance to each candidate's ``h_v``.
* Image-dependent slots (eqs. 9-11): ``W_u [Ũ; Û]``, one softmax head per slot.
* The loss (eq. 12): ``λ1 L^T + λ2 L^I``.

``Û`` in the paper is one vector, and attention over a single key is the identity (its softmax
is 1): eq. 4 would add the same vector to every token. Here the image is the encoder's
last-stage tokens (Swin's 7 x 7 windows' patches at 224 px); their mean is the paper's ``Û``,
used as such in eq. 9. With one token the equations are the paper's exactly.

Every model maps a batch to ``{"text": [logits per text slot], "image": [logits per image
slot]}`` (a missing modality: an empty list), so one loss, one trainer and one scorer serve all.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertModel, PreTrainedTokenizerBase

from models.backbones import normalize_pixels

NONE = "none"


@dataclass(frozen=True)
class SlotSet:
    """The slots of one dependency type and each one's candidate values (``none`` included)."""

    names: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]
    labels: tuple[str, ...] = ()         # what the text encoders read for each slot (e.g. its Chinese name)

    def __len__(self) -> int:
        return len(self.names)


# -- image tokens --------------------------------------------------------------------------------

def image_tokens(backbone: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 pixels -> (B, l, d_a) last-stage tokens of a timm model."""
    fmap = backbone.forward_features(normalize_pixels(pixels))
    if fmap.ndim == 3:                                       # ViT-style (B, l, C)
        return fmap
    if getattr(backbone, "output_fmt", "NCHW") == "NHWC":     # Swin: (B, H, W, C)
        return fmap.flatten(1, 2)
    return fmap.flatten(2).transpose(1, 2)                  # CNN: (B, C, H, W)


# -- eqs. 4-5 ----------------------------------------------------------------------------------

class CrossModalAttention(nn.Module):
    """One direction of eqs. 4-5: ``LN(Q + softmax(Q' K^T / sqrt(d_k)) K W)``, where ``Q' = Q P``
    projects the queries into the keys' space and ``W`` maps the result back."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.project = nn.Linear(query_dim, key_dim)           # H_D -> H'_D  (k x d_a)
        self.back = nn.Linear(key_dim, query_dim, bias=False)  # W_D  (d_a x d_t)
        self.norm = nn.LayerNorm(query_dim)

    def attend(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """Eq. 4: Z."""
        scores = self.project(queries) @ keys.transpose(1, 2) / math.sqrt(keys.shape[-1])
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))
        return scores.softmax(-1) @ keys

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(queries + self.back(self.attend(queries, keys, key_mask)))     # eq. 5


def slot_attention(slots: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, query: nn.Linear) -> torch.Tensor:
    """(S, d) or (B, S, d) slot queries over (B, k, d) tokens -> (B, S, d) text-aware slots."""
    q = query(slots)
    if q.ndim == 2:
        q = q.expand(tokens.shape[0], -1, -1)
    scores = q @ tokens.transpose(1, 2) / math.sqrt(tokens.shape[-1])
    return scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1) @ tokens


def l2_logits(slot: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Eq. 7's logits: ``-||h~T_sj - h_v||_2`` for (B, d) slots and (V, d) candidate values."""
    return -torch.cdist(slot[None], values[None]).squeeze(0)


def slot_losses(logits: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Eqs. 8 and 11: the cross-entropy of each slot (over the instances whose category has it;
    target -1 elsewhere), averaged over the slots present."""
    losses = [F.cross_entropy(lg[targets[:, j] >= 0], targets[targets[:, j] >= 0, j])
              for j, lg in enumerate(logits) if bool((targets[:, j] >= 0).any())]
    return torch.stack(losses).mean() if losses else targets.new_zeros((), dtype=torch.float32)


def joint_loss(outputs: dict, batch: dict, lambda_text: float, lambda_image: float) -> torch.Tensor:
    """Eq. 12: ``λ1 L^T + λ2 L^I`` (a term whose λ is 0, or whose head is absent, is left out)."""
    loss = batch["text_targets"].new_zeros((), dtype=torch.float32)
    if lambda_text and outputs["text"]:
        loss = loss + lambda_text * slot_losses(outputs["text"], batch["text_targets"])
    if lambda_image and outputs["image"]:
        loss = loss + lambda_image * slot_losses(outputs["image"], batch["image_targets"])
    return loss


# -- the model ---------------------------------------------------------------------------------

def standardized(vectors: torch.Tensor) -> torch.Tensor:
    """Frozen [CLS] vectors centred and scaled per dimension over the set (a fixed affine map, as
    in BERT-whitening, Su et al. 2021). BERT's sentence vectors are anisotropic, and a random-init
    BERT's almost collapse (the sample's 126 candidate values: cosine 0.99995, distances 0.08
    against norms of 8), so the L2 scores of eq. 7 could hardly tell candidates apart."""
    if len(vectors) < 2:
        return vectors
    return (vectors - vectors.mean(0)) / vectors.std(0, unbiased=False).clamp_min(1e-6)


def slot_token(j: int) -> str:
    return f"[SLOT_{j}]"


@torch.no_grad()
def cls_vectors(encoder: BertModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> torch.Tensor:
    """``[CLS] text [SEP]`` through ``encoder`` -> (n, d_t) [CLS] states."""
    enc = tokenizer(list(texts), padding=True, return_tensors="pt")
    return encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state[:, 0]


class MuJoSF(nn.Module):
    """Eqs. 4-12. ``cross_attention=False`` is Table VIII's "w/o cross attention" (H~_D = H_D,
    Ũ = Û); the "w/o T-D / I-D loss" rows are λ1 = 0 / λ2 = 0 at training (:func:`joint_loss`)."""

    def __init__(self, text_encoder: BertModel, tokenizer: PreTrainedTokenizerBase, image_encoder: nn.Module,
                 text_slots: SlotSet, image_slots: SlotSet, dropout: float = 0.3, cross_attention: bool = True):
        super().__init__()
        d_t, d_a = text_encoder.config.hidden_size, image_encoder.num_features
        self.cross_attention = cross_attention
        self.text_slots, self.image_slots = text_slots, image_slots
        fixed = copy.deepcopy(text_encoder).eval()            # BERT_fixed: never trained
        self.register_buffer("slot_local", standardized(cls_vectors(fixed, tokenizer, text_slots.labels or text_slots.names)))
        values = [cls_vectors(fixed, tokenizer, c) for c in text_slots.candidates]
        self.value_offsets = [0] + [int(n) for n in torch.tensor([len(c) for c in text_slots.candidates]).cumsum(0)]
        self.register_buffer("values", standardized(torch.cat(values)) if values else torch.zeros(0, d_t))
        slot_ids, positions = _slot_prompt(tokenizer, text_slots)
        self.register_buffer("slot_prompt", slot_ids)
        self.slot_positions = positions
        self.text_encoder, self.image_encoder = text_encoder, image_encoder
        self.text_from_image = CrossModalAttention(d_t, d_a)   # eqs. 4-5: H~_D
        self.image_from_text = CrossModalAttention(d_a, d_t)   # the same, the other way: Ũ
        self.local_query, self.global_query = nn.Linear(d_t, d_t), nn.Linear(d_t, d_t)
        self.slot_norm = nn.LayerNorm(d_t)                      # eq. 6
        self.fuse = nn.Linear(2 * d_a, d_a)                     # W_u, eq. 9
        self.dropout = nn.Dropout(dropout)
        self.image_heads = nn.ModuleList(nn.Linear(d_a, len(c)) for c in image_slots.candidates)   # W_j, eq. 10

    def slot_global(self) -> torch.Tensor:
        """h'_sj: the description encoder's states at the [SLOT_j] tokens of all slots' prompt."""
        prompt = self.slot_prompt[None]
        states = self.text_encoder(input_ids=prompt, attention_mask=torch.ones_like(prompt)).last_hidden_state[0]
        return states[self.slot_positions]

    def forward(self, batch: dict) -> dict[str, list[torch.Tensor]]:
        mask = batch["attention_mask"].bool()
        h_d = self.text_encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        u_hat = image_tokens(self.image_encoder, batch["pixels"])
        if self.cross_attention:
            h_tilde, u_tilde = self.text_from_image(h_d, u_hat), self.image_from_text(u_hat, h_d, mask)
        else:
            h_tilde, u_tilde = h_d, u_hat
        text = []
        if len(self.text_slots):
            local = slot_attention(self.slot_local, h_tilde, mask, self.local_query)
            global_ = slot_attention(self.slot_global(), h_tilde, mask, self.global_query)
            fused = self.slot_norm(local + global_)                                        # eq. 6
            text = [l2_logits(fused[:, j], self.values[a:b])                                 # eq. 7
                    for j, (a, b) in enumerate(zip(self.value_offsets, self.value_offsets[1:]))]
        joint = self.dropout(self.fuse(torch.cat([u_tilde.mean(1), u_hat.mean(1)], -1)))    # eq. 9
        return {"text": text, "image": [head(joint) for head in self.image_heads]}         # eq. 10 (softmax in the loss)


def _slot_prompt(tokenizer: PreTrainedTokenizerBase, slots: SlotSet) -> tuple[torch.Tensor, list[int]]:
    """Ids of ``[CLS] [SLOT_1] s_1 ... [SLOT_n] s_n [SEP]`` and the [SLOT_j] positions."""
    ids, positions = [tokenizer.cls_token_id], []
    for j, label in enumerate(slots.labels or slots.names):
        positions.append(len(ids))
        ids.append(tokenizer.convert_tokens_to_ids(slot_token(j)))
        ids.extend(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(label)))
    ids.append(tokenizer.sep_token_id)
    return torch.tensor(ids), positions


def add_slot_tokens(tokenizer: PreTrainedTokenizerBase, encoder: BertModel, count: int) -> None:
    """The [SLOT_j] special tokens in the tokenizer, and rows for them in the encoder's embeddings."""
    tokenizer.add_special_tokens({"additional_special_tokens": [slot_token(j) for j in range(count)]})
    encoder.resize_token_embeddings(len(tokenizer))


# -- baselines (Table VII) ---------------------------------------------------------------------

class TextSlotClassifier(nn.Module):
    """The text-only baseline: the description encoder's [CLS] state, one softmax head per
    text-dependent slot."""

    def __init__(self, text_encoder: BertModel, text_slots: SlotSet, dropout: float = 0.3):
        super().__init__()
        self.text_encoder, self.text_slots = text_encoder, text_slots
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(text_encoder.config.hidden_size, len(c)) for c in text_slots.candidates)

    def forward(self, batch: dict) -> dict[str, list[torch.Tensor]]:
        cls = self.text_encoder(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
        return {"text": [head(self.dropout(cls)) for head in self.heads], "image": []}


class ImageSlotClassifier(nn.Module):
    """The image-only baseline: the image encoder's pooled tokens, one softmax head per
    image-dependent slot."""

    def __init__(self, image_encoder: nn.Module, image_slots: SlotSet, dropout: float = 0.3):
        super().__init__()
        self.image_encoder, self.image_slots = image_encoder, image_slots
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(image_encoder.num_features, len(c)) for c in image_slots.candidates)

    def forward(self, batch: dict) -> dict[str, list[torch.Tensor]]:
        pooled = self.dropout(image_tokens(self.image_encoder, batch["pixels"]).mean(1))
        return {"text": [], "image": [head(pooled) for head in self.heads]}
