"""BERT text encoders: loaded from a hub name or a local directory, or built small from data.

One loading path serves both a hub name (``bert-base-chinese``) and a directory written by
``save_pretrained``: :func:`load_text_encoder`. The ``sample`` profile has no weights to load, so
:func:`build_char_encoder` makes a character vocabulary from the training texts and a small
randomly initialised :class:`~transformers.BertModel` of the given size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from transformers import AutoTokenizer, BertConfig, BertModel, BertTokenizer, PreTrainedTokenizerBase

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class SmallBertConfig:
    """Size of a randomly initialised BERT (the ``sample`` profile)."""

    hidden_size: int = 64
    num_hidden_layers: int = 1
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 64
    dropout: float = 0.1


@dataclass
class TextEncoder:
    tokenizer: PreTrainedTokenizerBase
    model: BertModel

    def save_pretrained(self, directory: Path | str) -> None:
        self.tokenizer.save_pretrained(directory)
        self.model.save_pretrained(directory)


def char_vocabulary(texts: Iterable[str]) -> list[str]:
    """Special tokens, then every character of ``texts`` in sorted order.

    Characters that BERT's basic tokenizer keeps inside a word (latin letters, digits) also
    get their ``##`` continuation piece, so ``A字`` and ``XL`` tokenise to known pieces.
    """
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    vocab = list(SPECIAL_TOKENS)
    for c in chars:
        vocab.append(c)
        if c.isascii() and c.isalnum():
            vocab.append("##" + c)
    return vocab


def build_char_encoder(texts: Iterable[str], size: SmallBertConfig = SmallBertConfig()) -> TextEncoder:
    """A character-level tokenizer over ``texts`` and a random-init BERT of ``size``."""
    vocab = char_vocabulary(texts)
    tokenizer = BertTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=False)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=size.hidden_size, num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads, intermediate_size=size.intermediate_size,
        max_position_embeddings=size.max_position_embeddings, hidden_dropout_prob=size.dropout,
        attention_probs_dropout_prob=size.dropout, pad_token_id=tokenizer.pad_token_id,
    )
    return TextEncoder(tokenizer, BertModel(config, add_pooling_layer=False))


def load_text_encoder(name_or_path: str | Path) -> TextEncoder:
    """Tokenizer and encoder from a hub name or a ``save_pretrained`` directory (same call)."""
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    model = BertModel.from_pretrained(str(name_or_path), add_pooling_layer=False)
    return TextEncoder(tokenizer, model)


def masked_token_ids(tokenizer: PreTrainedTokenizerBase, text: str, start: int, end: int,
                     max_length: int) -> tuple[list[int], int]:
    """Token ids of ``[CLS] left [MASK] right [SEP]`` with ``text[start:end]`` as one [MASK].

    The value's whole span becomes a single [MASK] whatever its length, so the model cannot
    read the value's length off the input. Long texts keep a window centred on the mask.
    """
    left = tokenizer.tokenize(text[:start])
    right = tokenizer.tokenize(text[end:])
    room = max_length - 3
    if len(left) + len(right) > room:
        keep_left = min(len(left), max(room // 2, room - len(right)))
        keep_right = room - keep_left
        left, right = left[len(left) - keep_left:], right[:keep_right]
    tokens = [tokenizer.cls_token, *left, tokenizer.mask_token, *right, tokenizer.sep_token]
    return tokenizer.convert_tokens_to_ids(tokens), len(left) + 1
