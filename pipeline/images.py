"""The one image check every reader uses, and RGB loading.

A file is rejected when it is missing, empty, truncated, corrupt or of an absurd size.
Images in other modes (CMYK, L, RGBA, P, ...) are not rejected: they are converted to RGB
when loaded, and the check reports that a conversion is needed.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageFile

from pipeline.progress import track

# A truncated file must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

MIN_SIDE = 16
MAX_SIDE = 20_000
MAX_PIXELS = 100_000_000

# warnings.catch_warnings() swaps process-wide state and is not thread-safe; check_images runs
# in threads, so the header parse (where Pillow warns about decompression bombs) is serialised.
# Decoding (img.load) stays outside the lock and runs in parallel.
_OPEN_LOCK = threading.Lock()

# Stable reason codes (used in rejects tables and reports).
MISSING = "image_missing"
EMPTY = "image_empty"
TRUNCATED = "image_truncated"
CORRUPT = "image_corrupt"
TOO_SMALL = "image_too_small"
TOO_LARGE = "image_too_large"
IMAGE_REASONS = (MISSING, EMPTY, TRUNCATED, CORRUPT, TOO_SMALL, TOO_LARGE)


@dataclass(frozen=True)
class ImageCheck:
    path: str
    ok: bool
    reason: str = ""
    detail: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""

    @property
    def needs_conversion(self) -> bool:
        return self.ok and self.mode != "RGB"


class ImageRejected(Exception):
    def __init__(self, check: ImageCheck):
        self.check = check
        super().__init__(f"{check.path}: {check.reason}: {check.detail}")


def _size_problem(width: int, height: int) -> tuple[str, str] | None:
    if min(width, height) < MIN_SIDE:
        return TOO_SMALL, f"{width}x{height} is under {MIN_SIDE} px on a side"
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        return TOO_LARGE, f"{width}x{height} exceeds {MAX_SIDE} px a side or {MAX_PIXELS} pixels"
    return None


def _open_checked(path: Path) -> tuple[ImageCheck, Image.Image | None]:
    p = str(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return ImageCheck(p, False, MISSING, "no such file"), None
    except OSError as exc:
        return ImageCheck(p, False, MISSING, str(exc)), None
    if size == 0:
        return ImageCheck(p, False, EMPTY, "file has 0 bytes"), None
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
        width, height = img.size
        problem = _size_problem(width, height)
        if problem:
            img.close()
            return ImageCheck(p, False, *problem, width=width, height=height, mode=img.mode), None
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageCheck(p, False, TOO_LARGE, str(exc)), None
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or "premature end" in msg.lower():
            return ImageCheck(p, False, TRUNCATED, msg), None
        return ImageCheck(p, False, CORRUPT, msg), None
    except (ValueError, SyntaxError, Image.UnidentifiedImageError) as exc:
        return ImageCheck(p, False, CORRUPT, str(exc)), None
    return ImageCheck(p, True, width=width, height=height, mode=img.mode), img


def check_image(path: str | os.PathLike) -> ImageCheck:
    """Decode the whole file once and say whether it is usable."""
    check, img = _open_checked(Path(path))
    if img is not None:
        img.close()
    return check


def check_images(paths: Iterable[str | os.PathLike], workers: int | None = None) -> list[ImageCheck]:
    """Check many files; decoding releases the GIL, so threads give real parallelism."""
    paths = list(paths)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if len(paths) < 32 or workers <= 1:
        return [check_image(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(track(pool.map(check_image, paths), "checking images", len(paths), "image"))


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Load an image as an HxWx3 uint8 RGB array, or raise :class:`ImageRejected`."""
    check, img = _open_checked(Path(path))
    if img is None:
        raise ImageRejected(check)
    try:
        return np.asarray(to_rgb(img), dtype=np.uint8)
    finally:
        img.close()
