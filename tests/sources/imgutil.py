"""Tiny image files for reader tests: real encoded images and broken ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF"}


def write_image(path: str | os.PathLike, size: tuple[int, int] = (32, 32), mode: str = "RGB",
                seed: int = 0) -> Path:
    """Write a noise image (so that the data, not the headers, dominates the file).

    ``mode``: RGB, L, CMYK (JPEG), RGBA, LA, P (PNG)...; the format follows the extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "P":
        img = img.quantize(colors=16)
    elif mode != "RGB":
        img = img.convert(mode)
    img.save(path, FORMATS[path.suffix.lower()])
    return path


def write_truncated(path: str | os.PathLike, size: tuple[int, int] = (48, 48)) -> Path:
    """A real image cut in half."""
    path = write_image(path, size=size)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_corrupt(path: str | os.PathLike, n: int = 2048, seed: int = 0) -> Path:
    """Random bytes under an image name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def write_empty(path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def reasons(result) -> list[str]:
    """Sorted reject reasons of a ReadResult."""
    return sorted(result.rejects["reason"].tolist())
