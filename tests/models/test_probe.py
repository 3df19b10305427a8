"""Heads over frozen grid features: pooling keeps where a detail is; a saved probe reloads exactly."""

import numpy as np
import pytest
import torch

from models.attributes import TaskHead, load_classifier, save_classifier
from models.probe import build_probe, pool_grid, pooled_features


def test_pooling_keeps_the_grid_mean_and_where_a_detail_is():
    cells = torch.zeros(1, 36, 2)
    cells[0, 0, 0] = 36.0                         # top-left cell of a 6 x 6 grid, channel 0
    pooled = pool_grid(cells, 3)
    assert pooled.shape == (1, 2 * (1 + 9))
    assert pooled[0, :2].tolist() == [1.0, 0.0]   # the grid mean
    grid = pooled[0, 2:].view(2, 3, 3)
    assert grid[0, 0, 0] == 9.0 and grid[0].sum() == 9.0 and grid[1].abs().sum() == 0
    np.testing.assert_allclose(pooled_features(cells.numpy(), 3), pooled.numpy())
    with pytest.raises(ValueError, match="square"):
        pool_grid(torch.zeros(1, 5, 2), 3)


def test_a_saved_probe_reloads_with_its_standardisation_and_heads(tmp_path):
    features = np.random.default_rng(0).normal(3.0, 2.0, (50, 20)).astype(np.float32)
    probe = build_probe(features, [TaskHead("color", ("Red", "Blue")), TaskHead("finish", ("A", "B", "C"), True)])
    z = probe.embed(torch.from_numpy(features))
    np.testing.assert_allclose(z.mean(0).detach().numpy(), 0, atol=1e-5)
    save_classifier(probe, tmp_path / "probe.pt", extra={"features": {"pool": 1}})
    again, extra = load_classifier(tmp_path / "probe.pt")
    x = torch.from_numpy(features[:4])
    for name in ("color", "finish"):
        torch.testing.assert_close(again(x)[name], probe(x)[name])
    assert extra == {"features": {"pool": 1}} and [h.multi_label for h in again.task_heads] == [False, True]
