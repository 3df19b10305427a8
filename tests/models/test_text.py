"""Text encoders: one loading path for hub names and save_pretrained directories; masking."""

import torch

from models.text import SmallBertConfig, build_char_encoder, load_text_encoder, masked_token_ids

TEXTS = ["经典的红色连衣裙", "采用A字版型", "XL码纯棉T恤"]


def test_char_encoder_round_trips_through_save_pretrained(tmp_path):
    torch.manual_seed(0)
    enc = build_char_encoder(TEXTS, SmallBertConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32))
    enc.save_pretrained(tmp_path / "bert")
    # the same call a hub name such as bert-base-chinese takes
    loaded = load_text_encoder(tmp_path / "bert")
    assert loaded.tokenizer.get_vocab() == enc.tokenizer.get_vocab()
    ids, pos = masked_token_ids(loaded.tokenizer, TEXTS[0], 3, 5, 32)
    batch = torch.tensor([ids])
    enc.model.eval()
    loaded.model.eval()
    torch.testing.assert_close(enc.model(batch).last_hidden_state, loaded.model(batch).last_hidden_state)


def test_whole_span_becomes_one_mask():
    enc = build_char_encoder(TEXTS)
    tok = enc.tokenizer
    ids, pos = masked_token_ids(tok, "经典的红色连衣裙", 3, 5, 32)
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens == ["[CLS]", "经", "典", "的", "[MASK]", "连", "衣", "裙", "[SEP]"]
    assert tokens[pos] == "[MASK]"
    # latin letters inside a word tokenise to known pieces, not [UNK]
    assert "[UNK]" not in tok.tokenize("XL码纯棉T恤")


def test_long_text_keeps_a_window_around_the_mask():
    enc = build_char_encoder(["一二三四五六七八九十"])
    text = "一二三四五六七八九十" * 10
    ids, pos = masked_token_ids(enc.tokenizer, text, 50, 52, 16)
    assert len(ids) == 16
    assert enc.tokenizer.convert_ids_to_tokens(ids)[pos] == "[MASK]"
