"""Reliability: neighbour agreement, the combination, and the measures of how well it ranks."""

import numpy as np
import pytest

from pipeline.mavp.reliability import accuracy_at_coverage, auroc, combine, neighbour_agreement, risk_coverage


def test_a_label_its_neighbours_disagree_with_scores_low():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.1, (20, 4)) + [5, 0, 0, 0], rng.normal(0, 0.1, (20, 4)) - [5, 0, 0, 0]])
    labels = np.array([0] * 20 + [1] * 20)
    labels[3] = 1                                          # one wrong label inside the first cluster
    agreement = neighbour_agreement(z, labels, k=5)
    assert agreement[3] == 0.0 and agreement[20:].min() == 1.0
    assert agreement[[0, 1, 2]].max() <= 1.0 and agreement[:20].mean() > 0.7


def test_combination_averages_the_evidence_there_is():
    out = combine(np.array([0.9, 0.9, 0.9]), np.array([0.6, 0.6, 0.6]), np.array([np.nan, 1.0, 0.0]))
    np.testing.assert_allclose(out, [0.75, 2.5 / 3, 1.5 / 3], rtol=1e-6)


def test_auroc_and_coverage_measures():
    correct = np.array([True, True, False, True, False])
    assert auroc(np.array([0.9, 0.8, 0.1, 0.7, 0.2]), correct) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9, 0.3, 0.8]), correct) == 0.0
    assert auroc(np.full(5, 0.5), correct) == 0.5
    assert auroc(np.ones(3), np.ones(3, bool)) is None
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2])
    assert accuracy_at_coverage(scores, correct, 0.6) == 1.0 and accuracy_at_coverage(scores, correct, 1.0) == 0.6
    coverage, risk = risk_coverage(scores, correct)
    assert coverage[-1] == pytest.approx(1.0) and risk[-1] == pytest.approx(0.4) and risk[0] == 0.0


def test_contact_sheet_shows_the_least_reliable_labels_first(tmp_path):
    import io

    import pandas as pd
    from PIL import Image

    from pipeline.mavp.contact import contact_sheet, least_reliable

    path = tmp_path / "a.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(path)
    labels = pd.DataFrame({"cid": ["a", "b", "c", "d"], "slot": ["toecap"] * 3 + ["color"],
                           "value": ["圆头", "尖头", "圆头", "红色"], "reliability": [0.9, 0.2, 0.5, 0.1],
                           "text_value": [None, "圆头", None, None], "source": ["image"] * 4})
    rows = least_reliable(labels, "toecap", n=2)
    assert rows["cid"].tolist() == ["b", "c"]
    png = contact_sheet(rows, {"b": str(path)}, "toecap", ["圆头", "尖头"])     # c's image is missing: drawn as such
    assert Image.open(io.BytesIO(png)).size[0] == 430


def test_without_a_chinese_font_values_are_drawn_by_their_index(monkeypatch):
    from pipeline.mavp import contact

    monkeypatch.setattr(contact, "cjk_font", lambda: None)
    assert contact._value_text("尖头", ["圆头", "尖头"]) == "#1"
    assert contact._value_text(None, ["圆头"]) == "-" and contact._value_text("方头", ["圆头"]) == "?"


def test_neighbours_come_from_the_reference_rows_beyond_the_cap_and_are_exact_below_it():
    from pipeline.mavp.reliability import nearest_neighbours

    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 8)).astype(np.float32)
    exact = nearest_neighbours(z, k=4)
    assert (exact != np.arange(300)[:, None]).all()
    brute = np.argsort(-(z / np.linalg.norm(z, axis=1, keepdims=True)) @ (z / np.linalg.norm(z, axis=1)[:, None]).T,
                       axis=1)[:, 1:5]                              # the first is the row itself
    assert (np.sort(exact, axis=1) == np.sort(brute, axis=1)).mean() > 0.99
    np.testing.assert_array_equal(nearest_neighbours(z, k=4, max_reference=300), exact)
    capped = nearest_neighbours(z.copy(), k=4, max_reference=50, overwrite=True)
    reference = set(np.unique(np.linspace(0, 299, 50).round()).astype(int))
    assert set(capped.ravel()) <= reference and (capped != np.arange(300)[:, None]).all()
    # a reference row's neighbours are its nearest other reference rows
    r = sorted(reference)
    zr = z[r] / np.linalg.norm(z[r], axis=1, keepdims=True)
    best = np.asarray(r)[np.argsort(-(zr @ zr.T), axis=1)[:, 1]]
    assert (capped[r, 0] == best).mean() > 0.95
