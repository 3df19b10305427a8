from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

import pytest

from pipeline.records import REJECT_COLUMNS
from pipeline.sources.fashionai import BASE_COLUMNS, FASHIONAI_TASKS, read_fashionai

from .imgutil import reasons, write_corrupt, write_empty, write_image, write_truncated


def _source(root: Path, lines: list[str]) -> Path:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / "label.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _img(root: Path, task: str, name: str, **kw) -> str:
    rel = f"Images/{task}/{name}"
    write_image(root / rel, **kw)
    return rel


GOOD = [
    # task, marks, expected label, expected values, extension, mode
    ("sleeve_length_labels", "nnnynnnnn", "Short Sleeves", ["短袖"], ".jpg", "RGB"),
    ("collar_design_labels", "nynnn", "Shirt Collar", ["衬衫领"], ".jpg", "CMYK"),
    ("lapel_design_labels", "nnynn", "Collarless", ["无领"], ".jpg", "L"),
    ("neck_design_labels", "nynnn", "Turtle Neck", ["高领"], ".png", "RGBA"),
    ("neckline_design_labels", "nnnnnnnynn", "Round Neckline", ["圆领"], ".png", "P"),
    ("skirt_length_labels", "nnymnn", "Knee Length", ["及膝裙"], ".jpg", "RGB"),
    ("pant_length_labels", "mnnnny", "Full Length", ["长裤"], ".jpg", "RGB"),
    ("coat_length_labels", "nnynnnnn", "Regular Length", [], ".jpg", "RGB"),
    ("neck_design_labels", "ynnnn", "Invisible", [], ".jpg", "RGB"),
]


def test_task_table_matches_design():
    assert len(FASHIONAI_TASKS) == 8
    assert len(FASHIONAI_TASKS["neckline_design_labels"]) == 10
    assert len(FASHIONAI_TASKS["sleeve_length_labels"]) == 9
    assert FASHIONAI_TASKS["coat_length_labels"][-1] == "Ankle&Floor Length"
    assert all(labels[0] == "Invisible" for labels in FASHIONAI_TASKS.values())


