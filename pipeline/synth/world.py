"""The synthetic world: products, their true slot values, splits and sentences.

Sizes follow the paper's Table V: ``scale = 66`` gives its 29,374 products and 79,120
instances (sentences) per category, and every category keeps Table V's sentences per product.
Below that, each category has at least :data:`CATEGORY_FLOOR` products (times the MEPAVE knob;
proportionally fewer below scale 1, never under :data:`MIN_PRODUCTS`): at ``scale = 1`` Table V
would give Boots 11 products, and the slots only boots have no validation support at all. For
the same reason slots that few categories have are named more often (:func:`mention_rates`).

Independence that the saliency step relies on: visual values and the image seed of a product
come from one random stream, text values and sentences from others. So visual values are
independent of category-level words and of text values, and an image never depends on text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.schema import Schema
from pipeline.synth.draw import DRAWABLE, PALETTE, SHAPE_SLOTS, accent_color, product_spec
from pipeline.synth.text import TEXT_MENTION_RATE, TEXT_VALUES, VISUAL_MENTION_RATE, SentenceWriter

#: Table V of the paper: category -> (#products, #instances).
TABLE_V: dict[str, tuple[int, int]] = {
    "Clothes": (12240, 34984),
    "Pants": (2832, 8004),
    "Dresses": (4567, 12915),
    "Shoes": (9022, 21005),
    "Boots": (713, 2212),
}
PAPER_SCALE = 66.0
MIN_PRODUCTS = 10
#: Products per category of the MEPAVE world at scale >= 1 at least (proportionally fewer below,
#: times the MEPAVE knob). Table V's small categories (Boots: 11 products at scale 1) would
#: otherwise leave the slots only they have (boot_shaft_height, pant_length, ...) without the
#: validation support the saliency measurement needs. From scale 56 on, Table V exceeds it.
CATEGORY_FLOOR = 600
#: Mentions per slot aimed at, in products of the smallest category: a slot that few
#: categories have is named more often than the base rates (never less), up to every product.
EVEN_MENTIONS = 1.25
MIN_SENTENCES = 2
CATEGORY_SHAPE = {"Clothes": "top", "Dresses": "dress", "Pants": "pants", "Shoes": "shoe", "Boots": "boot"}
#: MEPAVE's split names (file suffixes) and shares.
SPLITS = ("train", "valid", "test")
SPLIT_SHARES = (0.8, 0.1, 0.1)

# Random streams (one per concern, so that changing one never shifts another).
STREAM_STRUCTURE, STREAM_VISUAL, STREAM_TEXT_VALUES, STREAM_SENTENCES, STREAM_OTHER = 1, 2, 3, 4, 5
STREAM_HEADLESS = 6
#: Products (of the five categories) with one sentence that names no product ("柔软印花梭织面料"):
#: real MEPAVE has many; only their image tells their category. A share of the others, drawn
#: from their own stream and cid range, so that every other product is as before.
HEADLESS_SHARE = 0.05


@dataclass
class Product:
    cid: str
    category: str | None                # None: a product of no category (a bag)
    split: str
    shape: str
    truth: dict[str, str | None]        # every slot key; None where the slot does not apply
    image_seed: int
    sentences: list[str] = field(default_factory=list)   # tagged (column 4)


@dataclass
class World:
    products: list[Product]             # the five categories
    others: list[Product]               # products of no category
    headless: list[Product] = field(default_factory=list)   # of the five, but no sentence names the product


def stream(seed: int, stream_id: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream_id])


def category_sizes(scale: float, mepave_scale: float = 1.0) -> dict[str, tuple[int, int]]:
    """Category -> (#products, #sentences) at this scale and MEPAVE knob; sentences per product
    as in Table V."""
    floor = max(MIN_PRODUCTS, int(round(CATEGORY_FLOOR * min(scale, 1.0) * mepave_scale)))
    out = {}
    for cat, (n_p, n_i) in TABLE_V.items():
        p = max(floor, int(round(n_p * scale * mepave_scale / PAPER_SCALE)))
        s = max(MIN_SENTENCES * p, int(round(p * n_i / n_p)))
        out[cat] = (p, s)
    return out


def mention_rates(schema: Schema, sizes: dict[str, tuple[int, int]]) -> tuple[dict[str, float], dict[str, float]]:
    """Per slot, the share of its products whose text names it, and the mentions that gives.

    The rate is the base rate of the slot's kind, raised for slots that few products have, so
    that every slot gets about ``EVEN_MENTIONS`` times the smallest category's products in
    mentions (and so validation support) where it can."""
    target = EVEN_MENTIONS * min(p for p, _ in sizes.values())
    rates, expected = {}, {}
    for slot in schema.slot_keys:
        having = sum(sizes[c.name][0] for c in schema.categories if slot in c.slots)
        base = VISUAL_MENTION_RATE if slot in DRAWABLE else TEXT_MENTION_RATE
        rates[slot] = min(1.0, max(base, target / having)) if having else base
        expected[slot] = rates[slot] * having
    return rates, expected


def _splits(rng: np.random.Generator, n: int) -> list[str]:
    """Exact 8:1:1 shares (valid and test get at least one each when n >= 3)."""
    n_valid = max(1 if n >= 3 else 0, int(round(n * SPLIT_SHARES[1])))
    n_test = max(1 if n >= 3 else 0, int(round(n * SPLIT_SHARES[2])))
    labels = ["valid"] * n_valid + ["test"] * n_test
    labels = ["train"] * (n - len(labels)) + labels
    return [labels[i] for i in rng.permutation(n)]


def _cids(rng: np.random.Generator, n: int) -> list[str]:
    nums = rng.choice(80_000_000, size=n, replace=False) + 150_000_000
    return [f"c_{x}" for x in nums]


def _draw_truth(cat, schema: Schema, r_vis: np.random.Generator, r_text: np.random.Generator) -> dict[str, str | None]:
    """A product's values: its image slots from the visual stream, its text slots from the text
    stream (every other slot None)."""
    truth: dict[str, str | None] = {k: None for k in schema.slot_keys}
    for slot in cat.image_slots:
        truth[slot] = DRAWABLE[slot][int(r_vis.integers(len(DRAWABLE[slot])))]
    for slot in cat.text_slots:
        options = TEXT_VALUES.get(cat.name, {}).get(slot, schema.slot(slot).values)
        truth[slot] = options[int(r_text.integers(len(options)))]
    return truth


def build_world(seed: int, scale: float, schema: Schema, mepave_scale: float = 1.0) -> World:
    for cat in schema.categories:
        missing = set(cat.image_slots) - set(SHAPE_SLOTS[CATEGORY_SHAPE[cat.name]])
        if missing:
            raise ValueError(f"the generator cannot draw image slots {sorted(missing)} of {cat.name}")
    r_struct = stream(seed, STREAM_STRUCTURE)
    r_vis = stream(seed, STREAM_VISUAL)
    r_text = stream(seed, STREAM_TEXT_VALUES)
    r_sent = stream(seed, STREAM_SENTENCES)
    sizes = category_sizes(scale, mepave_scale)
    rates, expected = mention_rates(schema, sizes)
    writer = SentenceWriter(schema, visual_slots=tuple(DRAWABLE), mention_rates=rates, expected_mentions=expected)
    n_other = max(2, int(round(2 * scale)))
    cids = _cids(r_struct, sum(p for p, _ in sizes.values()) + n_other)
    keys = schema.slot_keys

    products: list[Product] = []
    n_sentences: list[int] = []
    for cat in schema.categories:
        n_p, n_s = sizes[cat.name]
        extra = r_struct.multinomial(n_s - MIN_SENTENCES * n_p, np.full(n_p, 1.0 / n_p))
        splits = _splits(r_struct, n_p)
        shape = CATEGORY_SHAPE[cat.name]
        for i in range(n_p):
            truth = _draw_truth(cat, schema, r_vis, r_text)
            image_seed = int(r_vis.integers(2**62))
            products.append(Product(cids[len(products)], cat.name, splits[i], shape, truth, image_seed))
            n_sentences.append(MIN_SENTENCES + int(extra[i]))

    for p, n in zip(products, n_sentences):
        # the second colour a picture shows (trim, sole) may be named in text too
        second = accent_color(product_spec(p.shape, p.truth), p.image_seed)
        p.sentences = writer.product_sentences(r_sent, p.category, p.truth,
                                               schema.category(p.category).slots, n, second)

    r_other = stream(seed, STREAM_OTHER)
    others = []
    colors = tuple(PALETTE)
    for j in range(n_other):
        color = colors[int(r_other.integers(len(colors)))]
        truth = {k: None for k in keys}
        truth["color"] = color
        split = SPLITS[int(r_other.integers(3))]
        p = Product(cids[len(products) + j], None, split, "bag", truth, int(r_other.integers(2**62)))
        p.sentences = writer.bag_sentences(r_other, color, 2 + int(r_other.integers(2)))
        others.append(p)
    return World(products, others, _headless(seed, schema, sizes, writer, len(products)))


def _headless(seed: int, schema: Schema, sizes: dict[str, tuple[int, int]], writer: SentenceWriter,
              n_products: int) -> list[Product]:
    """Products whose one sentence names no product: a product's sentences without their title
    (brand, values, product word). A part a sentence names may still tell (裙长 only dresses have)."""
    rng = stream(seed, STREAM_HEADLESS)
    n = max(5, int(round(HEADLESS_SHARE * n_products)))
    names = [c.name for c in schema.categories]
    weights = np.array([sizes[c][0] for c in names], float)
    nums = rng.choice(10_000_000, size=n, replace=False) + 240_000_000      # apart from _cids' range
    splits = _splits(rng, n)
    out = []
    for j in range(n):
        cat = schema.category(names[int(rng.choice(len(names), p=weights / weights.sum()))])
        truth = _draw_truth(cat, schema, rng, rng)
        p = Product(f"c_{nums[j]}", cat.name, splits[j], CATEGORY_SHAPE[cat.name], truth, int(rng.integers(2**62)))
        second = accent_color(product_spec(p.shape, p.truth), p.image_seed)
        p.sentences = writer.product_sentences(rng, cat.name, truth, cat.slots, 2, second)[1:]
        out.append(p)
    return out

