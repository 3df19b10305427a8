"""The dataset folder: written atomically, swapped in by a link, loadable with `datasets`, and a
rebuild with other rows loaded as those rows through the same `datasets` cache."""

import io
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from pipeline.mavp.publish import (BASELINES_FILE, BASELINES_HEADING, DatasetBuild, card_features, publish,
                                   publish_baselines, size_category, split_files)

SPLITS = ("train", "validation", "test")


def jpeg(path, color):
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return str(path)


def make_build(n=6, color="红色", images=None):
    frames = {s: pd.DataFrame({"sid": [f"{s}{i}" for i in range(n)], "cid": ["c"] * n,
                               "image": pd.Series(["c.jpg"] * (n - 1) + [None], dtype="string"),
                               "color": [color] * n, "color_source": ["image"] * n,
                               "color_confidence": np.full(n, 0.75, np.float32)})
              for s in SPLITS}
    return DatasetBuild(name="MAVP test", summary_md="summary", splits=frames, images=images or {},
                        schema={"slots": []}, rejects={"x": pd.DataFrame({"reason": ["bad"]})}, reports={"quality.json": {"n": n}},
                        charts={"c.png": b"\x89PNG"})


@pytest.fixture
def image(tmp_path):
    return {"c.jpg": jpeg(tmp_path / "c.jpg", (200, 0, 0))}


def test_publish_links_the_build_and_skips_an_identical_one(tmp_path, image):
    folder, written = publish(make_build(images=image), tmp_path)
    assert written and (tmp_path / "dataset").is_symlink()
    assert set(split_files(tmp_path / "dataset")) == set(SPLITS)
    assert (tmp_path / "dataset" / "rejects" / "x.parquet").is_file()
    mtime = (folder / "README.md").stat().st_mtime_ns
    again, written_again = publish(make_build(images=image), tmp_path)
    assert again == folder and not written_again and (folder / "README.md").stat().st_mtime_ns == mtime


def test_a_crash_mid_build_leaves_the_previous_dataset_whole(tmp_path, image, monkeypatch):
    first, _ = publish(make_build(n=6, images=image), tmp_path)

    def disk_full(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr("pipeline.mavp.publish.write_json", disk_full)     # after the splits are written
    with pytest.raises(RuntimeError):
        publish(make_build(n=7, images=image), tmp_path)
    assert os.path.realpath(tmp_path / "dataset") == str(first.resolve())
    assert len(pd.read_parquet(split_files(tmp_path / "dataset")["test"])) == 6
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == [first.name]     # no half-written folder


def test_split_files_are_named_by_their_rows_and_image_bytes(tmp_path, image):
    key = make_build(images=image).data_key
    assert make_build(images=image).data_key == key
    assert make_build(color="黑色", images=image).data_key != key
    other = {"c.jpg": jpeg(tmp_path / "other.jpg", (0, 0, 200))}
    assert make_build(images=other).data_key != key                   # same rows, other image bytes
    assert make_build(images={"c.jpg": image["c.jpg"]}).data_key == key  # the file's place does not count


def test_card_declares_features_and_size(image):
    frame = make_build().splits["train"]
    assert card_features(frame) == [
        {"name": "sid", "dtype": "string"}, {"name": "cid", "dtype": "string"}, {"name": "image", "dtype": "image"},
        {"name": "color", "dtype": "string"}, {"name": "color_source", "dtype": "string"},
        {"name": "color_confidence", "dtype": "float32"}]
    assert [size_category(n) for n in (0, 999, 1000, 12_345, 250_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M"]
    meta = yaml.safe_load(make_build(n=400, images=image).card.split("---")[1])
    assert meta["size_categories"] == ["1K<n<10K"]                    # 3 x 400 rows


def load(folder, cache):
    import datasets
    return datasets.load_dataset(str(folder), cache_dir=str(cache))


def test_datasets_loads_decoded_images_and_string_slots(tmp_path, monkeypatch, image):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    publish(make_build(n=5, images=image), tmp_path)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")                          # images decode from any directory
    loaded = load(tmp_path / "dataset", tmp_path / "hf")
    assert {s: len(loaded[s]) for s in loaded} == {"train": 5, "validation": 5, "test": 5}
    train = loaded["train"]
    assert train.column_names == ["sid", "cid", "image", "color", "color_source", "color_confidence"]
    assert type(train.features["image"]).__name__ == "Image"
    assert {train.features[c].dtype for c in ("sid", "color", "color_source")} == {"string"}
    first = train[0]
    assert first["image"].size == (8, 6) and first["image"].getpixel((4, 3))[0] > 150
    assert train[4]["image"] is None and first["color"] == "红色" and first["color_confidence"] == 0.75


def test_a_rebuild_with_other_rows_loads_as_those_rows_through_the_same_cache(tmp_path, monkeypatch, image):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    publish(make_build(n=5, images=image), tmp_path)
    first = load(tmp_path / "dataset", tmp_path / "hf")
    assert len(first["train"]) == 5 and first["train"][0]["color"] == "红色"
    publish(make_build(n=5, color="黑色", images=image), tmp_path)          # same card size, other values
    assert set(load(tmp_path / "dataset", tmp_path / "hf")["train"]["color"]) == {"黑色"}
    publish(make_build(n=8, images=image), tmp_path)
    assert {s: len(d) for s, d in load(tmp_path / "dataset", tmp_path / "hf").items()} == dict.fromkeys(SPLITS, 8)


def test_baseline_results_join_the_card_as_a_build_of_their_own(tmp_path, image):
    build = make_build(images=image)
    build.reports = {**build.reports, "quality.md": "# Quality\n"}
    folder, _ = publish(build, tmp_path)
    card = (folder / "README.md").read_text(encoding="utf-8")
    results = tmp_path / "results.json"
    results.write_text('{"table_vii": []}\n', encoding="utf-8")
    shown, linked = publish_baselines(tmp_path, folder, f"{BASELINES_HEADING}\n\nfirst\n", results)
    assert linked and (tmp_path / "dataset").resolve() == shown != folder
    assert (folder / "README.md").read_text(encoding="utf-8") == card        # hard links never written through
    for name in ("README.md", "reports/quality.md"):
        assert (shown / name).read_text(encoding="utf-8").endswith(f"{BASELINES_HEADING}\n\nfirst\n")
    assert (shown / "reports" / BASELINES_FILE).read_bytes() == results.read_bytes()
    assert split_files(shown).keys() == split_files(folder).keys()
    # a second benchmark replaces the section on the same base build
    again, _ = publish_baselines(tmp_path, shown, f"{BASELINES_HEADING}\n\nsecond\n", results)
    text = (again / "README.md").read_text(encoding="utf-8")
    assert "second" in text and "first" not in text and text.count(BASELINES_HEADING) == 1
    assert again.name.split("+")[0] == folder.name
    # the same dataset published again: the plain build, whose card claims no results
    assert publish(build, tmp_path)[0] == folder == (tmp_path / "dataset").resolve()
    # results of a build that is no longer current never displace the current one
    newer, _ = publish(make_build(images=image, color="蓝色"), tmp_path)
    _, linked = publish_baselines(tmp_path, folder, f"{BASELINES_HEADING}\n\nold\n", results)
    assert not linked and (tmp_path / "dataset").resolve() == newer
