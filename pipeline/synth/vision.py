"""Writes the four distant-supervision sources in their own formats and label names.

Each source labels pictures drawn by :mod:`pipeline.synth.draw` with the source's own label
for the value the picture shows, found by inverting ``value_maps.csv`` (so a relabelling in
the config flows through). Some labels map to nothing on purpose (FashionAI ``Invisible``,
UT-ZAP50K ``Closed Toe`` / ``Capped Toe`` / ``Ankle Strap``, iFashion ``Teal`` and material /
pattern ids, a crawl folder ``超高帮``). A share ``label_noise`` of labels is replaced by another
label of the same task (listed in the manifest under ``label_noise``), and each source gets a
few bad records of every kind its reader rejects (listed under ``injected``).

Every writer returns ``(jobs, counts, injected, noisy)``; ``counts["valid_rows"]`` is the number
of rows the source's reader should keep (one per image and task present).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np

from pipeline.schema import CONFIG_DIR, Schema
from pipeline.synth.draw import DRAWABLE, EXTRA_COLORS, PALETTE, VISUAL_SLOTS, ImageSpec
from pipeline.synth.imagefiles import ImageJob
from pipeline.synth.layout import SampleLayout

# Image problems every vision source gets (special of imagefiles); the last two are accepted.
IMAGE_KINDS = {"image_missing": None, "image_empty": "empty", "image_truncated": "truncated",
               "image_corrupt": "corrupt", "image_cmyk": "cmyk", "image_grayscale": "gray"}
ACCEPTED_IMAGE_KINDS = ("image_cmyk", "image_grayscale")
MAYBE_RATE = 0.15           # FashionAI rows with one extra 'm' position
MIN_PER_TASK = 8


def _inverse(schema: Schema, source: str, task: str) -> dict[str, list[str]]:
    """MAVP value -> the source's labels for it (value_maps.csv read backwards)."""
    out: dict[str, list[str]] = {}
    for (t, label), entry in sorted(schema.value_map(source, task).items()):
        out.setdefault(entry.value, []).append(label)
    return out


def _pick(rng: np.random.Generator, options):
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _random_values(rng: np.random.Generator) -> dict[str, str]:
    """A value for every visual slot (the shape decides which ones show)."""
    return {slot: _pick(rng, DRAWABLE[slot]) for slot in VISUAL_SLOTS}


def _n(base: float, scale: float, minimum: int = MIN_PER_TASK) -> int:
    return max(minimum, int(round(base * scale)))


