"""Stable hash shards: the same id always lands in the same shard, and the shards split the ids."""

import numpy as np
import pytest

from pipeline.shards import shard_keys, shard_mask, shard_of


def test_a_shard_depends_on_the_id_alone_and_is_fixed_across_processes():
    # BLAKE2b of the UTF-8 id: these values hold on every machine and run (Python's hash() would not)
    assert [shard_of(i, 16) for i in ("1", "2", "abc", "商品")] == [6, 12, 9, 8]
    assert shard_of("1", 16) == int.from_bytes(__import__("hashlib").blake2b(b"1", digest_size=8).digest(), "big") % 16
    assert shard_of(12, 7) == shard_of("12", 7)


def test_the_shards_split_the_ids_into_disjoint_parts_of_similar_size():
    ids = [str(i) for i in range(4000)]
    masks = np.stack([shard_mask(ids, s, 8) for s in range(8)])
    assert (masks.sum(axis=0) == 1).all()                       # every id in exactly one shard
    assert masks.sum(axis=1).min() > 400                        # 500 each on average
    assert shard_mask(ids, 0, 1).all()


def test_keys_sort_as_numbers_and_bad_counts_are_refused():
    assert shard_keys(3) == ["000", "001", "002"]
    assert sorted(shard_keys(1200)) == shard_keys(1200) and shard_keys(1200)[-1] == "1199"
    with pytest.raises(ValueError):
        shard_of("x", 0)
