from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from pipeline import images
from pipeline.images import (
    CORRUPT, EMPTY, IMAGE_REASONS, MISSING, TOO_LARGE, TOO_SMALL, TRUNCATED, ImageRejected,
    check_image, check_images, load_rgb, to_rgb,
)
# tests/ is on sys.path (rootdir-relative imports, no tests/__init__.py); tests/sources is a package
from sources.imgutil import write_corrupt, write_empty, write_image, write_truncated


def test_reason_codes_are_stable():
    assert IMAGE_REASONS == ("image_missing", "image_empty", "image_truncated", "image_corrupt",
                             "image_too_small", "image_too_large", "image_format_not_allowed")


@pytest.mark.parametrize("name,mode", [
    ("rgb.jpg", "RGB"), ("cmyk.jpg", "CMYK"), ("gray.jpg", "L"), ("rgba.png", "RGBA"),
    ("pal.png", "P"), ("la.png", "LA"), ("rgb.webp", "RGB"), ("pal.gif", "P"),
])
def test_good_images_pass_with_their_mode(tmp_path, name, mode):
    path = write_image(tmp_path / name, size=(40, 24), mode=mode)
    check = check_image(path)
    assert check.ok and check.reason == "" and check.mode == mode
    assert (check.width, check.height) == (40, 24)
    assert check.needs_conversion == (mode != "RGB")
    assert check.path == str(path)


def test_each_rejection_reason(tmp_path):
    cases = {
        MISSING: tmp_path / "absent.jpg",
        EMPTY: write_empty(tmp_path / "empty.jpg"),
        TRUNCATED: write_truncated(tmp_path / "cut.jpg"),
        CORRUPT: write_corrupt(tmp_path / "junk.jpg"),
        TOO_SMALL: write_image(tmp_path / "tiny.jpg", size=(8, 8)),
    }
    for reason, path in cases.items():
        check = check_image(path)
        assert (check.ok, check.reason) == (False, reason), (path, check)
        assert check.detail and not check.needs_conversion
    assert check_image(write_truncated(tmp_path / "cut.png")).reason == TRUNCATED
    assert check_image(write_image(tmp_path / "thin.png", size=(200, 15))).reason == TOO_SMALL
    assert check_image(write_image(tmp_path / "tall.png", size=(16, images.MAX_SIDE + 1))).reason == TOO_LARGE
    small = check_image(tmp_path / "tiny.jpg")
    assert (small.width, small.height) == (8, 8)


def test_decompression_bomb_is_too_large(tmp_path, monkeypatch):
    path = write_image(tmp_path / "bomb.png", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 px: warning -> too large
    assert check_image(path).reason == TOO_LARGE
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # > 2x: Pillow's own error
    assert check_image(path).reason == TOO_LARGE


def test_check_images_threads_match_serial_and_leave_warnings_alone(tmp_path):
    paths = []
    for i in range(40):
        if i % 10 == 3:
            paths.append(write_corrupt(tmp_path / f"{i}.jpg", seed=i))
        elif i % 10 == 7:
            paths.append(tmp_path / f"{i}-absent.jpg")
        else:
            paths.append(write_image(tmp_path / f"{i}.jpg", size=(20, 20), seed=i))
    before = list(warnings.filters)
    threaded = check_images(paths, workers=8)
    assert list(warnings.filters) == before  # catch_warnings must not leak across threads
    assert threaded == check_images(paths, workers=1) == [check_image(p) for p in paths]
    assert [c.reason for c in threaded].count(CORRUPT) == 4
    assert [c.reason for c in threaded].count(MISSING) == 4


def test_to_rgb_conversions():
    rgb = Image.new("RGB", (2, 1), (10, 20, 30))
    assert to_rgb(rgb) is rgb

    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 0))      # fully transparent red -> white
    rgba.putpixel((1, 0), (0, 0, 255, 255))    # opaque blue stays blue
    out = to_rgb(rgba)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == (0, 0, 255)

    half = to_rgb(Image.new("RGBA", (1, 1), (0, 0, 0, 128)))
    assert all(120 <= c <= 135 for c in half.getpixel((0, 0)))  # black half-way over white

    la = Image.new("LA", (1, 1), (0, 0))
    assert to_rgb(la).getpixel((0, 0)) == (255, 255, 255)

    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * (256 * 3 - 6))
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 0                 # palette index 0 is transparent
    out = to_rgb(pal)
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == (200, 10, 10)

    assert to_rgb(Image.new("L", (1, 1), 77)).getpixel((0, 0)) == (77, 77, 77)
    cmyk = to_rgb(Image.new("CMYK", (1, 1), (0, 0, 0, 0)))
    assert cmyk.mode == "RGB" and cmyk.getpixel((0, 0)) == (255, 255, 255)


def test_load_rgb(tmp_path):
    for name, mode in [("a.jpg", "RGB"), ("b.jpg", "CMYK"), ("c.png", "RGBA"), ("d.png", "P"),
                       ("e.jpg", "L")]:
        arr = load_rgb(write_image(tmp_path / name, size=(30, 20), mode=mode))
        assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8

    for path, reason in [(tmp_path / "absent.jpg", MISSING),
                         (write_corrupt(tmp_path / "junk.jpg"), CORRUPT),
                         (write_truncated(tmp_path / "cut.jpg"), TRUNCATED),
                         (write_image(tmp_path / "tiny.png", size=(4, 4)), TOO_SMALL)]:
        with pytest.raises(ImageRejected) as info:
            load_rgb(path)
        assert info.value.check.reason == reason
        assert reason in str(info.value)


def test_bytes_decode_as_the_file_loads_upright_and_bad_bytes_raise(tmp_path):
    from io import BytesIO

    from PIL import Image as PILImage

    from pipeline.images import decode_rgb, load_rgb

    pixels = np.zeros((20, 32, 3), np.uint8)
    pixels[:, :16] = 255                                    # left half white
    exif = PILImage.Exif()
    exif[0x0112] = 6                                        # stored sideways: rotate 90° to view
    buf = BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG", exif=exif)
    path = tmp_path / "sideways.png"
    path.write_bytes(buf.getvalue())
    decoded = decode_rgb(buf.getvalue())
    assert decoded.shape == (32, 20, 3) and np.array_equal(decoded, load_rgb(path))
    with pytest.raises((ValueError, OSError)):
        decode_rgb(b"\x89PNG not an image")
