"""The MuJo-SF instances read from a published dataset folder, bad rows to the rejects."""

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.benchmark.data import load_slot_data, slot_sets, true_image_targets
from pipeline.benchmark.metrics import IGNORE
from pipeline.mavp.publish import DATA_FILE, IMAGE_TYPE

SCHEMA = {
    "slots": [{"key": "material", "zh": "材质", "values": ["棉", "真皮"]},
              {"key": "color", "zh": "颜色", "values": ["黑色", "白色"]},
              {"key": "toecap", "zh": "鞋头", "values": ["圆头", "尖头"]}],
    "categories": [{"name": "Shoes", "text_slots": ["material"], "image_slots": ["toecap", "color"]},
                   {"name": "Clothes", "text_slots": ["material"], "image_slots": ["color"]}],
}


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), color).save(buf, "PNG")
    return buf.getvalue()


def _row(sid, cid, category, material, color, toecap, image):
    return {"sid": sid, "cid": cid, "category": category, "text": f"{material}鞋", "material": material,
            "color": color, "color_reliability": 0.9, "toecap": toecap, "toecap_reliability": 0.2, "image": image}


def _write(folder, rows_by_split):
    (folder / "data").mkdir(parents=True)
    (folder / "schema.json").write_text(json.dumps(SCHEMA, ensure_ascii=False), encoding="utf-8")
    for split, rows in rows_by_split.items():
        frame = pd.DataFrame(rows)
        table = pa.Table.from_pandas(frame.drop(columns="image"), preserve_index=False).append_column(
            "image", pa.array(frame["image"].tolist(), type=IMAGE_TYPE))
        pq.write_table(table, folder / DATA_FILE.format(split=split, key="k"))


def _dataset(tmp_path):
    black = {"bytes": _png((0, 0, 0)), "path": "a.png"}
    white = {"bytes": _png((255, 255, 255)), "path": "b.png"}
    broken = {"bytes": b"\x89PNG not really", "path": "c.png"}
    folder = tmp_path / "dataset"
    _write(folder, {
        "train": [_row("s1", "a", "Shoes", "棉", "黑色", "圆头", black),
                  _row("s2", "a", "Shoes", "none", "黑色", "圆头", black),
                  _row("s3", "b", "Clothes", "真皮", "白色", "none", white),
                  _row("s4", "x", "Hats", "棉", "黑色", "none", None),            # no such category
                  _row("s5", "b", "Clothes", "丝绸", "白色", "none", white),      # not in the vocabulary
                  _row("s6", "c", "Clothes", "棉", "白色", "none", broken),        # image does not decode
                  _row("s7", "d", "Clothes", "棉", "none", "none", None)],       # no image: kept, blank
        "validation": [_row("s8", "e", "Shoes", "真皮", "白色", "尖头", white)],
        "test": [_row("s9", "f", "Clothes", "none", "黑色", "none", black)],
    })
    return folder


def test_slot_sets_follow_the_schema_with_none_as_a_candidate():
    text, image = slot_sets(SCHEMA)
    assert text.names == ("material",) and text.candidates == (("棉", "真皮", "none"),) and text.labels == ("材质",)
    assert image.names == ("color", "toecap") and image.candidates[1] == ("圆头", "尖头", "none")


def test_instances_targets_pixels_and_rejects(tmp_path):
    data = load_slot_data(_dataset(tmp_path), 8, tmp_path / "cache")
    assert data.frame["sid"].tolist() == ["s1", "s2", "s3", "s7", "s8", "s9"]
    reasons = dict(zip(data.rejects["record"], data.rejects["reason"]))
    assert reasons == {"s4": "no_category", "s5": "value_not_in_vocabulary", "c": "image_corrupt"}
    assert data.text_targets[:, 0].tolist() == [0, 2, 1, 0, 1, 2]
    # color then toecap; Clothes have no toecap slot
    assert data.image_targets.tolist() == [[0, 0], [0, 0], [1, IGNORE], [2, IGNORE], [1, 1], [0, IGNORE]]
    assert data.pixels.shape[1:] == (8, 8, 3)
    assert data.pixels[data.pixel_row[0]].max() == 0 and data.pixels[data.pixel_row[2]].min() == 255
    assert data.pixel_row[3] == 0 and not data.pixels[0].any()                  # s7: the blank row
    assert data.rows("validation").tolist() == [4] and data.rows("test").tolist() == [5]
    again = load_slot_data(_dataset(tmp_path / "again"), 8, tmp_path / "cache")   # same files: the cached pixels
    assert again.key == data.key and np.array_equal(np.asarray(again.pixels), np.asarray(data.pixels))
    assert sorted(again.rejects["reason"]) == sorted(data.rejects["reason"])


def test_true_image_targets_from_the_generators_truth(tmp_path):
    data = load_slot_data(_dataset(tmp_path), 8, tmp_path / "cache")
    truth = pd.DataFrame({"cid": ["a", "b", "d", "e", "f"], "color": ["白色", "白色", None, "白色", "黑色"],
                          "toecap": ["尖头", None, None, "尖头", None]})
    assert true_image_targets(data, truth).tolist() == [[1, 1], [1, 1], [1, IGNORE], [IGNORE, IGNORE], [1, 1],
                                                        [0, IGNORE]]
