"""Writes the synthetic MEPAVE release: three TSV splits and one image per cid, with bad records.

Good lines are ``cid \\t sid \\t raw \\t tagged`` with ``raw == tagged`` less its tags. The bad
records (listed in the manifest under ``injected.mepave``) are extra lines of existing products,
so no product loses its good sentences:

=====================  ============================================================
kind                   what the line / file holds
=====================  ============================================================
wrong_column_count     3 or 5 tab-separated columns
unbalanced_tag         ``<颜色>黑色</材质>``
unclosed_tag           ``<颜色>黑色`` with no close
nested_tag             ``<图案><颜色>红色</颜色>印花</图案>``
unknown_attribute      ``<尺码>XL</尺码>`` (not a MEPAVE attribute)
empty_value            ``<颜色></颜色>``
text_mismatch          column 3 differs from column 4 without its tags
duplicate_sid          a sid already used by another line
blank_line             an empty line
no_category            a product (bag) with no garment / shoe word (cids)
utf8_bom               a BOM at the start of the valid file
crlf_line_endings      CRLF line endings in the test file
image_missing ...      image problems, see ``IMAGE_KINDS``
=====================  ============================================================
"""

from __future__ import annotations

import numpy as np

from pipeline.schema import Schema
from pipeline.synth.draw import product_spec
from pipeline.synth.imagefiles import ImageJob
from pipeline.synth.layout import MEPAVE_FILE, SampleLayout
from pipeline.synth.text import strip_tags, tag
from pipeline.synth.world import SPLITS, World

LINE_KINDS = ("wrong_column_count", "unbalanced_tag", "unclosed_tag", "nested_tag",
              "unknown_attribute", "empty_value", "text_mismatch", "duplicate_sid", "blank_line")
#: kind -> special of imagefiles (None: no file at all); the last two must be converted, not rejected.
IMAGE_KINDS = {
    "image_missing": None, "image_empty": "empty", "image_truncated": "truncated",
    "image_corrupt": "corrupt", "image_too_small": ("tiny", "sliver"), "image_too_large": "huge",
    "image_cmyk": "cmyk", "image_grayscale": "gray",
}
BOM_SPLIT = "valid"
CRLF_SPLIT = "test"


def _bad_line(kind: str, rng: np.random.Generator, truth: dict, zh: dict[str, str]) -> tuple[list[str], str]:
    """Columns 3.. of a bad line (raw, tagged, ...) for a product with this truth."""
    color = truth["color"]
    c, m = zh["color"], zh["material"]
    if kind == "wrong_column_count":
        tagged = f"整体采用{tag(c, color)}"
        return ([strip_tags(tagged)] if rng.random() < 0.5
                else [strip_tags(tagged), tagged, "多余的一列"]), kind
    if kind == "unbalanced_tag":
        tagged = f"整体采用<{c}>{color}</{m}>"
    elif kind == "unclosed_tag":
        tagged = f"整体采用<{c}>{color}的配色"
    elif kind == "nested_tag":
        tagged = f"<{zh['pattern']}><{c}>{color}</{c}>印花</{zh['pattern']}>点缀"
    elif kind == "unknown_attribute":
        tagged = "<尺码>XL</尺码>码数齐全"
    elif kind == "empty_value":
        tagged = f"整体采用<{c}></{c}>的配色"
    elif kind == "text_mismatch":
        tagged = f"整体采用{tag(c, color)}的配色"
        return [strip_tags(tagged) + "呀", tagged], kind
    else:
        raise ValueError(kind)
    return [strip_tags(tagged), tagged], kind


