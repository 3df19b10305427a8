"""The synthetic world generator: determinism, pixels, formats and injected bad records."""

from __future__ import annotations

import collections
import csv
import hashlib
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.images import check_image
from pipeline.schema import default_schema
from pipeline.synth import SampleLayout, generate_sample
from pipeline.synth import draw, generate, mepave, text, vision
from pipeline.synth.draw import DRAWABLE, PALETTE, VISUAL_SLOTS, ImageSpec, render, render_product
from pipeline.synth.world import CATEGORY_FLOOR, CATEGORY_SHAPE, TABLE_V, build_world, category_sizes, mention_rates

SCALE = 0.1
SCHEMA = default_schema()
TAG = re.compile(r"<(/?)([^<>/]*)>")


def _hashes(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[SampleLayout, dict]:
    root = tmp_path_factory.mktemp("sample")
    manifest = generate_sample(root, seed=7, scale=SCALE)
    return SampleLayout(root), manifest


# ---- determinism and publishing --------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    generate_sample(tmp_path / "a", seed=1, scale=0.05)
    a = _hashes(tmp_path / "a")
    generate_sample(tmp_path / "b", seed=1, scale=0.05, workers=2)   # a pool gives the same bytes
    b = _hashes(tmp_path / "b")
    assert a == b and len(a) > 300
    generate_sample(tmp_path / "c", seed=2, scale=0.05)
    c = _hashes(tmp_path / "c")
    for rel in ("mepave/jdai.jave.fashion.train", "truth.parquet", "fashionai/Annotations/label.csv",
                "utzap50k/ut-zap50k-data/meta-data.csv", "ifashion/train.json", "crawl/manifest.csv"):
        assert a[rel] != c[rel], rel


def test_mepave_scale_grows_mepave_alone(tmp_path):
    """The MEPAVE knob: 1.0 changes no source file; 3.0 sizes the MEPAVE world as scale 3x would
    (below the per-category floors that is less than 3x), with the same vision sources and the
    same bad records."""
    generate_sample(tmp_path / "a", seed=1, scale=0.05)
    generate_sample(tmp_path / "one", seed=1, scale=0.05, mepave_scale=1.0)
    generate_sample(tmp_path / "three", seed=1, scale=0.05, mepave_scale=3.0)
    a, one, three = (_hashes(tmp_path / n) for n in ("a", "one", "three"))
    assert {k: v for k, v in a.items() if k != "sample.json"} == {k: v for k, v in one.items() if k != "sample.json"}
    vision = [k for k in a if k.split("/")[0] in ("fashionai", "utzap50k", "ifashion", "crawl")]
    assert vision and all(a[k] == three[k] for k in vision)
    counts = [json.loads((tmp_path / n / "sample.json").read_text())["counts"]["mepave"] for n in ("a", "three")]
    for count, knob in zip(counts, (1.0, 3.0)):                # the MEPAVE world sized at scale and knob
        sizes = category_sizes(0.05, knob).values()
        headless = count["headless_products"]                   # one sentence each, naming no product
        assert count["products"] == sum(p for p, _ in sizes) + headless
        assert count["sentences"] == sum(n for _, n in sizes) + headless
    assert counts[1]["products"] > counts[0]["products"] and counts[1]["sentences"] > counts[0]["sentences"]
    injected = [json.loads((tmp_path / n / "sample.json").read_text())["injected"]["mepave"] for n in ("a", "three")]
    assert {k: len(v) for k, v in injected[0].items()} == {k: len(v) for k, v in injected[1].items()}


def test_manifest_is_returned_and_written_last(sample):
    layout, manifest = sample
    assert layout.exists()
    assert json.loads(layout.manifest.read_text(encoding="utf-8")) == manifest
    assert manifest["seed"] == 7 and manifest["scale"] == SCALE
    for rel in manifest["paths"].values():
        assert (layout.root / rel).exists(), rel
    assert not [p for p in layout.root.iterdir() if p.name.startswith(".tmp-")]


def test_failed_generation_keeps_the_old_sample_and_leaves_no_temp(tmp_path, monkeypatch):
    old = generate_sample(tmp_path, seed=1, scale=0.05)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate, "run_jobs", boom)
    with pytest.raises(RuntimeError):
        generate_sample(tmp_path, seed=2, scale=0.05)
    assert json.loads((tmp_path / "sample.json").read_text(encoding="utf-8")) == old
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_regenerating_replaces_everything(tmp_path):
    generate_sample(tmp_path / "x", seed=1, scale=0.1)
    generate_sample(tmp_path / "x", seed=2, scale=0.05)
    generate_sample(tmp_path / "fresh", seed=2, scale=0.05)
    assert _hashes(tmp_path / "x") == _hashes(tmp_path / "fresh")


