"""Eqs. (1)-(3) of the multimodal masked value predictor, and the text predictor."""

import math

import torch
from transformers import BertConfig, BertModel

from models.masked_value import MultimodalMaskedValuePredictor, RegionFusion, TextMaskedValuePredictor


def tiny_bert(vocab: int = 30, hidden: int = 16) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=16), add_pooling_layer=False)


def test_fusion_follows_equations_1_to_3():
    torch.manual_seed(1)
    fusion = RegionFusion(text_dim=6, region_dim=5, fusion_dim=4)
    with torch.no_grad():                        # trained values, not the initial ones
        fusion.sharpness.fill_(1.7)
        fusion.gate_offset.copy_(torch.randn(4))
    h = torch.randn(2, 6)
    regions = torch.randn(2, 3, 5)
    fused, alpha = fusion(h, regions)
    w_w, w_u = fusion.w_text.weight.T, fusion.w_region.weight.T          # (6, 4), (5, 4)
    for b in range(2):
        scores = (regions[b] @ w_u) @ (h[b] @ w_w) / math.sqrt(4) * 1.7  # (1), with the learned sharpness
        a = torch.softmax(scores, dim=0)
        u_prime = (a[:, None] * regions[b]).sum(0)                      # (2)
        expected = (h[b] @ w_w) * (u_prime @ w_u + fusion.gate_offset)  # (3), W_U affine
        torch.testing.assert_close(alpha[b], a)
        torch.testing.assert_close(fused[b], expected)
    assert fused.shape == (2, 4) and alpha.shape == (2, 3)


def test_fusion_starts_as_the_text_and_the_mean_region():
    """At initialisation an average (zero) image leaves the text projection as it is, and the
    attention is the mean over regions whatever the text asks."""
    torch.manual_seed(4)
    fusion = RegionFusion(6, 5, 4)
    h = torch.randn(3, 6)
    fused, _ = fusion(h, torch.zeros(3, 2, 5))
    torch.testing.assert_close(fused, fusion.w_text(h))
    _, alpha = fusion(h, torch.randn(3, 4, 5))
    torch.testing.assert_close(alpha, torch.full((3, 4), 0.25))


def test_fusion_ignores_padded_regions():
    torch.manual_seed(2)
    fusion = RegionFusion(4, 3, 4)
    h, regions = torch.randn(1, 4), torch.randn(1, 3, 3)
    mask = torch.tensor([[True, True, False]])
    fused, alpha = fusion(h, regions, mask)
    assert alpha[0, 2] == 0
    alone, _ = fusion(h, regions[:, :2])
    torch.testing.assert_close(fused, alone)


def test_fusion_gradients_match_finite_differences():
    torch.manual_seed(3)
    fusion = RegionFusion(3, 4, 2).double()
    with torch.no_grad():
        fusion.sharpness.fill_(1.0)
    h = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    regions = torch.randn(2, 5, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: fusion(a, b)[0], (h, regions))


def test_predictors_score_all_values_and_train():
    ids = torch.randint(5, 30, (4, 7))
    attention = torch.ones_like(ids)
    mask_index = torch.tensor([1, 2, 3, 4])
    y = torch.tensor([0, 1, 2, 3])
    text = TextMaskedValuePredictor(tiny_bert(), num_values=11)
    multi = MultimodalMaskedValuePredictor(tiny_bert(), region_dim=9, num_values=11, fusion_dim=8)
    regions = torch.randn(4, 6, 9)
    assert text(ids, attention, mask_index).shape == (4, 11)
    assert multi(ids, attention, mask_index, regions).shape == (4, 11)
    loss = torch.nn.functional.cross_entropy(multi(ids, attention, mask_index, regions), y)
    loss.backward()
    # the gradient reaches the encoder, both projections and the region input path
    assert multi.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert multi.fusion.w_region.weight.grad.abs().sum() > 0
    assert multi.fusion.w_text.weight.grad.abs().sum() > 0
    assert multi.fusion.sharpness.grad.abs() > 0                       # the attention can learn to look