def _hex(*parts) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def _csv_text(rows, header=None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _insert_at_random(rng, lines: list, extra: list, after: dict[int, object] | None = None) -> list:
    """Insert each item of ``extra`` at a random position; ``after[i]`` is an item of ``lines``
    that extra item i must follow (a duplicate comes after its original)."""
    out = list(lines)
    for i, item in enumerate(extra):
        lo = 0
        if after and i in after:
            lo = next(k for k, x in enumerate(out) if x is after[i]) + 1
        out.insert(lo + int(rng.integers(len(out) - lo + 1)), item)
    return out


# =========================================================================== FashionAI =======

FASHIONAI_TASKS: dict[str, tuple[str, ...]] = {
    "skirt_length_labels": ("Invisible", "Short Length", "Knee Length", "Midi Length", "Ankle Length",
                            "Floor Length"),
    "coat_length_labels": ("Invisible", "High Waist Length", "Regular Length", "Long Length",
                           "Micro Length", "Knee Length", "Midi Length", "Ankle&Floor Length"),
    "collar_design_labels": ("Invisible", "Shirt Collar", "Peter Pan", "Puritan Collar", "Rib Collar"),
    "lapel_design_labels": ("Invisible", "Notched", "Collarless", "Shawl Collar", "Plus Size Shawl"),
    "neck_design_labels": ("Invisible", "Turtle Neck", "Ruffle Semi-High Collar", "Low Turtle Neck",
                           "Draped Collar"),
    "neckline_design_labels": ("Invisible", "Strapless Neck", "Deep V Neckline", "Straight Neck",
                               "V Neckline", "Square Neckline", "Off Shoulder", "Round Neckline",
                               "Sweat Heart Neck", "One Shoulder Neckline"),
    "pant_length_labels": ("Invisible", "Short Pant", "Mid Length", "3/4 Length", "Cropped Pant",
                           "Full Length"),
    "sleeve_length_labels": ("Invisible", "Sleeveless", "Cup Sleeves", "Short Sleeves", "Elbow Sleeves",
                             "3/4 Sleeves", "Wrist Length", "Long Sleeves", "Extra Long Sleeves"),
}
# task -> (images at scale 1, shapes showing it, slot, share drawn 'Invisible', shape then)
# collar / lapel: nothing drawable has a mapped label, so their images are all 'Invisible';
# coat_length has no value map at all (a task that maps to nothing).
_FA_PLAN = {
    "sleeve_length_labels": (500, ("top", "top", "dress"), "sleeve_length", 0.03, "pants"),
    "neckline_design_labels": (420, ("top", "dress"), "neckline", 0.03, "pants"),
    "neck_design_labels": (150, ("top", "dress"), "neckline", 0.25, "pants"),
    "skirt_length_labels": (380, ("dress",), "skirt_length", 0.03, "top"),
    "pant_length_labels": (380, ("pants",), "pant_length", 0.03, "top"),
    "collar_design_labels": (50, ("top", "dress"), None, 1.0, None),
    "lapel_design_labels": (50, ("top", "dress"), None, 1.0, None),
    "coat_length_labels": (70, ("top",), None, 0.0, None),
}
FA_LINE_KINDS = ("wrong_column_count", "wrong_label_length", "no_positive_label",
                 "multiple_positive_labels", "unknown_task", "invalid_label_char", "duplicate_record")


def write_fashionai(schema: Schema, layout: SampleLayout, rng: np.random.Generator, scale: float,
                    n_bad: int, label_noise: float, seed: int):
    root = layout.fashionai_root
    rel_root = layout.rel(root)
    rows: list[dict] = []
    jobs: list[ImageJob] = []
    noisy: list[str] = []
    for task, (base, shapes, slot, invisible_rate, invisible_shape) in _FA_PLAN.items():
        positions = FASHIONAI_TASKS[task]
        inverse = _inverse(schema, "fashionai", task)
        drawable = [v for v in DRAWABLE[slot] if v in inverse] if slot else []
        for i in range(_n(base, scale)):
            values = _random_values(rng)
            shape = _pick(rng, shapes)
            r = rng.random()
            if slot is None and task == "coat_length_labels":
                pos = 1 + int(rng.integers(len(positions) - 1))
            elif r < invisible_rate:
                pos = 0
                shape = invisible_shape or shape
                if slot is None:        # collar / lapel: a garment with a plain neckline
                    values["neckline"] = _pick(rng, [v for v in DRAWABLE["neckline"] if v != "高领"])
            else:
                values[slot] = _pick(rng, drawable)
                pos = positions.index(_pick(rng, inverse[values[slot]]))
            true_pos = pos
            if rng.random() < label_noise:
                pos = _pick(rng, [q for q in range(len(positions)) if q != true_pos])
            marks = ["n"] * len(positions)
            marks[pos] = "y"
            if rng.random() < MAYBE_RATE:
                marks[_pick(rng, [q for q in range(1, len(positions)) if q != pos])] = "m"
            path = f"Images/{task}/{_hex('fashionai', seed, task, i)}.jpg"
            if pos != true_pos:
                noisy.append(path)
            rows.append({"fields": [path, task, "".join(marks)], "kind": None, "label": positions[pos]})
            jobs.append(ImageJob(f"{rel_root}/{path}", ImageSpec(shape, values, "fashionai"),
                                 int(rng.integers(2**62))))

    # Image problems on existing rows (distinct rows).
    injected: dict[str, list] = {}
    chosen = iter(rng.choice(len(rows), size=n_bad * (len(IMAGE_KINDS) + 1), replace=False))
    job_of = {j.path: i for i, j in enumerate(jobs)}
    for kind, special in IMAGE_KINDS.items():
        for _ in range(n_bad):
            row = rows[int(next(chosen))]
            row["kind"] = kind
            idx = job_of[f"{rel_root}/{row['fields'][0]}"]
            jobs[idx] = None if special is None else ImageJob(jobs[idx].path, jobs[idx].spec,
                                                              jobs[idx].seed, special)
    jobs = [j for j in jobs if j is not None]

    # Bad lines.
    bad: list[dict] = []
    after: dict[int, int] = {}
    twins = [int(next(chosen)) for _ in range(n_bad)]
    for kind in FA_LINE_KINDS:
        for j in range(n_bad):
            task = _pick(rng, sorted(FASHIONAI_TASKS))
            positions = FASHIONAI_TASKS[task]
            path = f"Images/{task}/{_hex('fashionai-bad', seed, kind, j)}.jpg"
            marks = ["n"] * len(positions)
            marks[1] = "y"
            if kind == "wrong_column_count":
                fields = [path, task] if j % 2 == 0 else [path, task, "".join(marks), "extra"]
            elif kind == "wrong_label_length":
                fields = [path, task, "".join(marks[:-1])]
            elif kind == "no_positive_label":
                fields = [path, task, "n" * len(positions)]
            elif kind == "multiple_positive_labels":
                marks[2] = "y"
                fields = [path, task, "".join(marks)]
            elif kind == "unknown_task":
                fields = [f"Images/hat_style_labels/{_hex('hat', seed, j)}.jpg", "hat_style_labels", "nyn"]
            elif kind == "invalid_label_char":
                marks[-1] = "x"
                fields = [path, task, "".join(marks)]
            else:  # duplicate_record: the same (image, task) again, later in the file
                after[len(bad)] = rows[twins[j]]
                fields = list(rows[twins[j]]["fields"])
            bad.append({"fields": fields, "kind": kind})
    lines = _insert_at_random(rng, rows, bad, after)

    text = _csv_text([l["fields"] for l in lines])
    layout.fashionai_labels.parent.mkdir(parents=True, exist_ok=True)
    layout.fashionai_labels.write_text(text, encoding="utf-8")
    rel_labels = layout.rel(layout.fashionai_labels)
    for kind in list(IMAGE_KINDS) + list(FA_LINE_KINDS):
        injected[kind] = []
    valid_rows, per_task, unmapped = 0, {}, {}
    for n, line in enumerate(lines, start=1):
        kind = line["kind"]
        if kind is not None:
            injected[kind].append({"where": f"{rel_labels}:{n}", "image": line["fields"][0]})
        if kind is None or kind in ACCEPTED_IMAGE_KINDS:
            valid_rows += 1
            task = line["fields"][1]
            per_task[task] = per_task.get(task, 0) + 1
            if schema.map_label("fashionai", task, line["label"]) is None:
                key = f"{task}/{line['label']}"
                unmapped[key] = unmapped.get(key, 0) + 1
    counts = {"images": len(jobs), "rows": len(lines), "valid_rows": valid_rows,
              "rows_per_task": dict(sorted(per_task.items())),
              "unmapped_labels": dict(sorted(unmapped.items()))}
    return jobs, counts, injected, noisy


# =========================================================================== UT-ZAP50K =======

UT_HEADER = ("CID", "Category", "SubCategory", "HeelHeight", "Insole", "Closure", "Gender",
             "Material", "ToeStyle")
UT_CATEGORIES = (("Shoes", 0.55), ("Boots", 0.30), ("Sandals", 0.08), ("Slippers", 0.07))
UT_HEELS = (("Flat", 0.0, 0.1, 0.2), ("Under 1in", 0.3, 0.9, 0.12), ("1in - 1 3/4in", 1.0, 1.75, 0.2),
            ("2in - 2 3/4in", 2.0, 2.75, 0.2), ("3in - 3 3/4in", 3.0, 3.75, 0.12),
            ("4in - 4 3/4in", 4.0, 4.75, 0.1), ("5in & over", 5.0, 5.5, 0.06))
UT_BOOT_TOPS = {"Ankle": -1.0, "Mid-Calf": -1.15, "Knee High": -1.3, "Over the Knee": -1.45}
UT_SHOE_FLAT = ("Sneakers and Athletic Shoes", "Loafers", "Flats", "Boat Shoes")
UT_SHOE_LOW_HEEL = ("Oxfords", "Clogs and Mules", "Sneakers and Athletic Shoes")
UT_CLOSURE_LABEL = {"系带": "Lace up", "拉链": "Zipper", "魔术贴": "Hook and Loop", "搭扣": "Buckle"}
UT_ROUND_TOES = (("Round Toe", 0.6), ("Almond", 0.1), ("Capped Toe", 0.1), ("Moc Toe", 0.1), ("Wingtip", 0.1))
UT_MATERIALS = ("Leather", "Synthetic", "Rubber", "Suede", "Canvas", "Mesh", "Textile", "Patent Leather",
                "Nubuck")
UT_INSOLES = ("Padded", "Removable", "Orthotic Friendly", "Cushioned", "Padded;Removable", "")
UT_GENDERS = (("Women", 0.5), ("Men", 0.37), ("Boys", 0.05), ("Girls", 0.05), ("Men;Women", 0.03))
UT_BRANDS = ("Aldova", "Brisko", "Calloway", "Dunmore", "Estrella", "Fennick", "Garrow", "Holloway",
             "Ivers", "Juno Lane", "Kestrel", "Lowell", "Marlo", "Northway")
UT_LINE_KINDS = ("wrong_column_count", "duplicate_cid", "unknown_heel_height", "multiple_heel_heights")


def _weighted(rng, pairs):
    names = [p[0] for p in pairs]
    w = np.array([p[-1] for p in pairs], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def write_utzap50k(schema: Schema, layout: SampleLayout, rng: np.random.Generator, scale: float,
                   n_bad: int, label_noise: float, seed: int):
    n = _n(1200, scale, 40)
    heel_names = [h[0] for h in UT_HEELS]
    heel_range = {h[0]: (h[1], h[2]) for h in UT_HEELS}
    nums = rng.choice(9_000_000, size=n + 2 * n_bad, replace=False) + 1_000_000
    rows: list[dict] = []
    jobs: list[ImageJob] = []
    noisy: list[str] = []
    rel_images = layout.rel(layout.utzap50k_images)
    for i in range(n):
        cid = f"{nums[i]}-{1 + int(rng.integers(9999))}"
        values = _random_values(rng)
        category = _weighted(rng, UT_CATEGORIES)
        heel = _weighted(rng, UT_HEELS)
        shape, boot_top = "shoe", None
        closure_labels: list[str] = []
        closure2 = None
        if category == "Shoes":
            sub = "Heels" if heel_names.index(heel) >= 4 else _pick(
                rng, UT_SHOE_FLAT if heel_names.index(heel) <= 1 else UT_SHOE_LOW_HEEL)
        elif category == "Boots":
            sub = _pick(rng, sorted(UT_BOOT_TOPS))
            shape, boot_top = "boot", UT_BOOT_TOPS[sub] + 0.08 * (rng.random() - 0.5)
        elif category == "Sandals":
            sub = _pick(rng, ("Flat", "Heel", "Athletic"))
            heel = {"Flat": _pick(rng, heel_names[:2]), "Athletic": "Flat"}.get(sub, _pick(rng, heel_names[3:6]))
            values.update(toecap="露趾", upper_height="低帮", closure=_pick(rng, ("搭扣", "魔术贴")))
            if values["closure"] == "搭扣" and rng.random() < 0.6:
                closure_labels = ["Ankle Strap"] + (["Buckle"] if rng.random() < 0.5 else [])
        else:  # Slippers
            sub = _pick(rng, ("Slipper Flats", "Slipper Heels", "Boot"))
            heel = _pick(rng, heel_names[2:4]) if sub == "Slipper Heels" else _pick(rng, heel_names[:2])
            values.update(closure="套脚", upper_height="低帮", toecap=_pick(rng, ("圆头", "露趾")))
            shape = "boot" if sub == "Boot" else "shoe"
        lo, hi = heel_range[heel]
        inches = lo + (hi - lo) * rng.random()
        if not closure_labels:
            c = values["closure"]
            closure_labels = [("Pull-on" if shape == "boot" else "Slip-On") if c == "套脚" else UT_CLOSURE_LABEL[c]]
            if c != "套脚" and rng.random() < 0.2:
                closure2 = _pick(rng, [x for x in ("系带", "拉链", "搭扣") if x != c])
                closure_labels.append(UT_CLOSURE_LABEL[closure2])
        toe = values["toecap"]
        toe_labels = {"圆头": [_weighted(rng, UT_ROUND_TOES)], "尖头": ["Pointed Toe"],
                      "方头": ["Square Toe"], "露趾": [_pick(rng, ("Open Toe", "Open Toe", "Peep Toe"))]}[toe]
        if toe != "露趾" and rng.random() < 0.35:
            toe_labels.append("Closed Toe")
        if rng.random() < 0.08:
            toe_labels = []                       # task absent for this CID
        # Label noise: one label of a task replaced by another label of that task.
        if rng.random() < label_noise:
            heel = _pick(rng, [h for h in heel_names if h != heel])
            noisy.append(f"{cid}/HeelHeight")
        if rng.random() < label_noise:
            others = [x for x in ("Lace up", "Slip-On", "Zipper", "Hook and Loop", "Buckle") if x not in closure_labels]
            closure_labels[0] = _pick(rng, others)
            noisy.append(f"{cid}/Closure")
        if toe_labels and rng.random() < label_noise:
            others = [x for x in ("Round Toe", "Pointed Toe", "Square Toe", "Open Toe") if x not in toe_labels]
            toe_labels[0] = _pick(rng, others)
            noisy.append(f"{cid}/ToeStyle")
        materials = [] if rng.random() < 0.1 else list(dict.fromkeys(
            _pick(rng, UT_MATERIALS) for _ in range(1 + int(rng.random() < 0.3))))
        brand = _pick(rng, UT_BRANDS)
        a, b = cid.split("-")
        fields = [cid, category, sub, heel, _pick(rng, UT_INSOLES), ";".join(closure_labels),
                  _weighted(rng, UT_GENDERS), ";".join(materials), ";".join(toe_labels)]
        path = f"{rel_images}/{category}/{sub}/{brand}/{a}.{b}.jpg"
        rows.append({"fields": fields, "kind": None, "path": path})
        jobs.append(ImageJob(path, ImageSpec(shape, values, "utzap50k", closure2=closure2,
                                             heel_inches=inches, boot_top=boot_top),
                             int(rng.integers(2**62))))

    injected: dict[str, list] = {k: [] for k in list(IMAGE_KINDS) + list(UT_LINE_KINDS)}
    chosen = iter(rng.choice(n, size=n_bad * (len(IMAGE_KINDS) + 3), replace=False))
    for kind, special in IMAGE_KINDS.items():
        for _ in range(n_bad):
            i = int(next(chosen))
            rows[i]["kind"] = kind
            jobs[i] = None if special is None else ImageJob(jobs[i].path, jobs[i].spec, jobs[i].seed, special)
    for kind, value in (("unknown_heel_height", "6in & over"), ("multiple_heel_heights", "Flat;Under 1in")):
        for _ in range(n_bad):
            i = int(next(chosen))
            rows[i]["kind"] = kind
            rows[i]["fields"][3] = value
    jobs = [j for j in jobs if j is not None]
    bad, after = [], {}
    for j in range(n_bad):
        fields = [f"{nums[n + j]}-{j + 1}", "Shoes", "Oxfords", "Flat", "Lace up", "Men", "Leather", "Round Toe"]
        bad.append({"fields": fields, "kind": "wrong_column_count"})   # 8 columns: Insole missing
        twin = rows[int(next(chosen))]
        after[len(bad)] = twin
        dup = list(twin["fields"])
        dup[6] = "Women" if dup[6] != "Women" else "Men"
        bad.append({"fields": dup, "kind": "duplicate_cid"})
    lines = _insert_at_random(rng, rows, bad, after)

    layout.utzap50k_meta.parent.mkdir(parents=True, exist_ok=True)
    layout.utzap50k_meta.write_text(_csv_text([l["fields"] for l in lines], UT_HEADER), encoding="utf-8")
    rel_meta = layout.rel(layout.utzap50k_meta)
    valid_rows, unmapped = 0, {}
    tasks = {"HeelHeight": 3, "Closure": 5, "Gender": 6, "Material": 7, "ToeStyle": 8}
    for n_line, line in enumerate(lines, start=2):
        kind = line["kind"]
        if kind is not None:
            injected[kind].append({"where": f"{rel_meta}:{n_line}", "cid": line["fields"][0]})
        if kind in ("wrong_column_count", "duplicate_cid") or (kind in IMAGE_KINDS and kind not in ACCEPTED_IMAGE_KINDS):
            continue
        for task, col in tasks.items():
            labels = [x for x in line["fields"][col].split(";") if x]
            if not labels or (task == "HeelHeight" and kind in ("unknown_heel_height", "multiple_heel_heights")):
                continue
            valid_rows += 1
            for label in labels:
                if schema.map_label("utzap50k", task, label) is None:
                    key = f"{task}/{label}"
                    unmapped[key] = unmapped.get(key, 0) + 1
    counts = {"cids": n, "images": len(jobs), "rows": len(lines), "valid_rows": valid_rows,
              "per_category": {c: sum(r["fields"][1] == c for r in rows) for c, _ in UT_CATEGORIES},
              "unmapped_labels": dict(sorted(unmapped.items()))}
    return jobs, counts, injected, noisy


# ============================================================================ iFashion =======

IF_SHAPES = (("top", 0.3), ("dress", 0.2), ("pants", 0.2), ("shoe", 0.2), ("boot", 0.1))
IF_CATEGORY_NAMES = {"top": ("T-Shirts", "Blouses"), "dress": ("Dresses", "Casual Dresses"),
                     "pants": ("Casual Pants", "Trousers"), "shoe": ("Sneakers", "Casual Shoes"),
                     "boot": ("Boots",)}
IF_JSON_KINDS = ("annotation_unknown_image", "unknown_label_id", "duplicate_image_id", "missing_url")
IF_MULTI_COLOR = 0.15
IF_EXTRA_COLOR = 0.04


def load_label_map(path: Path) -> dict[tuple[str, str], str]:
    """(group, label name) -> labelId, from the real 228-label map."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return {(r[3], r[2]): r[0] for r in rows[1:] if len(r) == 4}


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_ifashion(schema: Schema, layout: SampleLayout, rng: np.random.Generator, scale: float,
                   n_bad: int, label_noise: float, seed: int):
    root = layout.ifashion_root
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG_DIR / "imat_label_map_228.csv", layout.ifashion_label_map)
    ids = load_label_map(layout.ifashion_label_map)
    groups = {lid: g for (g, _), lid in ids.items()}
    by_group: dict[str, list[str]] = {}
    for (g, _), lid in sorted(ids.items()):
        by_group.setdefault(g, []).append(lid)
    color_id = {v: ids[("color", labels[0])] for v, labels in _inverse(schema, "ifashion", "color").items()
                if v in PALETTE}
    if set(color_id) != set(PALETTE):
        raise ValueError(f"value_maps.csv gives no iFashion colour for {sorted(set(PALETTE) - set(color_id))}")
    sleeve_id = {v: ids[("sleeve", ls[0])] for v, ls in _inverse(schema, "ifashion", "sleeve").items()}
    neck_id = {v: ids[("neckline", ls[0])] for v, ls in _inverse(schema, "ifashion", "neckline").items()}
    extra_id = {name: ids[("color", name)] for name in EXTRA_COLORS}
    rel_images = layout.rel(layout.ifashion_images)

    n = _n(1500, scale, 40)
    n_val = max(4, int(round(n * 0.1)))
    n_test = max(4, int(round(n * 0.1)))
    next_id = iter(range(1, 10 * (n + n_test) + 100))
    splits = {"train": {"images": [], "annotations": []}, "validation": {"images": [], "annotations": []}}
    records: list[dict] = []      # one per labelled image: split, entry, annotation, job
    jobs: list[ImageJob] = []
    noisy: list[str] = []
    for i in range(n):
        split = "validation" if i >= n - n_val else "train"
        image_id = str(next(next_id))
        shape = _weighted(rng, IF_SHAPES)
        values = _random_values(rng)
        color2 = None
        labels: list[str] = []
        if rng.random() < IF_EXTRA_COLOR:
            name = _pick(rng, sorted(EXTRA_COLORS))
            values["color"] = name            # drawn, but no MAVP value: an unmapped label
            labels.append(extra_id[name])
        else:
            labels.append(color_id[values["color"]])
            if rng.random() < IF_MULTI_COLOR:
                color2 = _pick(rng, [c for c in PALETTE if c != values["color"]])
                labels.append(color_id[color2])
            if rng.random() < label_noise:
                labels[0] = color_id[_pick(rng, [c for c in PALETTE if c != values["color"]])]
                noisy.append(image_id)
        if rng.random() < 0.3:
            labels.append(ids[("category", _pick(rng, IF_CATEGORY_NAMES[shape]))])
        if rng.random() < 0.2:
            labels.append(_pick(rng, by_group["gender"]))
        if rng.random() < 0.3:
            labels.append(_pick(rng, by_group["material"]))
        if rng.random() < 0.2:
            labels.append(_pick(rng, by_group["pattern"]))
        if shape in ("top", "dress"):
            if values["sleeve_length"] in sleeve_id and rng.random() < 0.4:
                labels.append(sleeve_id[values["sleeve_length"]])
            if values["neckline"] in neck_id and rng.random() < 0.4:
                labels.append(neck_id[values["neckline"]])
        labels = list(dict.fromkeys(labels))
        labels = [labels[k] for k in rng.permutation(len(labels))]
        path = f"{rel_images}/{image_id}.jpg"
        job = ImageJob(path, ImageSpec(shape, values, "ifashion", color2=color2), int(rng.integers(2**62)))
        records.append({"split": split, "id": image_id, "labels": labels, "kind": None, "job": job})

    chosen = iter(rng.choice(n, size=n_bad * len(IMAGE_KINDS), replace=False))
    for kind, special in IMAGE_KINDS.items():
        for _ in range(n_bad):
            rec = records[int(next(chosen))]
            rec["kind"] = kind
            j = rec["job"]
            rec["job"] = None if special is None else ImageJob(j.path, j.spec, j.seed, special)

    injected: dict[str, list] = {k: [] for k in list(IMAGE_KINDS) + list(IF_JSON_KINDS)}
    for rec in records:
        s = splits[rec["split"]]
        s["images"].append({"imageId": rec["id"], "url": f"https://example.invalid/ifashion/{rec['id']}.jpg"})
        s["annotations"].append({"imageId": rec["id"], "labelId": rec["labels"]})
        if rec["job"] is not None:
            jobs.append(rec["job"])
    # Bad JSON records, all in train.json.
    train = splits["train"]
    bad_images: list[tuple[str, dict]] = []
    bad_annotations: list[tuple[str, dict]] = []
    for j in range(n_bad):
        ghost = str(10_000_000 + j)
        bad_annotations.append(("annotation_unknown_image", {"imageId": ghost, "labelId": [color_id["黑色"]]}))
        fresh = str(next(next_id))
        bad_images.append(("unknown_label_id", {"imageId": fresh, "url": f"https://example.invalid/ifashion/{fresh}.jpg"}))
        bad_annotations.append(("unknown_label_id", {"imageId": fresh, "labelId": [color_id["白色"], "999"]}))
        twin = train["images"][int(rng.integers(len(train["images"])))]
        bad_images.append(("duplicate_image_id", dict(twin)))
        fresh = str(next(next_id))
        bad_images.append(("missing_url", {"imageId": fresh}))
        bad_annotations.append(("missing_url", {"imageId": fresh, "labelId": [color_id["红色"]]}))

    def place(entries: list, extra: list[tuple[str, dict]]) -> dict[int, str]:
        """Insert bad entries at random positions; final position -> kind."""
        where: dict[int, str] = {}
        tagged = [(None, e) for e in entries]
        for kind, e in extra:
            lo = 0
            if kind == "duplicate_image_id":    # after its twin, so the twin is the first seen
                lo = next(k for k, (_, x) in enumerate(tagged) if x is not e and x.get("imageId") == e["imageId"]) + 1
            tagged.insert(lo + int(rng.integers(len(tagged) - lo + 1)), (kind, e))
        entries[:] = [e for _, e in tagged]
        for k, (kind, e) in enumerate(tagged):
            if kind is not None:
                where[k] = kind
        return where

    rel_train = layout.rel(layout.ifashion_split("train"))
    for k, kind in place(train["images"], bad_images).items():
        if kind != "unknown_label_id":
            injected[kind].append({"where": f"{rel_train}#images[{k}]", "imageId": train["images"][k]["imageId"]})
    for k, kind in place(train["annotations"], bad_annotations).items():
        if kind in ("annotation_unknown_image", "unknown_label_id"):
            injected[kind].append({"where": f"{rel_train}#annotations[{k}]",
                                   "imageId": train["annotations"][k]["imageId"]})
    position = {(split, a["imageId"]): k for split, d in splits.items()
                for k, a in enumerate(d["annotations"])}
    for rec in records:
        if rec["kind"] is not None:
            k = position[(rec["split"], rec["id"])]
            injected[rec["kind"]].append({"where": f"{layout.rel(layout.ifashion_split(rec['split']))}"
                                                   f"#annotations[{k}]", "imageId": rec["id"]})
    for split, data in splits.items():
        layout.ifashion_split(split).write_text(_dump(data), encoding="utf-8")
    test_images = []
    for _ in range(n_test):
        tid = str(next(next_id))
        test_images.append({"imageId": tid, "url": f"https://example.invalid/ifashion/{tid}.jpg"})
    layout.ifashion_split("test").write_text(_dump({"images": test_images}), encoding="utf-8")

    valid_rows, unmapped = 0, {}
    names = {lid: name for (g, name), lid in ids.items()}
    for rec in records:
        if rec["kind"] is not None and rec["kind"] not in ACCEPTED_IMAGE_KINDS:
            continue
        seen_groups: dict[str, list[str]] = {}
        for lid in rec["labels"]:
            seen_groups.setdefault(groups[lid], []).append(lid)
        valid_rows += len(seen_groups)
        for g, lids in seen_groups.items():
            for lid in lids:
                if schema.map_label("ifashion", g, names[lid]) is None:
                    key = f"{g}/{names[lid]}"
                    unmapped[key] = unmapped.get(key, 0) + 1
    counts = {"images": len(jobs), "images_per_split": {s: len(d["images"]) for s, d in splits.items()},
              "annotations_per_split": {s: len(d["annotations"]) for s, d in splits.items()},
              "test_images": n_test, "valid_rows": valid_rows, "unmapped_labels": dict(sorted(unmapped.items()))}
    return jobs, counts, injected, noisy


# =============================================================================== crawl =======

CRAWL_ATTRIBUTE = "upper_height"
CRAWL_HEADER = ("path", "label", "url", "query")
CRAWL_UNKNOWN_VALUE = "超高帮"          # a value folder the value map does not know (kept, unmapped)
CRAWL_UNKNOWN_ATTRIBUTE = "heel_shape/细跟"   # an attribute folder it does not know (rejected)
CRAWL_UNLISTED = 0.05                  # files on disk the manifest does not list
CRAWL_KINDS = ("manifest_missing_file", "label_mismatch", "unknown_value_folder",
               "unknown_attribute_folder", "image_rgba_png", "image_palette_png",
               "image_empty", "image_truncated", "image_corrupt")


def write_crawl(schema: Schema, layout: SampleLayout, rng: np.random.Generator, scale: float,
                n_bad: int, label_noise: float, seed: int):
    root = layout.crawl_root
    rel_root = layout.rel(root)
    inverse = _inverse(schema, "crawl", CRAWL_ATTRIBUTE)
    folders = [labels[0] for v, labels in inverse.items() if v in DRAWABLE["upper_height"]]
    value_of = {labels[0]: v for v, labels in inverse.items()}
    n = _n(600, scale, 30)
    files: list[dict] = []
    jobs: list[ImageJob] = []
    noisy: list[str] = []
    for i in range(n):
        folder = folders[i % len(folders)]
        values = _random_values(rng)
        values["upper_height"] = value_of[folder]
        if rng.random() < label_noise:
            values["upper_height"] = _pick(rng, [v for v in DRAWABLE["upper_height"] if v != value_of[folder]])
        name = f"{_hex('crawl', seed, i)[:16]}.jpg"
        rel = f"{CRAWL_ATTRIBUTE}/{folder}/{name}"
        if values["upper_height"] != value_of[folder]:
            noisy.append(rel)
        files.append({"rel": rel, "label": folder, "kind": None, "listed": rng.random() >= CRAWL_UNLISTED})
        jobs.append(ImageJob(f"{rel_root}/{rel}", ImageSpec("shoe", values, "crawl"), int(rng.integers(2**62))))

    injected: dict[str, list] = {k: [] for k in CRAWL_KINDS}
    chosen = iter(rng.choice(n, size=n_bad * 4, replace=False))
    for kind, special in (("image_empty", "empty"), ("image_truncated", "truncated"),
                          ("image_corrupt", "corrupt"), ("label_mismatch", None)):
        for _ in range(n_bad):
            i = int(next(chosen))
            files[i]["kind"] = kind
            files[i]["listed"] = True
            if special:
                j = jobs[i]
                jobs[i] = ImageJob(j.path, j.spec, j.seed, special)
            else:  # the manifest names another value than the folder holding the file
                files[i]["manifest_label"] = _pick(rng, [f for f in folders if f != files[i]["label"]])
    extra_files: list[dict] = []
    for j in range(n_bad):
        for kind, folder, special, ext in (
                ("unknown_value_folder", f"{CRAWL_ATTRIBUTE}/{CRAWL_UNKNOWN_VALUE}", None, "jpg"),
                ("unknown_attribute_folder", CRAWL_UNKNOWN_ATTRIBUTE, None, "jpg"),
                ("image_rgba_png", f"{CRAWL_ATTRIBUTE}/{_pick(rng, folders)}", "rgba_png", "png"),
                ("image_palette_png", f"{CRAWL_ATTRIBUTE}/{_pick(rng, folders)}", "p_png", "png")):
            values = _random_values(rng)
            label = folder.split("/")[-1]
            values["upper_height"] = value_of.get(label, "高帮")
            rel = f"{folder}/{_hex('crawl-extra', seed, kind, j)[:16]}.{ext}"
            extra_files.append({"rel": rel, "label": label, "kind": kind, "listed": kind.startswith("image_")})
            jobs.append(ImageJob(f"{rel_root}/{rel}", ImageSpec("shoe", values, "crawl", view=None),
                                 int(rng.integers(2**62)), special))
    all_files = files + extra_files
    rows: list[dict] = []
    for f in all_files:
        if f["listed"]:
            label = f.get("manifest_label", f["label"])
            query = f"{label}鞋"
            rows.append({"fields": [f["rel"], label, f"https://example.invalid/crawl/{f['rel'].split('/')[-1]}",
                                    query], "kind": f["kind"]})
    missing = []
    for j in range(n_bad):
        rel = f"{CRAWL_ATTRIBUTE}/{_pick(rng, folders)}/{_hex('crawl-missing', seed, j)[:16]}.jpg"
        label = rel.split("/")[1]
        missing.append({"fields": [rel, label, f"https://example.invalid/crawl/{rel.split('/')[-1]}", f"{label}鞋"],
                        "kind": "manifest_missing_file"})
    rows = _insert_at_random(rng, rows, missing)
    root.mkdir(parents=True, exist_ok=True)
    layout.crawl_manifest.write_text(_csv_text([r["fields"] for r in rows], CRAWL_HEADER), encoding="utf-8")
    rel_manifest = layout.rel(layout.crawl_manifest)
    for n_line, r in enumerate(rows, start=2):
        if r["kind"] in ("manifest_missing_file", "label_mismatch"):
            injected[r["kind"]].append({"where": f"{rel_manifest}:{n_line}", "path": r["fields"][0]})
    for f in all_files:
        if f["kind"] is not None and f["kind"] != "label_mismatch":
            injected[f["kind"]].append({"where": f"{rel_root}/{f['rel']}", "path": f["rel"]})
    valid = [f for f in all_files if f["kind"] in (None, "unknown_value_folder", "image_rgba_png",
                                                   "image_palette_png")]
    counts = {"images": len(jobs), "manifest_rows": len(rows),
              "files_not_in_manifest": sum(not f["listed"] for f in all_files
                                           if f["kind"] != "unknown_attribute_folder"),
              "valid_rows": len(valid),
              "per_folder": {fo: sum(f["label"] == fo for f in valid) for fo in folders + [CRAWL_UNKNOWN_VALUE]},
              "unmapped_labels": {f"{CRAWL_ATTRIBUTE}/{CRAWL_UNKNOWN_VALUE}":
                                  sum(f["kind"] == "unknown_value_folder" for f in all_files)}}
    return jobs, counts, injected, noisy
