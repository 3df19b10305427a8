"""MuJo-SF against each equation of the paper's section III-C: shapes, values and where the
gradients flow."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.attributes import BackboneSpec
from models.mujo_sf import (CrossModalAttention, ImageSlotClassifier, MuJoSF, SlotSet, TextSlotClassifier,
                            add_slot_tokens, joint_loss, l2_logits, slot_attention, slot_losses, slot_token,
                            standardized)
from models.text import SmallBertConfig, build_char_encoder

TEXT = SlotSet(("material", "style"), (("棉", "真丝", "none"), ("休闲", "复古", "简约", "none")), ("材质", "风格"))
IMAGE = SlotSet(("color", "toecap"), (("黑色", "白色", "none"), ("圆头", "尖头", "方头", "none")), ("颜色", "鞋头"))
TEXTS = ["纯棉休闲上衣", "真丝复古连衣裙", "简约黑色短靴"]


def _encoder():
    torch.manual_seed(0)
    words = TEXTS + list(TEXT.labels) + [v for c in TEXT.candidates for v in c]
    return build_char_encoder(words, SmallBertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=32, max_position_embeddings=32, dropout=0.0))


def _image_encoder():
    return BackboneSpec("swin_tiny_patch4_window7_224", (("img_size", 32), ("patch_size", 4), ("window_size", 4),
                                                        ("embed_dim", 8), ("depths", (1, 1)),
                                                        ("num_heads", (1, 2)))).create()


def _model(cross_attention: bool = True) -> MuJoSF:
    encoder = _encoder()
    add_slot_tokens(encoder.tokenizer, encoder.model, len(TEXT))
    model = MuJoSF(encoder.model, encoder.tokenizer, _image_encoder(), TEXT, IMAGE, dropout=0.0,
                   cross_attention=cross_attention)
    model.tokenizer = encoder.tokenizer
    return model


def _batch(tokenizer) -> dict:
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "pixels": torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)),
            "text_targets": torch.tensor([[0, 0], [1, 1], [2, 2]]),
            "image_targets": torch.tensor([[0, -1], [1, -1], [0, 2]])}


def test_eq4_attention_over_one_image_vector_is_that_vector_and_masked_keys_count_for_nothing():
    attention = CrossModalAttention(query_dim=6, key_dim=4)
    queries, one_key = torch.randn(2, 5, 6), torch.randn(2, 1, 4)
    # the paper's single Û: every token's Z_D is Û itself
    assert torch.allclose(attention.attend(queries, one_key, None), one_key.expand(2, 5, 4), atol=1e-6)
    keys, mask = torch.randn(2, 3, 4), torch.tensor([[True, True, False], [True, False, False]])
    z = attention.attend(queries, keys, mask)
    assert z.shape == (2, 5, 4)
    changed = keys.clone()
    changed[0, 2], changed[1, 1:] = 100.0, -100.0
    assert torch.allclose(z, attention.attend(queries, changed, mask), atol=1e-6)
    scores = attention.project(queries) @ keys.transpose(1, 2) / math.sqrt(4)
    expected = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1) @ keys
    assert torch.allclose(z, expected, atol=1e-6)


def test_eq5_residual_layer_norm_and_its_gradients():
    attention = CrossModalAttention(query_dim=6, key_dim=4)
    queries, keys = torch.randn(2, 5, 6, requires_grad=True), torch.randn(2, 3, 4, requires_grad=True)
    out = attention(queries, keys)
    assert out.shape == queries.shape
    expected = F.layer_norm(queries + attention.back(attention.attend(queries, keys, None)), (6,),
                            attention.norm.weight, attention.norm.bias)
    assert torch.allclose(out, expected, atol=1e-6)
    assert attention.back.weight.shape == (6, 4)            # W_D: d_a -> d_t
    (out * torch.randn_like(out)).sum().backward()
    for grad in (queries.grad, keys.grad, attention.project.weight.grad, attention.back.weight.grad,
                 attention.norm.weight.grad):
        assert grad is not None and grad.abs().sum() > 0


def test_eq6_slot_attention_and_eq7_l2_scores():
    tokens, mask = torch.randn(2, 4, 8), torch.tensor([[True, True, True, False], [True, True, False, False]])
    query = torch.nn.Linear(8, 8)
    slots = slot_attention(torch.randn(3, 8), tokens, mask, query)
    assert slots.shape == (2, 3, 8)
    fused, values = torch.randn(2, 8, requires_grad=True), torch.randn(5, 8)
    logits = l2_logits(fused, values)
    assert logits.shape == (2, 5)
    assert torch.allclose(logits, -(fused[:, None] - values[None]).norm(dim=-1), atol=1e-5)
    probability = logits.softmax(-1)                       # eq. 7: P over the candidates
    assert torch.allclose(probability.sum(-1), torch.ones(2))
    logits.sum().backward()
    assert fused.grad is not None and fused.grad.abs().sum() > 0


def test_eq6_masked_tokens_do_not_reach_the_slot():
    tokens, mask = torch.randn(2, 4, 8), torch.tensor([[True, True, True, False], [True, True, False, False]])
    query, slots = torch.nn.Linear(8, 8), torch.randn(3, 8)
    changed = tokens.clone()
    changed[0, 3], changed[1, 2:] = 50.0, -50.0
    assert torch.allclose(slot_attention(slots, tokens, mask, query), slot_attention(slots, changed, mask, query),
                          atol=1e-6)


def test_eqs_8_11_12_losses():
    logits = [torch.randn(3, 3), torch.randn(3, 4)]
    targets = torch.tensor([[0, -1], [2, 1], [1, 3]])
    per_slot = [F.cross_entropy(logits[0], targets[:, 0]), F.cross_entropy(logits[1][1:], targets[1:, 1])]
    assert torch.allclose(slot_losses(logits, targets), (per_slot[0] + per_slot[1]) / 2)
    image = [torch.randn(3, 2)]
    image_targets = torch.tensor([[1], [0], [-1]])
    batch = {"text_targets": targets, "image_targets": image_targets}
    outputs = {"text": logits, "image": image}
    expected = 0.7 * slot_losses(logits, targets) + 0.3 * F.cross_entropy(image[0][:2], image_targets[:2, 0])
    assert torch.allclose(joint_loss(outputs, batch, 0.7, 0.3), expected)
    assert torch.allclose(joint_loss(outputs, batch, 1.0, 0.0), slot_losses(logits, targets))


def test_slot_tokens_and_the_global_slot_positions():
    model = _model()
    ids = model.slot_prompt.tolist()
    for j, position in enumerate(model.slot_positions):
        assert ids[position] == model.tokenizer.convert_tokens_to_ids(slot_token(j))
    assert model.slot_global().shape == (len(TEXT), 16)


def test_the_whole_model_shapes_and_gradients():
    model = _model()
    batch = _batch(model.tokenizer)
    outputs = model(batch)
    assert [o.shape for o in outputs["text"]] == [(3, 3), (3, 4)]           # eq. 7: one score per candidate
    assert [o.shape for o in outputs["image"]] == [(3, 3), (3, 4)]          # eq. 10: one head per image slot
    d_a = model.image_encoder.num_features
    assert model.fuse.weight.shape == (d_a, 2 * d_a)                       # W_u, eq. 9
    assert model.values.shape == (sum(len(c) for c in TEXT.candidates), 16) and not model.values.requires_grad
    joint_loss(outputs, batch, 1.0, 1.0).backward()
    for name, module in (("description encoder", model.text_encoder), ("image encoder", model.image_encoder),
                         ("cross attention, text side", model.text_from_image),
                         ("cross attention, image side", model.image_from_text), ("W_u", model.fuse),
                         ("image heads", model.image_heads), ("slot norm", model.slot_norm)):
        grads = [p.grad.abs().sum() for p in module.parameters() if p.grad is not None]
        assert grads and sum(grads) > 0, name


def test_without_the_id_loss_no_image_head_learns_and_without_cross_attention_it_is_skipped():
    model = _model()
    batch = _batch(model.tokenizer)
    joint_loss(model(batch), batch, 1.0, 0.0).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.image_heads.parameters())
    plain = _model(cross_attention=False)
    outputs = plain(batch)
    joint_loss(outputs, batch, 1.0, 1.0).backward()
    assert all(p.grad is None for p in plain.text_from_image.parameters())
    assert all(p.grad is None for p in plain.image_from_text.parameters())


def test_baselines_fill_their_own_slots_only():
    encoder = _encoder()
    text = TextSlotClassifier(encoder.model, TEXT, dropout=0.0)
    image = ImageSlotClassifier(_image_encoder(), IMAGE, dropout=0.0)
    batch = _batch(encoder.tokenizer)
    assert [o.shape for o in text(batch)["text"]] == [(3, 3), (3, 4)] and text(batch)["image"] == []
    assert [o.shape for o in image(batch)["image"]] == [(3, 3), (3, 4)] and image(batch)["text"] == []
    assert np.isfinite(float(joint_loss(text(batch), batch, 1.0, 1.0).detach()))


def test_eq7_candidates_of_a_random_init_bert_fixed_are_told_apart():
    model = _model()
    raw = torch.randn(1, 16) + 1e-3 * torch.randn(7, 16)          # nearly collapsed, as a random BERT's [CLS]
    fixed = standardized(raw)
    assert torch.allclose(fixed.mean(0), torch.zeros(16), atol=1e-3)
    assert torch.allclose(fixed.std(0, unbiased=False), torch.ones(16), atol=1e-3)
    assert torch.cdist(fixed, fixed)[~torch.eye(7, dtype=torch.bool)].min() > 1.0
    # the model's value vectors are BERT_fixed's, standardized: unit spread per dimension
    assert torch.allclose(model.values.std(0, unbiased=False), torch.ones(16), atol=1e-4)
