"""Generation speed: ``python -m pipeline.synth.bench [--scale S] [--out DIR]``.

Prints images per second of drawing + encoding alone, and of a whole sample generated in one
process (drawing, encoding and writing every source), so the second is the end-to-end rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.synth.draw import DRAWABLE, ImageSpec
from pipeline.synth.generate import generate_sample
from pipeline.synth.imagefiles import ImageJob, encode


def render_rate(n: int = 2000, size: int = 128) -> float:
    """Images per second of draw + JPEG encode over a mix of shapes (no disk)."""
    shapes = ("top", "dress", "pants", "shoe", "boot")
    values = {slot: options[0] for slot, options in DRAWABLE.items()}
    jobs = [ImageJob("x.jpg", ImageSpec(shapes[i % len(shapes)], values), i) for i in range(n)]
    t = time.perf_counter()
    for job in jobs:
        encode(job, size)
    return n / (time.perf_counter() - t)


def benchmark(out_dir: str | Path, scale: float = 1.0, seed: int = 0) -> dict:
    """Generate one sample in one process and report images per second."""
    t = time.perf_counter()
    manifest = generate_sample(out_dir, seed=seed, scale=scale, workers=1)
    elapsed = time.perf_counter() - t
    images = manifest["counts"]["images_total"]
    result = {"scale": scale, "images": images, "seconds": round(elapsed, 2),
              "images_per_second": round(images / elapsed, 1),
              "render_encode_images_per_second": round(render_rate(), 1)}
    print(f"scale {scale}: {images} images in {elapsed:.1f} s = {images / elapsed:.0f} images/s "
          f"end to end (one process); draw+encode alone {result['render_encode_images_per_second']:.0f} images/s")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temp folder)")
    args = parser.parse_args(argv)
    if args.out is not None:
        benchmark(args.out, args.scale, args.seed)
        return
    with tempfile.TemporaryDirectory() as tmp:
        benchmark(tmp, args.scale, args.seed)


if __name__ == "__main__":
    main()
