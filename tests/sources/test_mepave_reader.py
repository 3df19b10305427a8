"""MEPAVE reader: the real sample lines parse exactly; each kind of bad line has its reason."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.schema import default_schema
from pipeline.sources.features import read_features
from pipeline.sources.mepave import (
    TagError, parse_tagged, read_mepave, read_product_images, read_sentences, split_of,
)

ATTRS = default_schema().mepave_attributes


def real_lines(mepave_sample_dir: Path):
    for path in sorted(mepave_sample_dir.glob("*.sample")):
        for line in path.read_text(encoding="utf-8").splitlines():
            yield line.split("\t")


def test_every_real_line_parses_exactly(mepave_sample_dir):
    lines = list(real_lines(mepave_sample_dir))
    assert len(lines) == 70
    for cid, sid, text, tagged in lines:
        plain, spans = parse_tagged(tagged, ATTRS)
        assert plain == text
        for span in spans:
            assert text[span.start:span.end] == span.value
            assert span.attribute in ATTRS
    files = sorted(mepave_sample_dir.glob("*.sample"))
    result = read_sentences(files)
    assert len(result.valid) == 70 and result.rejects.empty
    assert set(result.valid["split"]) == {"train", "validation"}


def test_known_line_spans():
    text = "以纯短袖T恤撞色英文印花时尚刺绣"
    tagged = "以纯<袖长>短袖</袖长>T恤<图案>撞色</图案>英文<图案>印花</图案>时尚<图案>刺绣</图案>"
    plain, spans = parse_tagged(tagged, ATTRS)
    assert plain == text
    assert [(s.attribute, s.value, s.start, s.end) for s in spans] == [
        ("袖长", "短袖", 2, 4), ("图案", "撞色", 6, 8), ("图案", "印花", 10, 12), ("图案", "刺绣", 14, 16)]


@pytest.mark.parametrize("tagged, reason", [
    ("a<颜色>黑色</材质>b", "unbalanced_tag"),
    ("a<颜色>黑色b", "unbalanced_tag"),
    ("a黑色</颜色>b", "unbalanced_tag"),
    ("<图案><颜色>黑</颜色></图案>", "nested_tag"),
    ("<尺码>XL</尺码>", "unknown_attribute"),
    ("a<颜色></颜色>b", "empty_value"),
])
def test_bad_tags(tagged, reason):
    with pytest.raises(TagError) as err:
        parse_tagged(tagged, ATTRS)
    assert err.value.reason == reason


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


GOOD = "c_1\ts_1\t黑色连衣裙\t<颜色>黑色</颜色>连衣裙\n"


def test_bad_lines_each_get_their_reason(tmp_path):
    body = (GOOD + "\n"
            "c_1\ts_2\tonly three\n"
            "c_1\ts_3\ta\tb\textra\n"
            "\ts_4\t裙子\t裙子\n"
            "c_1\ts_5\t裙子\t<颜色>黑色</材质>裙子\n"
            "c_1\ts_6\t裙子\t<图案><颜色>黑</颜色></图案>裙子\n"
            "c_1\ts_7\tXL裙子\t<尺码>XL</尺码>裙子\n"
            "c_1\ts_8\t裙子\t<颜色></颜色>裙子\n"
            "c_1\ts_9\t红色裙子\t<颜色>黑色</颜色>裙子\n"
            "c_1\ts_1\t又一条裙子\t又一条裙子\n").encode("utf-8") + b"c_1\ts_10\t\xff\xfe\t\xff\n"
    result = read_mepave(write(tmp_path / "jdai.jave.fashion.train", body))
    assert len(result.valid) == 1 and result.valid["category"].iloc[0] == "Dresses"
    assert result.stats["blank_lines"] == 1
    assert sorted(result.rejects["reason"]) == sorted([
        "wrong_column_count", "wrong_column_count", "empty_field", "unbalanced_tag", "nested_tag",
        "unknown_attribute", "empty_value", "text_mismatch", "duplicate_sid", "invalid_encoding"])
    dup = result.rejects[result.rejects["reason"] == "duplicate_sid"]
    assert dup["location"].iloc[0].endswith(":11")


def test_bom_and_crlf_are_tolerated(tmp_path):
    clean = read_mepave(write(tmp_path / "a.train", GOOD))
    (tmp_path / "b").mkdir()
    crlf = read_mepave(write(tmp_path / "b" / "jdai.jave.fashion.valid",
                             b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode("utf-8")))
    assert crlf.rejects.empty and crlf.stats["blank_lines"] == 0
    assert crlf.valid[["cid", "sid", "text", "category"]].equals(clean.valid[["cid", "sid", "text", "category"]])
    assert split_of(tmp_path / "b" / "jdai.jave.fashion.valid") == "validation"


def test_categories_rejects_and_overrides(tmp_path):
    body = ("c_d\ts_1\t修身连衣裙\t修身连衣裙\n"
            "c_b\ts_2\t经典马丁靴\t经典马丁靴\n"
            "c_x\ts_3\t真皮单肩包\t<材质>真皮</材质>单肩包\n"
            "c_x\ts_4\t搭扣设计\t<闭合方式>搭扣</闭合方式>设计\n"
            "c_o\ts_5\t复古风\t<风格>复古风</风格>\n"
            "c_s\ts_6\t这款方形\t这款<形状>方形</形状>\n")
    src = write(tmp_path / "jdai.jave.fashion.train", body)
    result = read_mepave(src)
    cats = dict(zip(result.valid["cid"], result.valid["category"]))
    assert cats == {"c_d": "Dresses", "c_b": "Boots"}
    no_cat = result.rejects[result.rejects["reason"] == "no_category"]
    assert sorted(no_cat["record"].str.split("\t").str[1]) == ["s_3", "s_4", "s_5", "s_6"]
    overrides = write(tmp_path / "cats.csv", "cid,category\nc_o,Clothes\nc_s,Hats\n")
    result = read_mepave(src, category_overrides=overrides)
    cats = dict(zip(result.valid["cid"], result.valid["category"]))
    assert cats["c_o"] == "Clothes" and "c_s" not in cats
    assert (result.rejects["reason"] == "bad_category_override").sum() == 1


def test_unmapped_attribute_kept_with_no_slot(tmp_path):
    src = write(tmp_path / "jdai.jave.fashion.train", "c_1\ts_1\t方形单鞋\t<形状>方形</形状>单鞋\n")
    spans = read_mepave(src).valid["spans"].iloc[0]
    assert spans == [{"attribute": "形状", "slot": None, "value": "方形", "start": 0, "end": 2}]


def test_missing_root_is_a_reject(tmp_path):
    result = read_mepave(tmp_path / "nowhere")
    assert result.valid.empty and list(result.rejects["reason"]) == ["no_files"]


def test_product_images(tmp_path):
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "c_ok.jpg")
    Image.new("L", (32, 32), 90).save(tmp_path / "c_gray.jpg")
    (tmp_path / "c_empty.jpg").write_bytes(b"")
    (tmp_path / "c_junk.jpg").write_bytes(b"not an image at all" * 10)
    result = read_product_images(tmp_path, ["c_ok", "c_gray", "c_empty", "c_junk", "c_gone"])
    assert dict(zip(result.valid["cid"], result.valid["image_mode"])) == {"c_ok": "RGB", "c_gray": "L"}
    assert dict(zip(result.rejects["record"], result.rejects["reason"])) == {
        "c_empty": "image_empty", "c_junk": "image_corrupt", "c_gone": "image_missing"}


def test_real_features(mepave_sample_dir):
    features = read_features(mepave_sample_dir / "embedded")
    assert len(features.result.valid) == 90 and features.result.rejects.empty
    raw = np.load(mepave_sample_dir / "embedded" / "imgs.embeddedG.npy")
    cid = features.result.valid["cid"].iloc[7]
    np.testing.assert_array_equal(features.features_for([cid])[0], raw[7])


def test_bad_features(tmp_path):
    np.save(tmp_path / "imgs.embeddedG.npy", np.ones((3, 4), np.float32))
    (tmp_path / "cids_of_imgs").write_text("a\nb\n")
    assert read_features(tmp_path).result.rejects_by_reason() == {"feature_shape_mismatch": 1}
    arr = np.ones((3, 4), np.float32)
    arr[2, 1] = np.nan
    np.save(tmp_path / "imgs.embeddedG.npy", arr)
    (tmp_path / "cids_of_imgs").write_text("a\na\nc\n")
    result = read_features(tmp_path).result
    assert result.rejects_by_reason() == {"duplicate_cid": 1, "non_finite_features": 1}
    assert list(result.valid["cid"]) == ["a"]
    np.save(tmp_path / "imgs.embeddedG.npy", np.ones(3, np.float32))
    assert read_features(tmp_path).result.rejects_by_reason() == {"bad_feature_array": 1}
    assert read_features(tmp_path / "none").result.rejects_by_reason() == {"file_missing": 2}
