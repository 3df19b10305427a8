from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.sources.crawl import BASE_COLUMNS, read_crawl

from .imgutil import reasons, write_corrupt, write_empty, write_image, write_truncated


def _manifest(root: Path, rows: list[str], header: str = "path,label,url,query") -> None:
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _tree(root: Path) -> None:
    write_image(root / "upper_height/高帮/a.jpg")
    write_image(root / "upper_height/高帮/b.png", mode="RGBA")
    write_image(root / "upper_height/低帮/c.jpeg", mode="L")
    write_image(root / "upper_height/中帮/d.webp")
    write_image(root / "upper_height/中帮/e.png", mode="P")
    write_image(root / "upper_height/超高帮/f.jpg", mode="CMYK")   # value not in the map
    (root / "upper_height/高帮/.DS_Store").write_bytes(b"\0")    # hidden: skipped, counted


def test_folders_without_manifest(tmp_path):
    _tree(tmp_path)
    res = read_crawl(tmp_path)
    assert res.rejects.empty, res.rejects.to_dict("records")
    v = res.valid
    assert list(v.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    rows = {r["image_id"]: r for r in v.to_dict("records")}
    assert set(rows) == {"upper_height/高帮/a.jpg", "upper_height/高帮/b.png",
                         "upper_height/低帮/c.jpeg", "upper_height/中帮/d.webp",
                         "upper_height/中帮/e.png", "upper_height/超高帮/f.jpg"}
    a = rows["upper_height/高帮/a.jpg"]
    assert a["source"] == "crawl" and a["task"] == "upper_height"
    assert a["labels"] == ["高帮"] and a["values"] == ["高帮"] and a["slot"] == "upper_height"
    assert a["multi_label"] is False and a["in_manifest"] is False and pd.isna(a["url"])
    assert a["image_path"] == str(tmp_path / "upper_height/高帮/a.jpg")
    assert {k: r["image_mode"] for k, r in rows.items()} == {
        "upper_height/高帮/a.jpg": "RGB", "upper_height/高帮/b.png": "RGBA",
        "upper_height/低帮/c.jpeg": "L", "upper_height/中帮/d.webp": "RGB",
        "upper_height/中帮/e.png": "P", "upper_height/超高帮/f.jpg": "CMYK"}
    unmapped = rows["upper_height/超高帮/f.jpg"]
    assert unmapped["values"] == [] and unmapped["slot"] == "upper_height"
    assert res.stats["unmapped_labels"] == {"upper_height/超高帮": 1}
    assert res.stats["hidden_entries_skipped"] == 1
    assert res.stats["manifest"] is False
    assert res.stats["images_needing_conversion"] == 4


def test_manifest_and_every_bad_record(tmp_path):
    _tree(tmp_path)
    write_image(tmp_path / "sneakers/white/g.jpg")               # unknown_attribute
    (tmp_path / "upper_height/高帮/notes.txt").write_text("x")    # not_an_image
    (tmp_path / "README.txt").write_text("x")                     # misplaced_file
    write_image(tmp_path / "upper_height/h.jpg")                  # misplaced_file
    write_empty(tmp_path / "upper_height/高帮/empty.jpg")
    write_truncated(tmp_path / "upper_height/高帮/cut.jpg")
    write_corrupt(tmp_path / "upper_height/高帮/junk.png")
    write_image(tmp_path / "upper_height/高帮/tiny.jpg", size=(8, 8))
    _manifest(tmp_path, [
        "upper_height/高帮/a.jpg,高帮,https://shop.example/a,高帮 运动鞋",  # valid, in manifest
        "upper_height/低帮/c.jpeg,高帮,https://shop.example/c,低帮",       # label_mismatch
        "upper_height/高帮/gone.jpg,高帮,https://shop.example/g,高帮",     # image_missing
        "upper_height/高帮/a.jpg,高帮,https://shop.example/a2,dup",        # duplicate_record
        "upper_height/高帮/b.png,高帮,https://shop.example/b",             # wrong_column_count
        "../elsewhere/x.jpg,高帮,,",                                       # bad_image_path
        "upper_height/中帮/d.webp,,,",                                     # no label given: fine
    ])
    res = read_crawl(tmp_path)
    assert reasons(res) == sorted([
        "label_mismatch", "image_missing", "duplicate_record", "wrong_column_count",
        "bad_image_path", "unknown_attribute", "not_an_image", "misplaced_file",
        "misplaced_file", "image_empty", "image_truncated", "image_corrupt", "image_too_small",
    ])
    rows = {r["image_id"]: r for r in res.valid.to_dict("records")}
    assert set(rows) == {"upper_height/高帮/a.jpg", "upper_height/高帮/b.png",
                         "upper_height/中帮/d.webp", "upper_height/中帮/e.png",
                         "upper_height/超高帮/f.jpg"}
    a = rows["upper_height/高帮/a.jpg"]
    assert a["in_manifest"] is True and a["url"] == "https://shop.example/a"
    assert a["query"] == "高帮 运动鞋"
    assert rows["upper_height/中帮/d.webp"]["in_manifest"] is True
    # b.png's manifest row was rejected, so b.png is a file the manifest does not list
    assert res.stats["files_not_in_manifest"] == 7  # b, e, f and the 4 broken images
    by_reason = res.rejects.set_index("reason")
    assert "高帮" in by_reason.loc["label_mismatch", "detail"]
    assert by_reason.loc["label_mismatch", "location"].endswith("manifest.csv:3")
    assert by_reason.loc["image_missing", "location"].endswith("manifest.csv:4")
    assert "sneakers" in by_reason.loc["unknown_attribute", "detail"]


def test_bad_manifest_header_is_rejected_and_folders_still_read(tmp_path):
    _tree(tmp_path)
    _manifest(tmp_path, ["upper_height/高帮/a.jpg,高帮,u,q"], header="file,label,url,query")
    res = read_crawl(tmp_path)
    assert reasons(res) == ["bad_header"]
    assert len(res.valid) == 6 and not res.valid["in_manifest"].any()


def test_missing_root_is_a_reject(tmp_path):
    res = read_crawl(tmp_path / "nope")
    assert reasons(res) == ["root_missing"]
    assert res.rejects.iloc[0]["location"] == "."                # the root itself, relative to itself
    assert res.valid.empty and list(res.valid.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS


def test_check_images_off(tmp_path):
    write_truncated(tmp_path / "upper_height/高帮/cut.jpg")
    res = read_crawl(tmp_path, check_images=False)
    assert res.rejects.empty and pd.isna(res.valid.iloc[0]["image_mode"])