# ---- sizes ---------------------------------------------------------------------------------

def test_scale_66_is_the_papers_table_v():
    sizes = category_sizes(66)
    assert {c: s for c, s in sizes.items()} == TABLE_V
    assert sum(s for _, s in sizes.values()) == 79_120


def test_world_matches_sizes_and_proportions():
    world = build_world(0, 1.0, SCHEMA)
    sizes = category_sizes(1.0)
    per_cat = collections.Counter(p.category for p in world.products)
    for cat, (n_p, n_s) in sizes.items():
        assert per_cat[cat] == n_p == CATEGORY_FLOOR        # Table V's scale-1 sizes are all below the floor
        assert sum(len(p.sentences) for p in world.products if p.category == cat) == n_s
        assert n_s == round(n_p * TABLE_V[cat][1] / TABLE_V[cat][0])   # Table V's sentences per product
    assert all(len(p.sentences) >= 2 for p in world.products)
    grown = category_sizes(20.0)                           # above the floor, Table V's proportions
    assert grown["Clothes"][0] == round(12240 * 20 / 66) and grown["Boots"][0] == CATEGORY_FLOOR
    assert category_sizes(0.05)["Boots"][0] == round(CATEGORY_FLOOR * 0.05)   # the floor shrinks with small samples


def test_rare_slots_are_named_more_often_and_every_slot_has_validation_support():
    """Mention rates even out (a slot only Boots have is named by every boot), and the default
    world gives each of the 25 slots at least 30 validation mentions, what saliency needs."""
    sizes = category_sizes(1.0)
    rates, _ = mention_rates(SCHEMA, sizes)
    assert rates["boot_shaft_height"] == rates["pant_length"] == rates["skirt_length"] == 1.0
    assert rates["color"] == text.VISUAL_MENTION_RATE and rates["material"] == text.TEXT_MENTION_RATE
    assert all(r >= min(text.VISUAL_MENTION_RATE, text.TEXT_MENTION_RATE) for r in rates.values())
    world = build_world(0, 1.0, SCHEMA)
    zh2key = {s.zh: s.key for s in SCHEMA.slots}
    support = collections.Counter(zh2key[m.group(1)] for p in world.products if p.split == "valid"
                                  for sentence in p.sentences for m in re.finditer(r"<([^<>/]+)>", sentence))
    assert set(support) == set(SCHEMA.slot_keys) and min(support.values()) >= 30, support.most_common()[-3:]


# ---- the visual attributes are in the pixels ------------------------------------------------

BASE = {"color": "红色", "neckline": "圆领", "sleeve_length": "短袖", "skirt_length": "及膝裙",
        "pant_length": "七分裤", "toecap": "圆头", "closure": "系带", "heel_height": "中跟",
        "upper_height": "中帮"}
SEEDS = range(12)


def _area(spec: ImageSpec, seed: int, part: str) -> float:
    _, masks = render(spec, seed, parts=True)
    return float(masks.get(part, np.zeros(1)).sum()) / 255


@pytest.mark.parametrize("shape,slot,part", [
    ("top", "sleeve_length", "sleeve"), ("dress", "sleeve_length", "sleeve"),
    ("dress", "skirt_length", "skirt"), ("pants", "pant_length", "leg"),
    ("shoe", "heel_height", "heel"), ("boot", "heel_height", "heel"),
    ("shoe", "upper_height", "upper"),
])
def test_length_slots_grow_their_pixels(shape, slot, part):
    for seed in SEEDS:
        areas = [_area(ImageSpec(shape, {**BASE, slot: v}), seed, part) for v in DRAWABLE[slot]]
        assert all(a < b for a, b in zip(areas, areas[1:])), (seed, areas)
        objects = [_area(ImageSpec(shape, {**BASE, slot: v}), seed, "object") for v in DRAWABLE[slot]]
        assert objects[0] < objects[-1]


