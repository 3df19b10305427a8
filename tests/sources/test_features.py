"""MEPAVE precomputed image features: the real embedded sample and crafted bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.sources import features as f
from tests.sources.imgutil import reasons


def make(tmp_path: Path, ids: list[str], array: np.ndarray) -> Path:
    d = tmp_path / "embedded"
    d.mkdir(exist_ok=True)
    (d / f.IDS_FILE).write_text("".join(i + "\n" for i in ids), encoding="utf-8")
    np.save(d / f.DEFAULT_ARRAY, array)
    return d


def test_real_embedded(mepave_sample_dir):
    d = mepave_sample_dir / "embedded"
    fs = f.read_features(d)
    res = fs.result
    assert len(res.rejects) == 0
    assert len(res.valid) == 90
    assert res.stats["dim"] == 2048 and res.stats["rows"] == 90
    full = np.load(d / f.DEFAULT_ARRAY)
    ids = (d / f.IDS_FILE).read_text(encoding="utf-8-sig").splitlines()
    pick = [ids[5], ids[0], ids[89]]
    got = fs.features_for(pick)
    assert got.shape == (3, 2048)
    np.testing.assert_array_equal(got, full[[5, 0, 89]])
    assert f.read_features(d, expected_dim=2048).result.rejects.empty


def test_expected_dim_mismatch(mepave_sample_dir):
    res = f.read_features(mepave_sample_dir / "embedded", expected_dim=512).result
    assert reasons(res) == [f.BAD_ARRAY] and res.valid.empty


def test_fewer_ids_than_rows(tmp_path):
    d = make(tmp_path, ["a", "b"], np.zeros((3, 4), np.float32))
    fs = f.read_features(d)
    assert reasons(fs.result) == [f.SHAPE_MISMATCH] and fs.result.valid.empty


def test_duplicate_cid(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    fs = f.read_features(make(tmp_path, ["a", "b", "a"], arr))
    assert reasons(fs.result) == [f.DUPLICATE_CID]
    assert fs.result.valid.to_dict("records") == [{"cid": "a", "row": 0}, {"cid": "b", "row": 1}]
    np.testing.assert_array_equal(fs.features_for(["a"]), arr[[0]])


def test_nan_row(tmp_path):
    arr = np.ones((3, 4), np.float32)
    arr[1, 2] = np.nan
    fs = f.read_features(make(tmp_path, ["a", "b", "c"], arr))
    assert reasons(fs.result) == [f.NON_FINITE]
    assert list(fs.result.valid["cid"]) == ["a", "c"]


def test_one_dimensional_array(tmp_path):
    fs = f.read_features(make(tmp_path, ["a", "b"], np.zeros(2, np.float32)))
    assert reasons(fs.result) == [f.BAD_ARRAY] and fs.array is None


def test_missing_files(tmp_path):
    fs = f.read_features(tmp_path)
    assert reasons(fs.result) == [f.FILE_MISSING, f.FILE_MISSING]
    assert fs.result.valid.empty and fs.array is None
