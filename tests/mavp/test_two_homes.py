"""The same data built in two homes gives byte-identical datasets: no published file holds a path
of the machine that built it (reject locations are relative to their source root, checkpoints to
the home). The stages run as the graph runs them, on a small synthetic sample, with the image
labels taken from the sample's truth instead of trained classifiers."""

import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.fetch import FetchConfig, fetch_images, ifashion_fetch_items
from pipeline.mavp.build import AssemblyConfig, BuildInputs, build_dataset
from pipeline.mavp.publish import compare_datasets, publish
from pipeline.schema import default_schema
from pipeline.sources.mepave import read_product_images
from pipeline.sources.registry import SOURCE_KINDS, read_source
from pipeline.synth.generate import generate_sample
from pipeline.synth.layout import SampleLayout

SCHEMA = default_schema()
PARTITION = {m: [s.key for s in SCHEMA.slots if s.paper_modality == m] for m in ("image", "text")}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample") / "sample"
    generate_sample(root, seed=3, scale=0.1)
    return root


def source_roots(layout: SampleLayout) -> dict:
    return {"mepave": layout.mepave_dir, "mepave_images": layout.mepave_images, "fashionai": layout.fashionai_root,
            "utzap50k": layout.utzap50k_root, "ifashion": layout.ifashion_root, "crawl": layout.crawl_root}


def truth_labels(truth: pd.DataFrame) -> pd.DataFrame:
    slots = [s for s in PARTITION["image"] if s in truth]
    long = truth.melt(id_vars=["cid"], value_vars=slots, var_name="slot", value_name="value").dropna()
    return long.assign(confidence=np.float32(0.9), reliability=np.float32(0.8), neighbour_agreement=np.float32(0.7),
                       text_value=None, source_value=long["value"], source="image", reason="")


def classifier_table(home) -> pd.DataFrame:
    return pd.DataFrame([{"slot": s, "status": "ready", "source": "fashionai", "tasks": [s], "strategy": "single",
                          "model": f"{s}-swin", "checkpoint": str(home / "models" / "distant" / f"{s}.pt"),
                          "validation_accuracy": 0.5, "test_accuracy": 0.5, "unmapped_labels": [],
                          "label_to_value": "{}"} for s in PARTITION["image"]])


def build_in(home, sample):
    """Every stage that feeds the published dataset, in ``home``, on a copy of ``sample``."""
    layout = SampleLayout(home / "sources" / "sample")
    shutil.copytree(sample, layout.root)
    roots = source_roots(layout)
    results = {kind: read_source(kind, roots[kind]) for kind in SOURCE_KINDS}
    records = results["mepave"].valid
    records = records[records["category"].notna()]     # the image categoriser is not part of this build
    images = read_product_images(roots["mepave_images"], records["cid"])
    items, bad = ifashion_fetch_items(roots["ifashion"] / "train.json", roots["ifashion"] / "images")
    fetched = fetch_images(items, FetchConfig(retries=0, timeout_s=2))    # the sample's URLs are .invalid
    rejects = {f"{k}_records": r.rejects for k, r in results.items()}
    rejects |= {"mepave_image_records": images.rejects, "ifashion_images": pd.concat([bad, fetched.rejects])}
    inputs = BuildInputs(records=records, images=images.valid[["cid", "image_path"]],
                         labels=truth_labels(pd.read_parquet(layout.root / "truth.parquet")), partition=PARTITION,
                         rejects=rejects, classifiers=classifier_table(home),
                         truth=pd.read_parquet(layout.root / "truth.parquet"), home=home,
                         source_roots=list(roots.values()))
    build, _ = build_dataset(inputs, SCHEMA, AssemblyConfig())
    return publish(build, home)[0], fetched.rejects


def test_the_same_data_built_in_two_homes_gives_byte_identical_datasets(tmp_path, sample):
    a, failed = build_in(tmp_path / "home-a", sample)
    b, _ = build_in(tmp_path / "elsewhere" / "home-b", sample)
    assert len(failed) and failed["location"].str.startswith(str(tmp_path / "home-a")).all()   # absolute there
    result = compare_datasets(a, b)
    assert result["differ"] == [] and result["only_a"] == [] and result["only_b"] == []
    assert len(result["same"]) > 10 and any(p.startswith("data/") for p in result["same"])
    assert [p for p in result["same"] if str(tmp_path).encode() in (a / p).read_bytes()] == []
    located = pd.read_parquet(a / "rejects" / "ifashion_images.parquet")["location"]
    assert located.str.match(r"(images/\d+\.jpg|train\.json#images\[\d+\])$").all()   # relative to the iFashion root
    mepave = pd.read_parquet(a / "rejects" / "mepave_records.parquet")["location"]
    assert mepave.str.match(r"jdai\.jave\.fashion\.\w+:\d+$").all() and len(mepave)


def test_readers_locate_rejects_relative_to_their_source_root(sample):
    roots = source_roots(SampleLayout(sample))
    for kind in SOURCE_KINDS:
        locations = read_source(kind, roots[kind]).rejects["location"]
        assert len(locations) and not locations.str.contains(str(sample), regex=False).any(), kind
        assert all((roots[kind] / loc.split(":")[0].split("#")[0]).exists() for loc in locations), kind
