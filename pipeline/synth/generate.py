"""Builds a whole synthetic sample and publishes it atomically.

Everything is written into ``out_dir/.tmp-XXXX`` first; then the top-level entries replace any
old ones, and ``sample.json`` (the manifest) is written last, by rename. A crash leaves either
no manifest or the temp folder, never a half-written sample that looks complete
(:meth:`SampleLayout.exists` checks the manifest).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import Schema, default_schema
from pipeline.synth import vision
from pipeline.synth.draw import DRAWABLE, VISUAL_SLOTS
from pipeline.synth.imagefiles import run_jobs
from pipeline.synth.layout import ENTRIES, SampleLayout
from pipeline.synth.mepave import write_mepave
from pipeline.synth.world import World, build_world, stream

GENERATOR_VERSION = 3
DEFAULT_LABEL_NOISE = 0.05
DEFAULT_IMAGE_SIZE = 128
# Random streams of the source writers (the world uses 1-5).
_STREAMS = {"mepave": 10, "fashionai": 11, "utzap50k": 12, "ifashion": 13, "crawl": 14}
# Below this many images one process is faster than starting a pool.
_POOL_MIN_IMAGES = 20_000


def bad_records_per_kind(scale: float) -> int:
    """How many bad records of each kind a source gets."""
    return max(1, int(round(2 * scale)))


def _truth_table(world: World, schema: Schema) -> pa.Table:
    products = world.products + world.headless
    headless = {p.cid for p in world.headless}
    cols = {"cid": [p.cid for p in products],
            "category": [p.category for p in products],
            "split": [p.split for p in products],
            "names_product": ["false" if p.cid in headless else "true" for p in products]}
    for key in schema.slot_keys:
        cols[key] = [p.truth[key] for p in products]
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def _write_json(path: Path, obj) -> None:
    """Deterministic JSON, written to a temp name and renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def generate_sample(out_dir: str | os.PathLike, seed: int = 0, scale: float = 1.0, *,
                    mepave_scale: float = 1.0, label_noise: float = DEFAULT_LABEL_NOISE,
                    image_size: int = DEFAULT_IMAGE_SIZE, workers: int | None = None,
                    schema: Schema | None = None) -> dict:
    """Write a synthetic sample of every source under ``out_dir`` and return its manifest.

    ``scale`` sizes everything (1.0: 3,000 MEPAVE products / 8,366 sentences, the per-category
    floor of :mod:`.world`; 2,000 FashionAI, 1,200 UT-ZAP50K, 1,500 iFashion and 600 crawled
    images; 66: the paper's 79k MEPAVE instances). Same ``seed``, ``scale``, ``label_noise`` and
    ``image_size`` give byte-identical files whatever ``workers`` is (None: one process for small
    samples). ``mepave_scale`` multiplies the MEPAVE part alone (products and sentences, floor
    included; the vision sources and the bad records keep ``scale``): sentences and small product
    images are cheap, and the saliency stage needs validation support per slot.
    """
    if scale <= 0 or mepave_scale <= 0:
        raise ValueError("scale and mepave_scale must be positive")
    if not 0 <= label_noise < 1:
        raise ValueError("label_noise must be in [0, 1)")
    schema = schema or default_schema()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out))
    try:
        layout = SampleLayout(tmp)
        n_bad = bad_records_per_kind(scale)
        world = build_world(seed, scale, schema, mepave_scale)
        jobs, counts, injected, noisy = [], {}, {}, {}
        j, counts["mepave"], injected["mepave"] = write_mepave(
            world, schema, layout, stream(seed, _STREAMS["mepave"]), n_bad)
        jobs += j
        writers = {"fashionai": vision.write_fashionai, "utzap50k": vision.write_utzap50k,
                   "ifashion": vision.write_ifashion, "crawl": vision.write_crawl}
        for name, write in writers.items():
            j, counts[name], injected[name], noisy[name] = write(
                schema, layout, stream(seed, _STREAMS[name]), scale, n_bad, label_noise, seed)
            jobs += j
        if workers is None:
            workers = 1 if len(jobs) < _POOL_MIN_IMAGES else min(8, os.cpu_count() or 1)
        run_jobs(tmp, jobs, image_size, workers)
        pq.write_table(_truth_table(world, schema), layout.truth)

        final = SampleLayout(out)
        manifest = {
            "generator": "pipeline.synth", "version": GENERATOR_VERSION,
            "seed": seed, "scale": scale, "mepave_scale": mepave_scale, "label_noise": label_noise,
            "image_size": image_size,
            "paths": final.relative_paths(),
            "counts": {**counts, "images_total": len(jobs)},
            "injected": injected,
            "noisy_labels": noisy,
            "visual_slots": list(VISUAL_SLOTS),
            "drawable_values": {k: list(v) for k, v in DRAWABLE.items()},
        }
        _publish(tmp, out, manifest)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path, manifest: dict) -> None:
    """Move the finished entries into ``out``; the manifest goes last."""
    (out / "sample.json").unlink(missing_ok=True)    # the old sample stops looking complete first
    for name in ENTRIES:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(tmp / name, target)
    _write_json(out / "sample.json", manifest)
