"""Source images: decoded once per size and cached, targets per task, seeded 8:1:1 split."""

import numpy as np
from PIL import Image

from pipeline.distant.data import load_source_images
from pipeline.pixels import decode_images


def test_targets_multi_hot_per_task_and_corrupt_image_rejected(tiny_source, tmp_path):
    data = load_source_images(tiny_source, ["color", "finish"], 16, 0, tmp_path / "cache")
    assert len(data.image_ids) == 60 and data.inputs.shape == (60, 16, 16, 3)
    assert list(data.rejects["reason"]) == ["image_corrupt"] and list(data.rejects["record"]) == ["bad0"]
    color, finish = data.tasks["color"], data.tasks["finish"]
    assert color.classes == ("Blue", "Green", "Red") and not color.multi_label
    assert finish.multi_label and int((finish.counts == 2).sum()) == 15
    row = data.image_ids.index("4")                   # i % 4 == 0: both finishes; i % 3 == 1: Blue
    assert finish.targets[row].tolist() == [1.0, 1.0] and color.targets[row].tolist() == [1.0, 0.0, 0.0]
    assert finish.rows("multi_only").sum() == 15 and finish.rows("single").sum() == 45
    # pixels are the images' own (the red channel dominates a Red image)
    red_row = data.image_ids.index("3")        # i % 3 == 0: Red
    assert data.inputs[red_row][..., 0].mean() > 150 > data.inputs[red_row][..., 2].mean()


def test_decoded_pixels_are_cached_by_content_and_size(tiny_source, tmp_path):
    paths = sorted(set(tiny_source["image_path"]))
    first = decode_images(paths, 16, tmp_path / "cache")
    again = decode_images(paths, 16, tmp_path / "cache")
    assert not first.reused and again.reused and again.key == first.key
    np.testing.assert_array_equal(np.asarray(first.pixels), np.asarray(again.pixels))
    assert decode_images(paths, 20, tmp_path / "cache").key != first.key
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(paths[0])       # one image changes
    changed = decode_images(paths, 16, tmp_path / "cache")
    assert not changed.reused and changed.key != first.key
    assert np.asarray(changed.pixels)[0].max() == 0
