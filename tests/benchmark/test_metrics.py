"""JGA and SA (eqs. 13-14), their bootstrap intervals and the paired t-test."""

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.benchmark.metrics import (IGNORE, bootstrap_interval, compare, instance_scores, paired_t_test,
                                        slot_accuracy, summary)

TARGET = np.array([[0, 1, IGNORE], [2, 2, 2], [1, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE]])
PREDICTED = np.array([[0, 1, 0], [2, 0, 2], [0, 1, 1], [0, 0, 0]])


def test_jga_and_sa_count_the_slots_of_each_instance_only():
    jga, sa = instance_scores(PREDICTED, TARGET)
    assert jga[:3].tolist() == [1.0, 0.0, 0.0] and np.isnan(jga[3])          # no slot: not counted
    assert sa[:3] == pytest.approx([1.0, 2 / 3, 0.0]) and np.isnan(sa[3])
    got = summary(PREDICTED, TARGET, 200, 0.95, 0)
    assert got["instances"] == 3
    assert got["jga"] == pytest.approx(1 / 3) and got["sa"] == pytest.approx((1 + 2 / 3) / 3)


def test_slot_accuracy_per_slot():
    frame = slot_accuracy(PREDICTED, TARGET, ["a", "b", "c"])
    assert frame["instances"].tolist() == [3, 2, 1]
    assert frame["accuracy"].tolist() == pytest.approx([2 / 3, 0.5, 1.0])


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_instances():
    rng = np.random.default_rng(0)
    small, large = rng.random(50), rng.random(5000)
    lo, hi = bootstrap_interval(small, 1000, 0.95, 0)
    assert lo < small.mean() < hi
    lo_large, hi_large = bootstrap_interval(large, 1000, 0.95, 0)
    assert hi_large - lo_large < (hi - lo) / 5
    assert bootstrap_interval(np.full(20, 0.5), 100, 0.95, 0) == (0.5, 0.5)
    assert bootstrap_interval(small, 300, 0.95, 7) == bootstrap_interval(small, 300, 0.95, 7)     # seeded


def test_paired_t_test_is_the_textbook_one():
    a, b = np.array([0.9, 0.8, 1.0, 0.7, 0.95, 0.85]), np.array([0.8, 0.8, 0.9, 0.6, 0.9, 0.7])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert paired_t_test(a, b) == pytest.approx(2 * stats.t.sf(abs(t), len(d) - 1))
    assert paired_t_test(a, a) == 1.0
    assert paired_t_test(np.append(a, np.nan), np.append(b, 0.0)) == pytest.approx(paired_t_test(a, b))


def test_compare_gives_the_paired_difference():
    target = np.zeros((200, 2), np.int64)
    better = np.zeros_like(target)
    worse = better.copy()
    worse[:60, 0] = 1                                     # 60 instances wrong on one slot
    got = compare(better, worse, target, 500, 0.95, 0)
    assert got["jga_difference"] == pytest.approx(0.3) and got["sa_difference"] == pytest.approx(0.15)
    lo, hi = got["jga_difference_ci"]
    assert 0 < lo < 0.3 < hi
    assert got["jga_p_value"] < 1e-6
