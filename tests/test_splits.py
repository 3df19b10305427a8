"""Seeded 8:1:1 splits over items and over groups, and the leakage report."""

from pipeline.splits import grouped_split, leakage, split_811


def test_split_is_811_seeded_and_independent_of_input_order():
    keys = [f"img{i}" for i in range(200)]
    split = split_811(keys, seed=3)
    assert {s: int((split == s).sum()) for s in ("train", "validation", "test")} == {"train": 160, "validation": 20,
                                                                                      "test": 20}
    again = dict(zip(keys[::-1], split_811(keys[::-1], seed=3)))
    assert again == dict(zip(keys, split))
    assert (split_811(keys, seed=4) != split).any()


def test_grouped_split_keeps_every_group_in_one_split_and_leakage_counts_the_rest():
    groups = [f"c{i // 3}" for i in range(300)]              # 100 products, 3 sentences each
    split = grouped_split(groups, seed=0)
    assert leakage(groups, split) == {"groups_in_several_splits": 0, "items_of_those_groups": 0, "groups": 100}
    assert sorted((split == s).sum() for s in ("train", "validation", "test")) == [30, 30, 240]
    by_item = split_811([f"{g}/{i}" for i, g in enumerate(groups)], seed=0)
    report = leakage(groups, by_item)
    assert report["groups_in_several_splits"] > 0 and report["items_of_those_groups"] >= 2 * report["groups_in_several_splits"]
