from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.sources.ifashion import (
    BASE_COLUMNS, DEFAULT_LABEL_MAP, LabelMapError, load_label_map, read_ifashion,
)

from .imgutil import reasons, write_corrupt, write_empty, write_image, write_truncated

# Real ids of the 228-label map: 17 Black/color, 222 White/color, 66 Female/gender,
# 53 Cotton/material, 171 Sleeveless/sleeve, 214 V-Necks/neckline, 89 Hosiery.../category,
# 45 Clear/color (no value map entry).


def _write(root: Path, name: str, images: list, annotations: list | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data = {"images": images} if annotations is None else {"images": images, "annotations": annotations}
    (root / name).write_text(json.dumps(data), encoding="utf-8")


def _im(i, url=True):
    entry = {"imageId": i}
    if url:
        entry["url"] = f"https://example.invalid/{i}.jpg"
    return entry


def test_real_label_map_is_parsed_exactly(imat_label_map):
    labels = load_label_map(imat_label_map)
    assert len(labels) == 228
    assert (labels["17"].name, labels["17"].group) == ("Black", "color")
    assert (labels["89"].name, labels["89"].group) == ("Hosiery, Stockings, Tights", "category")
    assert labels["228"].name == "Zebra"  # last line, no trailing newline
    assert {lab.group for lab in labels.values()} == {
        "category", "color", "gender", "material", "neckline", "pattern", "sleeve", "style"}
    assert "7" not in {lab.task_id for lab in labels.values()}
    assert not any(lab.name.endswith("\r") or lab.group.endswith("\r") for lab in labels.values())
    assert load_label_map() == labels  # the packaged copy is the same map
    assert DEFAULT_LABEL_MAP.read_bytes() == Path(imat_label_map).read_bytes()


def test_bad_label_map_raises_and_is_a_reject(tmp_path):
    bad = tmp_path / "map.csv"
    bad.write_text("labelId,taskId,labelName\n1,6,Argyle\n")
    with pytest.raises(LabelMapError):
        load_label_map(bad)
    res = read_ifashion(tmp_path, label_map=bad)
    assert reasons(res) == ["bad_label_map"]
    res = read_ifashion(tmp_path, label_map=tmp_path / "absent.csv")
    assert reasons(res) == ["bad_label_map"]
    assert res.rejects.iloc[0]["location"] == "absent.csv"


def test_valid_source_parses_into_rows(tmp_path, imat_label_map):
    write_image(tmp_path / "images/1.jpg", mode="CMYK")
    write_image(tmp_path / "images/2.jpg", mode="L")
    write_image(tmp_path / "images/3.jpg")
    _write(tmp_path, "train.json", [_im("1"), _im("2"), _im(3)], [
        {"imageId": "1", "labelId": ["89", "17", "222", "66", "53", "171", "214"]},
        {"imageId": "2", "labelId": ["45", "17", "17"]},
        {"imageId": 3, "labelId": [89]},
    ])
    _write(tmp_path, "test.json", [_im("1"), _im("2"), _im("3"), _im("4")])
    res = read_ifashion(tmp_path, label_map=imat_label_map,
                        splits=("train",))
    assert res.rejects.empty, res.rejects.to_dict("records")
    v = res.valid
    assert list(v.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    rows = {(r["image_id"], r["task"]): r for r in v.to_dict("records")}
    assert set(rows) == {("1", g) for g in
                         ("category", "color", "gender", "material", "sleeve", "neckline")} | {
        ("2", "color"), ("3", "category")}

    color = rows[("1", "color")]
    assert color["labels"] == ["Black", "White"] and color["values"] == ["黑色", "白色"]
    assert color["slot"] == "color" and color["multi_label"] is True
    assert color["label_ids"] == ["17", "222"] and color["split"] == "train"
    assert color["image_mode"] == "CMYK"
    assert color["image_path"] == str(tmp_path / "images" / "1.jpg")
    assert color["url"] == "https://example.invalid/1.jpg"
    cat = rows[("1", "category")]
    assert cat["labels"] == ["Hosiery, Stockings, Tights"] and cat["values"] == []
    assert pd.isna(cat["slot"]) and cat["multi_label"] is False
    assert rows[("1", "sleeve")]["values"] == ["无袖"]
    assert rows[("1", "sleeve")]["slot"] == "sleeve_length"
    assert rows[("1", "neckline")]["values"] == ["V领"]
    # 45 Clear has no map entry: kept, counted; repeated 17 is collapsed
    clear = rows[("2", "color")]
    assert clear["labels"] == ["Clear", "Black"] and clear["values"] == ["黑色"]
    assert clear["image_mode"] == "L"
    assert res.stats["unmapped_labels"] == {
        "category/Hosiery, Stockings, Tights": 2, "color/Clear": 1, "gender/Female": 1,
        "material/Cotton": 1}
    assert res.stats["repeated_label_ids"] == 1
    assert res.stats["int_ids"] == 3  # imageId 3 twice, labelId 89
    assert res.stats["test_images"] == 4
    assert res.stats["images_per_split"] == {"train": 3}
    assert not v.duplicated(["task", "image_id"]).any()


def test_groups_parameter(tmp_path, imat_label_map):
    write_image(tmp_path / "images/1.jpg")
    write_image(tmp_path / "images/2.jpg")
    _write(tmp_path, "train.json", [_im("1"), _im("2")], [
        {"imageId": "1", "labelId": ["89", "17"]}, {"imageId": "2", "labelId": ["53"]}])
    res = read_ifashion(tmp_path, label_map=imat_label_map, groups=["color"], splits=("train",))
    assert res.valid["task"].tolist() == ["color"]
    assert res.stats["images_without_selected_groups"] == 1
    assert res.stats["images_checked"] == 1  # no image decoded for nothing
    assert res.stats["unmapped_labels"] == {}
    with pytest.raises(ValueError, match="colour"):
        read_ifashion(tmp_path, label_map=imat_label_map, groups=["colour"])


def test_every_bad_record_gets_its_reason(tmp_path, imat_label_map):
    for i in ("1", "2", "3", "4", "5", "6", "7", "8"):
        write_image(tmp_path / f"images/{i}.jpg", seed=int(i))
    write_empty(tmp_path / "images/20.jpg")
    write_truncated(tmp_path / "images/21.jpg")
    write_corrupt(tmp_path / "images/22.jpg")
    write_image(tmp_path / "images/23.jpg", size=(8, 8))
    _write(tmp_path, "train.json", [
        _im("1"), _im("2"),
        {"url": "https://example.invalid/x.jpg"},            # bad_image_entry (no imageId)
        _im("3", url=False),                                  # bad_image_entry (no url)
        _im("../1"),                                          # bad_image_entry (unsafe id)
        _im("2"),                                             # duplicate_image_id
        _im("4"), _im("5"), _im("6"), _im("8"),
        _im("19"), _im("20"), _im("21"), _im("22"), _im("23"),
    ], [
        {"imageId": "1", "labelId": ["17"]},                  # valid
        {"imageId": "2", "labelId": ["222"]},                 # valid
        {"imageId": "3", "labelId": ["17"]},                  # image rejected above: counted
        {"imageId": "99", "labelId": ["17"]},                 # annotation_unknown_image
        {"imageId": "4", "labelId": ["17", "999"]},           # unknown_label_id
        {"imageId": "5", "labelId": []},                      # no_labels
        {"imageId": "6", "labelId": "17"},                    # bad_annotation
        {"imageId": "1", "labelId": ["222"]},                 # duplicate_annotation
        {"imageId": "19", "labelId": ["17"]},                 # image_missing (not fetched)
        {"imageId": "20", "labelId": ["17"]},                 # image_empty
        {"imageId": "21", "labelId": ["17"]},                 # image_truncated
        {"imageId": "22", "labelId": ["17"]},                 # image_corrupt
        {"imageId": "23", "labelId": ["17"]},                 # image_too_small
        # image 8 has no annotation: no_labels
    ])
    (tmp_path / "validation.json").write_text('{"images": [ {"imageId": "1", ', encoding="utf-8")
    res = read_ifashion(tmp_path, label_map=imat_label_map)
    assert reasons(res) == sorted([
        "bad_image_entry", "bad_image_entry", "bad_image_entry", "duplicate_image_id", "annotation_unknown_image",
        "unknown_label_id", "no_labels", "no_labels", "bad_annotation", "duplicate_annotation",
        "image_missing", "image_empty", "image_truncated", "image_corrupt", "image_too_small",
        "invalid_json",
    ])
    assert sorted(res.valid["image_id"]) == ["1", "2"]
    assert res.stats["annotations_of_rejected_images"] == 1
    by_reason = res.rejects.set_index("reason")
    assert by_reason.loc["invalid_json", "location"] == "validation.json"
    missing = by_reason.loc["image_missing", "detail"]
    assert "train.json" in missing and "not fetched" in missing and "images/19.jpg" in missing
    assert "999" in by_reason.loc["unknown_label_id", "detail"]
    assert by_reason.loc["annotation_unknown_image", "location"].endswith("#annotations[3]")


def test_structure_and_missing_files(tmp_path, imat_label_map):
    res = read_ifashion(tmp_path / "nope", label_map=imat_label_map)
    assert reasons(res) == ["root_missing"]
    assert res.rejects.iloc[0]["location"] == "."
    assert list(res.valid.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS

    tmp_path.mkdir(exist_ok=True)
    _write(tmp_path, "train.json", [_im("1")])  # no annotations list
    res = read_ifashion(tmp_path, label_map=imat_label_map)
    assert reasons(res) == ["bad_structure", "file_missing"]
    assert set(res.rejects["location"]) == {"train.json", "validation.json"}


def test_split_ids_collide_without_split_in_pattern(tmp_path, imat_label_map):
    for split in ("train", "validation"):
        _write(tmp_path, f"{split}.json", [_im("1")], [{"imageId": "1", "labelId": ["17"]}])
        write_image(tmp_path / "images" / split / "1.jpg")
    write_image(tmp_path / "images" / "1.jpg")

    res = read_ifashion(tmp_path, label_map=imat_label_map)
    assert reasons(res) == ["duplicate_image_id"]
    assert "{split}" in res.rejects.iloc[0]["detail"]
    assert res.valid["split"].tolist() == ["train"]

    res = read_ifashion(tmp_path, label_map=imat_label_map,
                        image_pattern="images/{split}/{imageId}.jpg")
    assert res.rejects.empty
    assert sorted(res.valid["image_id"]) == ["train/1", "validation/1"]
    assert res.valid["image_path"].str.contains("/images/validation/1.jpg").any()


def test_check_images_off(tmp_path, imat_label_map):
    write_truncated(tmp_path / "images/1.jpg")
    _write(tmp_path, "train.json", [_im("1"), _im("2")],
           [{"imageId": "1", "labelId": ["17"]}, {"imageId": "2", "labelId": ["17"]}])
    res = read_ifashion(tmp_path, label_map=imat_label_map, splits=("train",), check_images=False)
    assert reasons(res) == ["image_missing"]
    assert len(res.valid) == 1 and pd.isna(res.valid.iloc[0]["image_mode"])
