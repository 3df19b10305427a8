"""Region features through the cache, and precomputed MEPAVE features."""

import logging

import numpy as np
import pandas as pd
import torch
from PIL import Image

from models.backbones import build_backbone
from pipeline.progress import LOGGER_NAME
from pipeline.saliency.regions import RegionConfig, RegionTable, region_features


def write_images(folder, n=3):
    rows = []
    for i in range(n):
        path = folder / f"p{i}.jpg"
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(path)
        rows.append({"cid": f"c{i}", "image_path": str(path)})
    return pd.DataFrame(rows)


def test_cache_is_hit_on_rerun_and_missed_on_change(tmp_path):
    images = write_images(tmp_path)
    weights = tmp_path / "backbone.pt"
    torch.manual_seed(0)
    torch.save(build_backbone("mavp_cnn").state_dict(), weights)
    config = RegionConfig(kind="grid", image_size=32, weights=str(weights))
    first, rejects = region_features(images, config, tmp_path / "cache")
    assert first.stats["extracted"] == 3 and first.stats["cache_hits"] == 0 and rejects.empty
    second, _ = region_features(images, config, tmp_path / "cache")
    assert second.stats["extracted"] == 0 and second.stats["cache_hits"] == 3
    np.testing.assert_array_equal(first.features, second.features)
    # a changed image misses; the others still hit
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(images["image_path"][1])
    third, _ = region_features(images, config, tmp_path / "cache")
    assert third.stats["extracted"] == 1 and third.stats["cache_hits"] == 2
    # other settings are another cache key
    fourth, _ = region_features(images, RegionConfig(kind="grid", image_size=64, weights=str(weights)),
                                tmp_path / "cache")
    assert fourth.stats["extracted"] == 3
    path = third.save(tmp_path / "regions.npz")
    loaded = RegionTable.load(path)
    assert loaded.cids == third.cids and loaded.features.shape == third.features.shape


def test_unreadable_image_is_rejected_not_fatal(tmp_path):
    images = write_images(tmp_path)
    with open(images["image_path"][0], "wb") as fh:
        fh.write(b"not a jpeg")
    table, rejects = region_features(images, RegionConfig(kind="grid", image_size=32), tmp_path / "cache")
    assert table.cids == ["c1", "c2"]
    assert rejects["record"].tolist() == ["c0"]


def test_precomputed_real_mepave_features(mepave_sample_dir):
    ids = (mepave_sample_dir / "embedded" / "cids_of_imgs").read_text().split()
    config = RegionConfig(kind="precomputed", precomputed_dir=str(mepave_sample_dir / "embedded"))
    images = pd.DataFrame({"cid": ids[:5] + ["no_such_cid"]})
    table, rejects = region_features(images, config, "unused")
    assert table.features.shape == (5, 1, 2048) and table.cids == ids[:5]
    assert rejects["reason"].tolist() == ["no_precomputed_features"]
    raw = np.load(mepave_sample_dir / "embedded" / "imgs.embeddedG.npy")
    np.testing.assert_array_equal(table.features[:, 0], raw[:5])


def test_extraction_reports_progress(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    images = write_images(tmp_path)
    region_features(images, RegionConfig(kind="grid", image_size=32), tmp_path / "cache")
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert lines[-1].startswith("extracting region features (grid): 3/3 (100%), ")
    assert "image/s, took " in lines[-1]
    caplog.clear()
    region_features(images, RegionConfig(kind="grid", image_size=32), tmp_path / "cache")
    assert not [r for r in caplog.records if r.name == LOGGER_NAME]          # all cached: nothing to count


def _random_table(rng, cids, lengths, dim=6):
    feats = np.zeros((len(cids), max(lengths), dim), np.float32)
    mask = np.zeros((len(cids), max(lengths)), bool)
    for i, n in enumerate(lengths):
        feats[i, :n], mask[i, :n] = rng.normal(3.0, 2.0, (n, dim)), True
    return RegionTable(list(cids), feats, mask, {"kind": "grid"}, {"images": len(cids), "cache_hits": 0,
                                                                   "extracted": len(cids)})


def test_saved_features_are_memory_mapped_and_standardized_by_rows_gathered(tmp_path):
    rng = np.random.default_rng(0)
    table = _random_table(rng, [f"c{i}" for i in range(50)], rng.integers(1, 5, 50))
    loaded = RegionTable.load(table.save(tmp_path / "regions.npz"))
    assert isinstance(loaded.features, np.memmap)
    np.testing.assert_array_equal(loaded.features, table.features)
    standard = loaded.standardized(chunk=7)                      # moments summed over chunks of rows
    real = table.features[table.mask]
    expected = np.where(table.mask[..., None], (table.features - real.mean(0)) / (real.std(0) + 1e-5), 0.0)
    rows = np.array([3, 0, 49, 3])
    feats, mask = standard.gather(rows)
    np.testing.assert_allclose(feats, expected[rows], atol=1e-5)
    np.testing.assert_array_equal(mask, table.mask[rows])
    assert isinstance(standard.features, np.memmap)              # never copied whole


def test_shards_of_one_extraction_merge_to_the_whole_in_its_order(tmp_path):
    from pipeline.saliency.regions import features_file
    from pipeline.shards import shard_mask

    rng = np.random.default_rng(1)
    cids = [f"c{i}" for i in range(40)]
    whole = _random_table(rng, cids, rng.integers(1, 4, 40))
    parts = []
    for shard in range(3):
        keep = shard_mask(cids, shard, 3)
        parts.append(RegionTable([c for c, k in zip(cids, keep) if k], whole.features[keep], whole.mask[keep],
                                 whole.config, {"images": int(keep.sum()), "cache_hits": 0,
                                                "extracted": int(keep.sum())}))
    order = list(reversed(cids))                                  # the order one extraction was given
    merged = RegionTable.merge(parts, order, features_file(tmp_path / "merged.npz"))
    assert merged.cids == order and merged.stats["images"] == 40 and merged.stats["shards"] == 3
    rows = whole.rows(order)
    width = merged.features.shape[1]
    np.testing.assert_array_equal(merged.features, whole.features[rows][:, :width])
    np.testing.assert_array_equal(merged.mask, whole.mask[rows][:, :width])
    assert isinstance(merged.features, np.memmap) and not (tmp_path / "merged.features.npy.partial").exists()


def test_pooled_rows_from_the_cache_equal_pooling_the_whole_table(tmp_path):
    from models.probe import pooled_features
    from pipeline.saliency.regions import build_extractor, extract_cached

    images = write_images(tmp_path, n=5)
    extractor = build_extractor(RegionConfig(kind="grid", image_size=32))
    full, _ = extract_cached(images, extractor, tmp_path / "cache", workers=1)
    pooled, _ = extract_cached(images, extractor, tmp_path / "cache", workers=1,
                               reduce=lambda cells: pooled_features(cells, 2))
    assert pooled.features.shape[1] == 1 and pooled.cids == full.cids
    np.testing.assert_allclose(pooled.features[:, 0], pooled_features(full.features, 2), atol=1e-6)