def write_mepave(world: World, schema: Schema, layout: SampleLayout, seed_rng: np.random.Generator,
                 n_bad: int) -> tuple[list[ImageJob], dict, dict]:
    """Write the three TSV files; return the image jobs, counts and injected records."""
    rng = seed_rng
    zh = {s.key: s.zh for s in schema.slots}
    root = layout.root
    products = world.products + world.others + world.headless
    # Each line: [cid, sid or None, col3, col4, ...]; bad lines remember their kind.
    lines: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for p in products:
        for tagged in p.sentences:
            lines[p.split].append({"cols": [p.cid, None, strip_tags(tagged), tagged], "kind": None})
    n_good = sum(len(v) for v in lines.values())

    # Bad lines hang on random good products; spread over the splits by their products.
    pick = rng.choice(len(world.products), size=n_bad * (len(LINE_KINDS) - 1), replace=True)
    k = 0
    for kind in LINE_KINDS:
        if kind == "blank_line":
            continue
        for _ in range(n_bad):
            p = world.products[int(pick[k])]
            k += 1
            if kind == "duplicate_sid":
                twin = lines[p.split][int(rng.integers(len(lines[p.split])))]
                while twin["kind"] is not None:
                    twin = lines[p.split][int(rng.integers(len(lines[p.split])))]
                tagged = "细节处理精致"
                lines[p.split].append({"cols": [p.cid, None, tagged, tagged], "kind": kind, "twin": twin})
                continue
            cols, _ = _bad_line(kind, rng, p.truth, zh)
            lines[p.split].append({"cols": [p.cid, None, *cols], "kind": kind})

    # Shuffle each file, add blank lines, then number sids in file order.
    total = sum(len(v) for v in lines.values())
    sid_numbers = iter(rng.choice(total * 3 + 100, size=total, replace=False) + 1)
    files: dict[str, list[dict]] = {}
    for split in SPLITS:
        order = rng.permutation(len(lines[split]))
        out = [lines[split][i] for i in order]
        files[split] = out
    for _ in range(n_bad):
        split = SPLITS[int(rng.integers(len(SPLITS)))]
        pos = 1 + int(rng.integers(max(1, len(files[split]))))   # never the first line
        files[split].insert(pos, {"cols": None, "kind": "blank_line"})
    for split in SPLITS:
        for line in files[split]:
            if line["cols"] is not None and line["kind"] != "duplicate_sid":
                line["cols"][1] = f"s_{next(sid_numbers)}"
    for split in SPLITS:
        for line in files[split]:
            if line["kind"] == "duplicate_sid":
                line["cols"][1] = line["twin"]["cols"][1]

    injected: dict[str, list] = {kind: [] for kind in LINE_KINDS}
    layout.mepave_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rel = MEPAVE_FILE.format(split=split)
        eol = "\r\n" if split == CRLF_SPLIT else "\n"
        text = "".join(("" if l["cols"] is None else "\t".join(l["cols"])) + eol for l in files[split])
        if split == BOM_SPLIT:
            text = "\ufeff" + text
        (root / rel).write_bytes(text.encode("utf-8"))
        for i, line in enumerate(files[split], start=1):
            if line["kind"] is not None:
                rec = {"where": f"{rel}:{i}"}
                if line["cols"] is not None:
                    rec.update(cid=line["cols"][0], sid=line["cols"][1])
                injected[line["kind"]].append(rec)
    injected["utf8_bom"] = [{"where": MEPAVE_FILE.format(split=BOM_SPLIT)}]
    injected["crlf_line_endings"] = [{"where": MEPAVE_FILE.format(split=CRLF_SPLIT)}]
    injected["no_category"] = [{"where": MEPAVE_FILE.format(split=p.split), "cid": p.cid}
                               for p in world.others]

    # Images: one per cid; a few products get a missing, broken or odd-mode image.
    jobs: list[ImageJob] = []
    specials: dict[str, tuple[str, str | None]] = {}
    chosen = rng.choice(len(world.products), size=n_bad * len(IMAGE_KINDS), replace=False)
    for j, kind in enumerate(k for k in IMAGE_KINDS for _ in range(n_bad)):
        sp = IMAGE_KINDS[kind]
        if isinstance(sp, tuple):
            sp = sp[j % len(sp)]
        specials[world.products[int(chosen[j])].cid] = (kind, sp)
    for kind in IMAGE_KINDS:
        injected[kind] = []
    for p in products:
        rel = layout.rel(layout.mepave_image(p.cid))
        kind, sp = specials.get(p.cid, (None, None))
        if kind is not None:
            injected[kind].append({"where": rel, "cid": p.cid})
        if kind == "image_missing":
            continue
        jobs.append(ImageJob(rel, product_spec(p.shape, p.truth, "mepave"), p.image_seed, sp))

    named = world.products + world.headless          # the products of the five categories
    counts = {
        "products": len(named),
        "other_products": len(world.others),
        "headless_products": len(world.headless),
        "sentences": n_good - sum(len(p.sentences) for p in world.others),
        "lines": sum(1 for v in files.values() for l in v if l["cols"] is not None),
        "blank_lines": n_bad,
        "images": len(jobs),
        "products_per_split": {s: sum(p.split == s for p in named) for s in SPLITS},
        "products_per_category": {c: sum(p.category == c for p in named)
                                  for c in dict.fromkeys(p.category for p in world.products)},
    }
    return jobs, counts, injected
