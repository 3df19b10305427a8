"""Turning image jobs into files: normal JPEGs, other modes, and deliberately broken files.

A job is pure data (path, spec, seed, special), so jobs can run in any order, in any process,
and still give the same bytes: every picture depends only on its own seed.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from PIL import Image

from pipeline.synth.draw import ImageSpec, render

JPEG_QUALITY = 90

#: special -> what the file is. ``None`` is a normal RGB JPEG.
SPECIALS = {
    "cmyk": "CMYK JPEG (must be converted, not rejected)",
    "gray": "L (grayscale) JPEG (must be converted, not rejected)",
    "rgba_png": "RGBA PNG (must be converted, not rejected)",
    "p_png": "P (palette) PNG (must be converted, not rejected)",
    "empty": "0-byte file",
    "truncated": "JPEG cut in half",
    "corrupt": "random bytes under an image name",
    "tiny": "8x8 JPEG (too small)",
    "sliver": "1x4000 JPEG (too small on one side)",
    "huge": "20001x16 JPEG (too large on one side)",
}


@dataclass(frozen=True)
class ImageJob:
    path: str                   # relative to the sample root
    spec: ImageSpec | None      # None for files that hold no picture (empty, corrupt)
    seed: int
    special: str | None = None


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _pil_bytes(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, fmt, quality=JPEG_QUALITY)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def encode(job: ImageJob, size: int) -> bytes:
    """The bytes of one job's file."""
    sp = job.special
    if sp == "empty":
        return b""
    if sp == "corrupt":
        rng = np.random.default_rng(job.seed)
        data = rng.integers(0, 256, 1024 + int(rng.integers(2048)), dtype=np.uint8)
        data[:2] = (0x17, 0x2A)   # never a real image signature
        return data.tobytes()
    if sp in ("tiny", "sliver", "huge"):
        w, h = {"tiny": (8, 8), "sliver": (1, 4000), "huge": (20001, 16)}[sp]
        rgb = cv2.resize(render(job.spec, job.seed, size), (w, h), interpolation=cv2.INTER_AREA)
        return _jpeg(rgb)
    rgb = render(job.spec, job.seed, size)
    if sp is None:
        return _jpeg(rgb)
    if sp == "truncated":
        data = _jpeg(rgb)
        return data[: len(data) // 2]
    if sp == "gray":
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        return buf.tobytes()
    if sp == "cmyk":
        return _pil_bytes(Image.fromarray(rgb, "RGB").convert("CMYK"), "JPEG")
    if sp == "rgba_png":
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[:, : size // 8] = 0           # a transparent strip, so the alpha matters
        return _pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    if sp == "p_png":
        return _pil_bytes(Image.fromarray(rgb, "RGB").quantize(colors=64), "PNG")
    raise ValueError(f"unknown special {sp!r}")


def _write_batch(root: str, jobs: Sequence[ImageJob], size: int) -> int:
    for job in jobs:
        with open(os.path.join(root, job.path), "wb") as fh:
            fh.write(encode(job, size))
    return len(jobs)


def run_jobs(root: Path, jobs: Iterable[ImageJob], size: int = 128, workers: int = 1,
             batch: int = 256) -> int:
    """Write every job's file under ``root``; returns the number of files written.

    ``workers > 1`` spreads batches over processes (spawned, so safe inside any host);
    the bytes do not depend on it.
    """
    jobs = list(jobs)
    for parent in sorted({os.path.dirname(j.path) for j in jobs}):
        (root / parent).mkdir(parents=True, exist_ok=True)
    if workers <= 1 or len(jobs) <= batch:
        return _write_batch(str(root), jobs, size)
    chunks = [jobs[i:i + batch] for i in range(0, len(jobs), batch)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_write_batch, str(root), chunk, size) for chunk in chunks]
        return sum(f.result() for f in futures)
