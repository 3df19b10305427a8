from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.sources.utzap50k import BASE_COLUMNS, HEEL_HEIGHTS, HEADER, read_utzap50k

from .imgutil import reasons, write_corrupt, write_empty, write_image, write_truncated

HEADER_LINE = ",".join(HEADER)
IMAGES = "ut-zap50k-images"


def _meta(root: Path, rows: list[str], header: str = HEADER_LINE) -> Path:
    meta = root / "ut-zap50k-data" / "meta-data.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


def _img(root: Path, cid: str, folder: str = "Shoes/Oxfords/Brand X", **kw) -> Path:
    return write_image(root / IMAGES / folder / (cid.replace("-", ".") + ".jpg"), **kw)


def test_valid_source_parses_into_rows(tmp_path):
    _img(tmp_path, "7965307-5291", "Boots/Ankle/A. Testoni", mode="CMYK")
    _img(tmp_path, "100627-72", "Shoes/Sneakers and Athletic Shoes/Nike", mode="L")
    _img(tmp_path, "8000-1")
    _img(tmp_path, "9999-9", "Sandals/Flat/Unlisted")  # on disk, not in the metadata
    res = read_utzap50k(_meta(tmp_path, [
        "7965307-5291,Boots,Ankle,1in - 1 3/4in,Leather,Lace up;Zipper,Women,Leather;Rubber,"
        "Round Toe;Capped Toe",
        "100627-72,Shoes,Sneakers and Athletic Shoes,Flat,,Slip-On,Men;Boys,,",
        '8000-1,Shoes,Oxfords,5in & over,,,,,"Open Toe;Peep Toe;Open Toe"',
    ]))
    assert res.rejects.empty, res.rejects.to_dict("records")
    v = res.valid
    assert list(v.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    rows = {(r["cid"], r["task"]): r for r in v.to_dict("records")}
    assert set(rows) == {
        ("7965307-5291", "HeelHeight"), ("7965307-5291", "Closure"), ("7965307-5291", "Gender"),
        ("7965307-5291", "Material"), ("7965307-5291", "ToeStyle"),
        ("100627-72", "HeelHeight"), ("100627-72", "Closure"), ("100627-72", "Gender"),
        ("8000-1", "HeelHeight"), ("8000-1", "ToeStyle"),
    }  # empty fields are absent tasks, not rejects

    heel = rows[("7965307-5291", "HeelHeight")]
    assert heel["labels"] == ["1in - 1 3/4in"] and heel["values"] == ["低跟"]
    assert heel["slot"] == "heel_height" and heel["multi_label"] is False
    assert heel["image_mode"] == "CMYK" and heel["image_id"] == "7965307-5291"
    assert heel["category"] == "Boots" and heel["subcategory"] == "Ankle"
    assert heel["brand"] == "A. Testoni"
    assert heel["image_path"] == str(tmp_path / IMAGES / "Boots/Ankle/A. Testoni/7965307.5291.jpg")

    closure = rows[("7965307-5291", "Closure")]
    assert closure["labels"] == ["Lace up", "Zipper"] and closure["values"] == ["系带", "拉链"]
    assert closure["multi_label"] is True and closure["slot"] == "closure"
    toe = rows[("7965307-5291", "ToeStyle")]
    assert toe["labels"] == ["Round Toe", "Capped Toe"] and toe["values"] == ["圆头"]
    gender = rows[("100627-72", "Gender")]
    assert gender["labels"] == ["Men", "Boys"] and gender["values"] == [] and pd.isna(gender["slot"])
    assert rows[("100627-72", "HeelHeight")]["values"] == ["平跟"]
    assert rows[("100627-72", "HeelHeight")]["image_mode"] == "L"
    peep = rows[("8000-1", "ToeStyle")]
    assert peep["labels"] == ["Open Toe", "Peep Toe"] and peep["values"] == ["露趾"]
    assert rows[("8000-1", "HeelHeight")]["values"] == ["高跟"]

    assert res.stats["unmapped_labels"] == {
        "Gender/Boys": 1, "Gender/Men": 1, "Gender/Women": 1, "Material/Leather": 1,
        "Material/Rubber": 1, "ToeStyle/Capped Toe": 1}
    assert res.stats["repeated_labels"] == 1
    assert res.stats["images_without_metadata"] == 1
    assert res.stats["rows_per_task"]["HeelHeight"] == 3
    assert not v.duplicated(["task", "image_id"]).any()


def test_every_heel_height_is_known_and_mapped(tmp_path):
    rows = []
    for i, heel in enumerate(HEEL_HEIGHTS):
        _img(tmp_path, f"{i + 1}-1")
        rows.append(f"{i + 1}-1,Shoes,Oxfords,{heel},,,,,")
    res = read_utzap50k(_meta(tmp_path, rows))
    assert res.rejects.empty
    assert [v[0] for v in res.valid["values"]] == ["平跟", "平跟", "低跟", "中跟", "高跟", "高跟", "高跟"]


def test_every_bad_record_gets_its_reason(tmp_path):
    for cid in ("1-1", "2-2", "3-3", "4-4", "5-5"):
        _img(tmp_path, cid)
    _img(tmp_path, "6-6", "Shoes/Oxfords/A")
    _img(tmp_path, "6-6", "Boots/Ankle/B")       # two files for one CID, neither matches
    _img(tmp_path, "7-7", "Shoes/Oxfords/A")
    _img(tmp_path, "7-7", "Boots/Ankle/B")       # two files, the metadata's folder wins
    folder = tmp_path / IMAGES / "Shoes/Oxfords/Brand X"
    write_empty(folder / "10.10.jpg")
    write_truncated(folder / "11.11.jpg")
    write_corrupt(folder / "12.12.jpg")
    write_image(folder / "13.13.jpg", size=(8, 8))
    res = read_utzap50k(_meta(tmp_path, [
        "1-1,Shoes,Oxfords,Flat,,Lace up,Men,Leather,Round Toe",          # valid (5 rows)
        "1-1,Shoes,Oxfords,Flat,,Lace up,Men,Leather,Round Toe",          # duplicate_cid
        "2-2,Shoes,Oxfords,Flat,,Lace up,Men,Leather",                    # wrong_column_count
        "3_3,Shoes,Oxfords,Flat,,Lace up,Men,Leather,Round Toe",          # bad_cid
        "4-4,Shoes,Oxfords,6in - 7in,,Buckle,,,",                         # unknown_label (+1 row)
        "5-5,Shoes,Oxfords,Flat;Under 1in,,,,,",                          # multiple_labels
        "6-6,Sandals,Flat,Flat,,,,,",                                     # ambiguous_image
        "7-7,Boots,Ankle,Flat,,,,,",                                      # valid (1 row)
        "404-1,Shoes,Oxfords,Flat,,,,,",                                  # image_missing
        "10-10,Shoes,Oxfords,Flat,,,,,",                                  # image_empty
        "11-11,Shoes,Oxfords,Flat,,,,,",                                  # image_truncated
        "12-12,Shoes,Oxfords,Flat,,,,,",                                  # image_corrupt
        "13-13,Shoes,Oxfords,Flat,,,,,",                                  # image_too_small
        "",
    ]))
    assert reasons(res) == sorted([
        "duplicate_cid", "wrong_column_count", "bad_cid", "unknown_label", "multiple_labels",
        "ambiguous_image", "image_missing", "image_empty", "image_truncated", "image_corrupt",
        "image_too_small",
    ])
    assert sorted(set(res.valid["cid"])) == ["1-1", "4-4", "7-7"]
    assert len(res.valid[res.valid.cid == "1-1"]) == 5
    assert res.valid[res.valid.cid == "4-4"]["task"].tolist() == ["Closure"]
    assert res.valid[res.valid.cid == "7-7"]["image_path"].iloc[0].endswith("Boots/Ankle/B/7.7.jpg")
    by_reason = res.rejects.set_index("reason")
    assert by_reason.loc["duplicate_cid", "location"].endswith("meta-data.csv:3")
    assert "6in - 7in" in by_reason.loc["unknown_label", "detail"]
    assert "404.1.jpg" in by_reason.loc["image_missing", "detail"]
    assert res.stats["blank_lines"] == 1


def test_bad_header_rejects_the_whole_file(tmp_path):
    _img(tmp_path, "1-1")
    res = read_utzap50k(_meta(tmp_path, ["1-1,Shoes,Oxfords,Flat,,,,,"],
                              header="CID,Category,Sub,HeelHeight,Insole,Closure,Gender,Material,ToeStyle"))
    assert reasons(res) == ["bad_header"] and res.valid.empty


def test_missing_root_metadata_and_image_folder(tmp_path):
    res = read_utzap50k(tmp_path / "nope")
    assert reasons(res) == ["root_missing"]
    assert res.rejects.iloc[0]["location"] == "."
    assert list(res.valid.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS

    res = read_utzap50k(tmp_path)
    assert reasons(res) == ["file_missing"]
    assert res.rejects.iloc[0]["location"] == "ut-zap50k-data/meta-data.csv"

    res = read_utzap50k(_meta(tmp_path, ["1-1,Shoes,Oxfords,Flat,,,,,"]))
    assert reasons(res) == ["file_missing", "image_missing"]


def test_check_images_off(tmp_path):
    write_truncated(tmp_path / IMAGES / "Shoes/Oxfords/X/1.1.jpg")
    res = read_utzap50k(_meta(tmp_path, ["1-1,Shoes,Oxfords,Flat,,,,,"]), check_images=False)
    assert res.rejects.empty and pd.isna(res.valid.iloc[0]["image_mode"])