def test_valid_source_parses_into_rows(tmp_path):
    lines = []
    for i, (task, marks, *_rest, ext, mode) in enumerate(GOOD):
        rel = _img(tmp_path, task, f"img{i}{ext}", mode=mode, seed=i)
        lines.append(f"{rel},{task},{marks}")
    res = read_fashionai(_source(tmp_path, lines))

    assert res.rejects.empty, res.rejects.to_dict("records")
    assert list(res.rejects.columns) == list(REJECT_COLUMNS)
    v = res.valid
    assert list(v.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert len(v) == len(GOOD)
    for (task, _marks, label, values, _ext, mode), row in zip(GOOD, v.to_dict("records")):
        assert row["source"] == "fashionai"
        assert row["task"] == task
        assert row["labels"] == [label]
        assert row["values"] == values
        assert row["multi_label"] is False
        assert row["image_mode"] == mode
        assert Path(row["image_path"]).is_absolute() and Path(row["image_path"]).is_file()
        assert row["image_id"] == f"Images/{task}/{Path(row['image_path']).name}"
    # the four design tasks all feed the neckline slot, Invisible maps to no value
    design = v[v.task.str.endswith("design_labels")]
    assert set(design.slot) == {"neckline"}
    assert v.set_index("task").loc["sleeve_length_labels", "slot"] == "sleeve_length"
    assert v[v.task == "coat_length_labels"].slot.isna().all()
    assert res.stats["unmapped_labels"] == {
        "coat_length_labels/Regular Length": 1, "neck_design_labels/Invisible": 1}
    assert res.stats["image_modes"] == {"CMYK": 1, "L": 1, "P": 1, "RGB": 5, "RGBA": 1}
    assert res.stats["images_needing_conversion"] == 4
    assert res.stats["maybe_marks"] == 2
    assert not v.duplicated(["task", "image_id"]).any()
    assert {c: str(v[c].dtype) for c in ("slot", "image_mode", "multi_label", "labels")} == {
        "slot": "string", "image_mode": "string", "multi_label": "bool", "labels": "object"}


def test_every_bad_record_gets_its_reason(tmp_path):
    t = "collar_design_labels"
    ok = _img(tmp_path, t, "ok.jpg")
    lines = [
        f"{ok},{t},nynnn",                                            # valid
        f"{ok},{t},nynnn",                                            # duplicate_record
        f"{_img(tmp_path, t, 'a.jpg')},{t},nynnn,extra",              # wrong_column_count
        f"{_img(tmp_path, t, 'b.jpg')},{t}",                          # wrong_column_count
        f"{_img(tmp_path, t, 'c.jpg')},hat_style_labels,nyn",         # unknown_task
        f"{_img(tmp_path, t, 'd.jpg')},{t},nynn",                     # wrong_label_length
        f"{_img(tmp_path, t, 'e.jpg')},{t},nyxnn",                    # invalid_label_char
        f"{_img(tmp_path, t, 'f.jpg')},{t},nnnnn",                    # no_positive_label
        f"{_img(tmp_path, t, 'g.jpg')},{t},nynyn",                    # multiple_positive_labels
        f"../outside.jpg,{t},nynnn",                                  # bad_image_path
        f"Images/{t}/missing.jpg,{t},nynnn",                          # image_missing
        f"{write_empty(tmp_path / 'Images/empty.jpg').relative_to(tmp_path).as_posix()},{t},nynnn",
        f"{write_truncated(tmp_path / 'Images/cut.jpg').relative_to(tmp_path).as_posix()},{t},nynnn",
        f"{write_corrupt(tmp_path / 'Images/junk.jpg').relative_to(tmp_path).as_posix()},{t},nynnn",
        f"{_img(tmp_path, t, 'tiny.jpg', size=(8, 8))},{t},nynnn",    # image_too_small
        "",                                                           # blank: skipped, counted
    ]
    res = read_fashionai(_source(tmp_path, lines))
    assert reasons(res) == sorted([
        "duplicate_record", "wrong_column_count", "wrong_column_count", "unknown_task",
        "wrong_label_length", "invalid_label_char", "no_positive_label",
        "multiple_positive_labels", "bad_image_path", "image_missing", "image_empty",
        "image_truncated", "image_corrupt", "image_too_small",
    ])
    assert len(res.valid) == 1 and res.valid.iloc[0]["labels"] == ["Shirt Collar"]
    assert res.stats["blank_lines"] == 1
    by_reason = res.rejects.set_index("reason")
    assert by_reason.loc["duplicate_record", "location"].endswith("label.csv:2")
    assert "line 1" in by_reason.loc["duplicate_record", "detail"]
    assert by_reason.loc["multiple_positive_labels", "record"] == f"Images/{t}/g.jpg,{t},nynyn"
    assert (res.rejects.source == "fashionai").all()
    # every input line is either a valid row, a reject or a counted blank
    assert len(res.valid) + len(res.rejects) + res.stats["blank_lines"] == len(lines)


def test_windows_line_endings_and_dot_paths(tmp_path):
    t = "sleeve_length_labels"
    rel = _img(tmp_path, t, "x.jpg")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "label.csv").write_bytes(
        f"./{rel},{t},nynnnnnnn\r\n{rel},{t},nynnnnnnn\r\n".encode())
    res = read_fashionai(tmp_path)
    assert len(res.valid) == 1 and res.valid.iloc[0]["values"] == ["无袖"]
    assert reasons(res) == ["duplicate_record"]


def test_missing_root_and_missing_annotations_are_rejects(tmp_path):
    res = read_fashionai(tmp_path / "nope")
    assert reasons(res) == ["root_missing"]
    assert res.rejects.iloc[0]["location"] == "."
    assert res.valid.empty and list(res.valid.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS

    res = read_fashionai(tmp_path)
    assert reasons(res) == ["file_missing"]
    assert res.rejects.iloc[0]["location"] == "Annotations/label.csv"      # relative to the root


def test_check_images_off_only_tests_existence(tmp_path):
    t = "pant_length_labels"
    cut = write_truncated(tmp_path / "Images/cut.jpg").relative_to(tmp_path).as_posix()
    res = read_fashionai(_source(tmp_path, [f"{cut},{t},nynnnn", f"Images/none.jpg,{t},nynnnn"]),
                         check_images=False)
    assert reasons(res) == ["image_missing"]
    assert len(res.valid) == 1 and pd.isna(res.valid.iloc[0]["image_mode"])
    assert res.valid.iloc[0]["values"] == ["短裤"]


@pytest.mark.parametrize("task", sorted(FASHIONAI_TASKS))
def test_every_position_of_every_task_reads(tmp_path, task):
    positions = FASHIONAI_TASKS[task]
    rel = _img(tmp_path, task, "x.jpg")
    lines = []
    for i in range(len(positions)):
        marks = "".join("y" if j == i else "n" for j in range(len(positions)))
        lines.append(f"{rel.replace('x.jpg', f'x{i}.jpg')},{task},{marks}")
        write_image(tmp_path / rel.replace("x.jpg", f"x{i}.jpg"))
    res = read_fashionai(_source(tmp_path, lines))
    assert res.rejects.empty
    assert [lab[0] for lab in res.valid["labels"]] == list(positions)
    counted = Counter(res.stats["unmapped_labels"])
    assert counted[f"{task}/Invisible"] == 1
    assert all((v == []) == (f"{task}/{lab[0]}" in counted)
               for lab, v in zip(res.valid["labels"], res.valid["values"]))
