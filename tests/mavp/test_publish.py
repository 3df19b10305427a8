"""The dataset folder: written atomically, swapped in by a link, loadable with `datasets`."""

import os

import pandas as pd
import pytest

from pipeline.mavp.publish import DatasetBuild, dataset_card, publish


def make_build(n=6, fail=False):
    frames = {s: pd.DataFrame({"sid": [f"{s}{i}" for i in range(n)], "cid": ["c"] * n, "color": ["红色"] * n})
              for s in ("train", "validation", "test")}

    def chart(path):
        if fail:
            raise RuntimeError("disk full")
        path.write_bytes(b"\x89PNG")
    return DatasetBuild(splits=frames, images={}, schema={"slots": []},
                        card=dataset_card("MAVP test", {s: n for s in frames}, "summary"),
                        rejects={"x": pd.DataFrame({"reason": ["bad"]})}, reports={"quality.json": {"n": n}},
                        charts={"c.png": chart})


def test_publish_links_the_build_and_skips_an_identical_one(tmp_path):
    folder, written = publish(make_build(), tmp_path)
    assert written and (tmp_path / "dataset").is_symlink()
    assert (tmp_path / "dataset" / "data" / "train-00000-of-00001.parquet").is_file()
    assert (tmp_path / "dataset" / "rejects" / "x.parquet").is_file()
    mtime = (folder / "README.md").stat().st_mtime_ns
    again, written_again = publish(make_build(), tmp_path)
    assert again == folder and not written_again and (folder / "README.md").stat().st_mtime_ns == mtime


def test_a_crash_mid_build_leaves_the_previous_dataset_whole(tmp_path):
    first, _ = publish(make_build(n=6), tmp_path)
    with pytest.raises(RuntimeError):
        publish(make_build(n=7, fail=True), tmp_path)
    assert os.path.realpath(tmp_path / "dataset") == str(first.resolve())
    assert len(pd.read_parquet(tmp_path / "dataset" / "data" / "test-00000-of-00001.parquet")) == 6
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == [first.name]     # no half-written folder


def test_datasets_loads_the_three_splits_from_the_card(tmp_path, monkeypatch):
    import datasets
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    publish(make_build(n=5), tmp_path)
    loaded = datasets.load_dataset(str(tmp_path / "dataset"), cache_dir=str(tmp_path / "hf"))
    assert {s: len(loaded[s]) for s in loaded} == {"train": 5, "validation": 5, "test": 5}
    assert loaded["train"].column_names == ["sid", "cid", "color"]