@pytest.mark.parametrize("shape", ["top", "dress", "pants", "shoe", "boot"])
def test_mean_colour_inside_the_garment_names_the_colour(shape):
    import cv2
    part = {"top": "body", "dress": "skirt", "pants": "hip", "shoe": "upper", "boot": "upper"}[shape]
    for value, rgb in PALETTE.items():
        for seed in range(4):
            img, masks = render(ImageSpec(shape, {**BASE, "color": value}), seed, parts=True)
            # keep the part's interior: away from seams and closure marks
            inside = cv2.erode((masks[part] == 255).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            if "mark" in masks:
                inside &= masks["mark"] == 0
            mean = img[inside].mean(axis=0)
            nearest = min(PALETTE, key=lambda k: np.linalg.norm(mean - np.array(PALETTE[k])))
            assert nearest == value, (shape, value, seed, mean)


@pytest.mark.parametrize("shape,slot", [("top", "neckline"), ("dress", "neckline"),
                                        ("shoe", "toecap"), ("boot", "toecap"), ("shoe", "closure"),
                                        ("boot", "closure")])
def test_shape_slots_change_the_picture(shape, slot):
    for seed in range(6):
        imgs = {v: render(ImageSpec(shape, {**BASE, slot: v}), seed) for v in DRAWABLE[slot]}
        for a in imgs:
            for b in imgs:
                if a < b:
                    diff = np.abs(imgs[a].astype(int) - imgs[b].astype(int)).max(axis=2)
                    assert (diff > 40).sum() >= 15, (shape, slot, a, b, seed)


def test_text_slots_never_reach_the_pixels():
    for cat in SCHEMA.categories:
        shape = CATEGORY_SHAPE[cat.name]
        truth = {k: None for k in SCHEMA.slot_keys}
        truth.update({s: DRAWABLE[s][0] for s in cat.image_slots})
        truth.update({s: SCHEMA.slot(s).values[0] for s in cat.text_slots})
        ref = render_product(shape, truth, seed=11)
        for slot in cat.text_slots:
            for value in SCHEMA.slot(slot).values[1:]:
                other = render_product(shape, {**truth, slot: value}, seed=11)
                assert np.array_equal(ref, other), (cat.name, slot, value)
        # slots of other categories, even visual ones, are ignored too
        foreign = {s: DRAWABLE[s][-1] for s in VISUAL_SLOTS if s not in cat.image_slots}
        assert np.array_equal(ref, render_product(shape, {**truth, **foreign}, seed=11))


def test_utzap50k_shoes_face_one_way_mepave_shoes_many():
    def toe_left(domain, seed):
        _, m = render(ImageSpec("shoe", {**BASE, "heel_height": "高跟"}, domain), seed, parts=True)
        heel_x = np.nonzero(m["heel"])[1].mean()
        obj_x = np.nonzero(m["object"])[1].mean()
        return heel_x > obj_x
    assert all(toe_left("utzap50k", s) for s in range(30))
    mepave_sides = {toe_left("mepave", s) for s in range(30)}
    assert mepave_sides == {True, False}


def test_shoe_views_of_mepave_include_three_quarter():
    views = [draw.DOMAINS["mepave"].views[int(np.random.default_rng(s).random(32)[28] * 4)] for s in range(40)]
    assert {"left", "right", "three_quarter_left", "three_quarter_right"} == set(views)
    assert draw.DOMAINS["utzap50k"].views == ("left",)


# ---- text ----------------------------------------------------------------------------------

def _category_of(raw: str) -> str | None:
    """The keyword rule of categories.yaml: longest keyword first, each character used once,
    ties to the category listed first, ``other`` last."""
    entries = [(k, c.name, i) for i, c in enumerate(SCHEMA.categories) for k in c.keywords]
    entries += [(k, "other", len(SCHEMA.categories)) for k in SCHEMA.other_keywords]
    used = [False] * len(raw)
    score: collections.Counter = collections.Counter()
    for kw, cat, _ in sorted(entries, key=lambda e: (-len(e[0]), e[2])):
        start = raw.find(kw)
        while start >= 0:
            if not any(used[start:start + len(kw)]):
                used[start:start + len(kw)] = [True] * len(kw)
                score[cat] += 1
            start = raw.find(kw, start + 1)
    if not score:
        return None
    order = {c: i for _, c, i in entries}
    best = max(score, key=lambda c: (score[c], -order[c]))
    return None if best == "other" else best


def test_fixed_strings_name_no_category():
    keywords = [k for c in SCHEMA.categories for k in c.keywords] + list(SCHEMA.other_keywords)
    for s in text.all_fixed_strings():
        assert not [k for k in keywords if k in s], s
    for cat, words in text.PRODUCT_WORDS.items():
        for w in words:
            assert _category_of(w) == cat, w
    for w in text.OTHER_PRODUCT_WORDS:
        assert _category_of(w) is None


def test_every_text_value_has_a_cue_and_cues_are_unique():
    for slot in SCHEMA.slot_keys:
        if slot in VISUAL_SLOTS:
            continue
        cues = text.CUES[slot]
        assert set(cues) == set(SCHEMA.slot(slot).values), slot
        flat = [c for cs in cues.values() for c in cs]
        assert len(flat) == len(set(flat)), slot


def _masked(sentences: list[str], zh: str) -> list[str]:
    return [re.sub(rf"<{zh}>[^<>]*</{zh}>", "[MASK]", s) for s in sentences]


def test_visual_values_do_not_change_the_words_around_them():
    writer = text.SentenceWriter(SCHEMA, VISUAL_SLOTS, visual_mention_rate=1.0)
    for cat in SCHEMA.categories:
        truth = {k: None for k in SCHEMA.slot_keys}
        truth.update({s: DRAWABLE[s][0] for s in cat.image_slots})
        truth.update({s: SCHEMA.slot(s).values[0] for s in cat.text_slots})
        for slot in cat.image_slots:
            ref = None
            for value in DRAWABLE[slot]:
                out = writer.product_sentences(np.random.default_rng(5), cat.name, {**truth, slot: value},
                                               cat.slots, 4)
                masked = _masked(out, SCHEMA.slot(slot).zh)
                assert any("[MASK]" in s for s in masked)
                ref = ref or masked
                assert masked == ref, (cat.name, slot, value)


def test_text_context_recovers_text_values_not_visual_ones():
    """A naive Bayes on the words around a masked value: the saliency premise in miniature."""
    world = build_world(0, 3.0, SCHEMA)
    zh2key = {s.zh: s.key for s in SCHEMA.slots}
    pair = re.compile(r"<([^<>/]+)>([^<>]*)</\1>")

    def examples(splits):
        for p in world.products:
            if p.split in splits:
                for s in p.sentences:
                    for m in pair.finditer(s):
                        slot = zh2key[m.group(1)]
                        ctx = text.strip_tags(s[:m.start()]) + "[M]" + text.strip_tags(s[m.end():])
                        yield slot, SCHEMA.normalize_value(slot, m.group(2)), {ctx[i:i + 2] for i in range(len(ctx) - 1)}

    counts = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    prior = collections.defaultdict(collections.Counter)
    for slot, value, feats in examples({"train"}):
        prior[slot][value] += 1
        counts[slot][value].update(feats)
    hits = collections.defaultdict(list)
    for slot, value, feats in examples({"valid", "test"}):
        guess = max(prior[slot], key=lambda c: math.log(prior[slot][c]) + sum(
            math.log((counts[slot][c][f] + 0.1) / (prior[slot][c] + 1)) for f in feats))
        hits[slot].append(guess == value)
    lift = {s: np.mean(h) - 1 / len(prior[s]) for s, h in hits.items() if len(h) >= 20}
    text_lift = np.mean([v for s, v in lift.items() if s not in VISUAL_SLOTS])
    visual_lift = np.mean([v for s, v in lift.items() if s in VISUAL_SLOTS])
    assert text_lift > 0.25 and visual_lift < 0.08, lift


# ---- formats -------------------------------------------------------------------------------

def _injected_where(manifest: dict, source: str) -> set[str]:
    return {r["where"] for recs in manifest["injected"][source].values() for r in recs}


def _read_mepave(layout: SampleLayout) -> dict[str, list[str]]:
    out = {}
    for split in ("train", "valid", "test"):
        data = layout.mepave_file(split).read_bytes().decode("utf-8")
        out[split] = data.lstrip("\ufeff").replace("\r\n", "\n").split("\n")[:-1]
    return out


def _tags_ok(tagged: str) -> bool:
    open_tag = None
    attrs = SCHEMA.mepave_attributes
    pos = 0
    for m in TAG.finditer(tagged):
        close, name = m.group(1) == "/", m.group(2)
        if name not in attrs:
            return False
        if not close:
            if open_tag is not None:
                return False
            open_tag, pos = name, m.end()
        else:
            if open_tag != name or m.start() == pos:
                return False
            open_tag = None
    return open_tag is None


def test_mepave_tsv_format(sample):
    layout, manifest = sample
    bad = _injected_where(manifest, "mepave")
    truth = pq.read_table(layout.truth).to_pandas().set_index("cid")
    seen_sids, words = set(), collections.defaultdict(str)
    for split, lines in _read_mepave(layout).items():
        rel = layout.rel(layout.mepave_file(split))
        for n, line in enumerate(lines, start=1):
            if f"{rel}:{n}" in bad:
                continue
            cols = line.split("\t")
            assert len(cols) == 4, line
            cid, sid, raw, tagged = cols
            assert re.fullmatch(r"c_\d{9}", cid) and re.fullmatch(r"s_\d+", sid)
            assert raw == text.strip_tags(tagged) and _tags_ok(tagged), line
            assert sid not in seen_sids
            seen_sids.add(sid)
            words[cid] += raw
            if cid in truth.index:
                assert truth.loc[cid, "split"] == split
    # the keyword rule finds every product's category from its sentences, and none for bags;
    # a headless product's one sentence names no product word (a part it names may still tell)
    for cid, row in truth.iterrows():
        found = _category_of(words[cid])
        assert found == row["category"] or (row["names_product"] == "false" and found is None), (cid, words[cid])
    assert (truth["names_product"] == "false").sum() == manifest["counts"]["mepave"]["headless_products"] > 0
    for rec in manifest["injected"]["mepave"]["no_category"]:
        assert words[rec["cid"]] and _category_of(words[rec["cid"]]) is None
    assert layout.mepave_file("valid").read_bytes().startswith("\ufeff".encode())
    assert b"\r\n" in layout.mepave_file("test").read_bytes()
    assert b"\r\n" not in layout.mepave_file("train").read_bytes()
    n_bad_lines = sum(len(manifest["injected"]["mepave"][k]) for k in mepave.LINE_KINDS if k != "blank_line")
    assert len(seen_sids) == manifest["counts"]["mepave"]["lines"] - n_bad_lines
    assert len(seen_sids) > manifest["counts"]["mepave"]["sentences"]    # + the bag's sentences


def test_mepave_sentence_and_image_counts(sample):
    layout, manifest = sample
    truth = pq.read_table(layout.truth).to_pandas()
    c = manifest["counts"]["mepave"]
    assert c["products"] == len(truth)
    missing = {r["cid"] for r in manifest["injected"]["mepave"]["image_missing"]}
    others = {r["cid"] for r in manifest["injected"]["mepave"]["no_category"]}
    for cid in list(truth["cid"]) + sorted(others):
        assert layout.mepave_image(cid).exists() == (cid not in missing), cid
    assert len(list(layout.mepave_images.iterdir())) == c["images"]


def test_truth_parquet(sample):
    layout, _ = sample
    table = pq.read_table(layout.truth)
    assert table.column_names == ["cid", "category", "split", "names_product"] + list(SCHEMA.slot_keys)
    rows = table.to_pylist()
    assert len({r["cid"] for r in rows}) == len(rows)
    assert {r["split"] for r in rows} == {"train", "valid", "test"}
    for row in rows:
        cat = SCHEMA.category(row["category"])
        for key in SCHEMA.slot_keys:
            if key in cat.slots:
                allowed = DRAWABLE[key] if key in cat.image_slots else SCHEMA.slot(key).values
                assert row[key] in allowed, (key, row[key])
            else:
                assert row[key] is None, key


def test_fashionai_format(sample):
    layout, manifest = sample
    bad = _injected_where(manifest, "fashionai")
    rel = layout.rel(layout.fashionai_labels)
    rows = list(csv.reader(io.StringIO(layout.fashionai_labels.read_text(encoding="utf-8"))))
    tasks = collections.Counter()
    for n, fields in enumerate(rows, start=1):
        if f"{rel}:{n}" in bad:
            continue
        path, task, marks = fields
        assert len(marks) == len(vision.FASHIONAI_TASKS[task]) and marks.count("y") == 1
        assert set(marks) <= set("ymn")
        assert re.fullmatch(rf"Images/{task}/[0-9a-f]{{32}}\.jpg", path)
        assert (layout.fashionai_root / path).is_file()
        tasks[task] += 1
    assert tasks.most_common(1)[0][0] == "sleeve_length_labels"
    assert set(tasks) == set(vision.FASHIONAI_TASKS)


def test_utzap50k_format(sample):
    layout, manifest = sample
    text_ = layout.utzap50k_meta.read_text(encoding="utf-8")
    assert text_.split("\n", 1)[0] == "CID,Category,SubCategory,HeelHeight,Insole,Closure,Gender,Material,ToeStyle"
    bad = _injected_where(manifest, "utzap50k")
    rel = layout.rel(layout.utzap50k_meta)
    heels = {h[0] for h in vision.UT_HEELS}
    multi = collections.Counter()
    for n, row in enumerate(csv.DictReader(io.StringIO(text_)), start=2):
        if f"{rel}:{n}" in bad:
            continue
        a, b = row["CID"].split("-")
        image = (layout.utzap50k_images / row["Category"] / row["SubCategory"])
        assert list(image.glob(f"*/{a}.{b}.jpg")), row["CID"]
        assert row["HeelHeight"] in heels
        for task in ("Closure", "ToeStyle", "Material", "Gender"):
            multi[task] += ";" in row[task]
    assert all(multi[t] > 0 for t in ("Closure", "ToeStyle", "Material"))
    cats = manifest["counts"]["utzap50k"]["per_category"]
    assert cats["Shoes"] > cats["Boots"] > max(cats["Sandals"], cats["Slippers"]) > 0


def test_ifashion_format(sample):
    layout, manifest = sample
    assert layout.ifashion_label_map.read_bytes() == (Path(vision.CONFIG_DIR) / "imat_label_map_228.csv").read_bytes()
    ids = vision.load_label_map(layout.ifashion_label_map)
    known = set(ids.values())
    groups = {lid: g for (g, _), lid in ids.items()}
    bad = {r["imageId"] for recs in manifest["injected"]["ifashion"].values() for r in recs}
    seen, multi_color = set(), 0
    for split in ("train", "validation"):
        data = json.loads(layout.ifashion_split(split).read_text(encoding="utf-8"))
        for entry in data["images"]:
            assert isinstance(entry["imageId"], str)
        for ann in data["annotations"]:
            if ann["imageId"] in bad:
                continue
            assert ann["imageId"] not in seen
            seen.add(ann["imageId"])
            assert all(isinstance(x, str) and x in known for x in ann["labelId"])
            assert (layout.ifashion_images / f"{ann['imageId']}.jpg").is_file()
            multi_color += sum(groups[x] == "color" for x in ann["labelId"]) > 1
    assert multi_color > 0
    test = json.loads(layout.ifashion_split("test").read_text(encoding="utf-8"))
    assert set(test) == {"images"} and test["images"]


def test_crawl_format(sample):
    layout, manifest = sample
    rows = list(csv.DictReader(io.StringIO(layout.crawl_manifest.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["path", "label", "url", "query"]
    folders = {p.name for p in (layout.crawl_root / "upper_height").iterdir()}
    assert {"低帮", "中帮", "高帮"} <= folders


def test_every_source_label_comes_from_the_value_maps_or_is_deliberately_unmapped(sample):
    _, manifest = sample
    for source in ("fashionai", "utzap50k", "ifashion", "crawl"):
        unmapped = manifest["counts"][source]["unmapped_labels"]
        assert unmapped, source
    assert "sleeve_length_labels/Invisible" in manifest["counts"]["fashionai"]["unmapped_labels"]
    assert "ToeStyle/Closed Toe" in manifest["counts"]["utzap50k"]["unmapped_labels"]


def test_label_noise_is_about_the_configured_share(sample):
    _, manifest = sample
    fa = manifest["counts"]["fashionai"]["rows"]
    share = len(manifest["noisy_labels"]["fashionai"]) / fa
    assert 0.01 < share < 0.12


# ---- injected bad records ------------------------------------------------------------------

EXPECTED_KINDS = {
    "mepave": set(mepave.LINE_KINDS) | set(mepave.IMAGE_KINDS) | {"utf8_bom", "crlf_line_endings", "no_category"},
    "fashionai": set(vision.IMAGE_KINDS) | set(vision.FA_LINE_KINDS),
    "utzap50k": set(vision.IMAGE_KINDS) | set(vision.UT_LINE_KINDS),
    "ifashion": set(vision.IMAGE_KINDS) | set(vision.IF_JSON_KINDS),
    "crawl": set(vision.CRAWL_KINDS),
}


def test_every_injected_kind_is_present(sample):
    _, manifest = sample
    assert set(manifest["injected"]) == set(EXPECTED_KINDS)
    for source, kinds in EXPECTED_KINDS.items():
        got = manifest["injected"][source]
        assert set(got) == kinds, source
        assert all(got[k] for k in kinds), [k for k in kinds if not got[k]]


IMAGE_REASON = {"image_empty": "image_empty", "image_truncated": "image_truncated",
                "image_corrupt": "image_corrupt", "image_too_small": "image_too_small",
                "image_too_large": "image_too_large"}
CONVERTED_MODE = {"image_cmyk": "CMYK", "image_grayscale": "L", "image_rgba_png": "RGBA",
                  "image_palette_png": "P"}


def _image_path(layout: SampleLayout, source: str, rec: dict) -> Path:
    if source == "mepave":
        return layout.mepave_image(rec["cid"])
    if source == "fashionai":
        return layout.fashionai_root / rec["image"]
    if source == "utzap50k":
        a, b = rec["cid"].split("-")
        return next(iter(layout.utzap50k_images.glob(f"*/*/*/{a}.{b}.jpg")), layout.root / "none")
    if source == "ifashion":
        return layout.ifashion_images / f"{rec['imageId']}.jpg"
    return layout.crawl_root / rec["path"]


def test_injected_images_are_what_they_claim(sample):
    layout, manifest = sample
    for source, kinds in manifest["injected"].items():
        for kind, recs in kinds.items():
            for rec in recs:
                if kind == "image_missing":
                    assert not _image_path(layout, source, rec).exists(), rec
                elif kind in IMAGE_REASON:
                    assert check_image(_image_path(layout, source, rec)).reason == IMAGE_REASON[kind], rec
                elif kind in CONVERTED_MODE:
                    check = check_image(_image_path(layout, source, rec))
                    assert check.ok and check.mode == CONVERTED_MODE[kind], (rec, check)
    sizes = {Image.open(layout.mepave_image(r["cid"])).size
             for r in manifest["injected"]["mepave"]["image_too_small"]}
    assert sizes <= {(8, 8), (1, 4000)}


def test_injected_mepave_lines_are_what_they_claim(sample):
    layout, manifest = sample
    files = {layout.rel(layout.mepave_file(s)): lines for s, lines in _read_mepave(layout).items()}
    sids = collections.Counter(l.split("\t")[1] for ls in files.values() for l in ls if l)
    for kind, recs in manifest["injected"]["mepave"].items():
        for rec in recs:
            if ":" not in rec["where"]:
                continue
            rel, n = rec["where"].rsplit(":", 1)
            line = files[rel][int(n) - 1]
            cols = line.split("\t")
            if kind == "blank_line":
                assert line == ""
            elif kind == "wrong_column_count":
                assert len(cols) != 4
            elif kind == "duplicate_sid":
                assert sids[cols[1]] == 2
            elif kind == "text_mismatch":
                assert cols[2] != text.strip_tags(cols[3])
            elif kind.startswith("image_"):
                continue
            else:
                assert len(cols) == 4 and cols[2] == text.strip_tags(cols[3]) and not _tags_ok(cols[3]), (kind, line)
    # the product of no category has no keyword of the five categories
    keywords = [k for c in SCHEMA.categories for k in c.keywords]
    for rec in manifest["injected"]["mepave"]["no_category"]:
        raw = "".join(l.split("\t")[2] for ls in files.values() for l in ls if l.startswith(rec["cid"] + "\t"))
        assert raw and not [k for k in keywords if k in raw]


def test_injected_fashionai_lines_are_what_they_claim(sample):
    layout, manifest = sample
    rows = list(csv.reader(io.StringIO(layout.fashionai_labels.read_text(encoding="utf-8"))))
    checks = {
        "wrong_column_count": lambda f: len(f) != 3,
        "wrong_label_length": lambda f: len(f[2]) != len(vision.FASHIONAI_TASKS[f[1]]),
        "no_positive_label": lambda f: "y" not in f[2],
        "multiple_positive_labels": lambda f: f[2].count("y") > 1,
        "unknown_task": lambda f: f[1] not in vision.FASHIONAI_TASKS,
        "invalid_label_char": lambda f: not set(f[2]) <= set("ymn"),
        "duplicate_record": lambda f: sum(r[:2] == f[:2] for r in rows) == 2,
    }
    for kind, check in checks.items():
        for rec in manifest["injected"]["fashionai"][kind]:
            assert check(rows[int(rec["where"].rsplit(":", 1)[1]) - 1]), (kind, rec)
