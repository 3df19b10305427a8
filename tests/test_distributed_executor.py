"""A partitioned job end to end on Dagster's Dask executor (a LocalCluster, its worker a process
of its own): the iMaterialist fetch in 2 hash shards, each shard its own run whose step runs on a Dask
worker, downloading from a local HTTP server; then the unpartitioned reader downstream reads
what every partition fetched. The shards together equal one unpartitioned fetch."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.fetch import FetchConfig, fetch_images, ifashion_fetch_items
from pipeline.shards import shard_keys

REPO = Path(__file__).resolve().parents[1]
SHARDS = 2
DASK = {"execution": {"config": {"cluster": {"local": {"n_workers": 1, "threads_per_worker": 1,
                                                         "dashboard_address": None}}}}}
MISSING = {"7", "18"}                      # the server answers 404 for these


class _Images(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        image_id = Path(self.path).stem
        if image_id in MISSING:
            self.send_response(404)
            self.end_headers()
            return
        buffer = io.BytesIO()
        shade = int(image_id) * 9 % 256
        Image.fromarray(np.full((32, 32, 3), shade, np.uint8)).save(buffer, "JPEG")
        body = buffer.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _source(folder: Path, base_url: str, label_map: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copy(label_map, folder / label_map.name)
    for split, ids in (("train", range(1, 25)), ("validation", range(25, 31))):
        images = [{"imageId": str(i), "url": f"{base_url}/{i}.jpg"} for i in ids]
        annotations = [{"imageId": str(i), "labelId": [str(66 + i % 3)]} for i in ids]
        (folder / f"{split}.json").write_text(json.dumps({"images": images, "annotations": annotations}))


def _materialize(env: dict, select: str, partition: str | None = None) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "-m", "assets.definitions", "--select", select]
    if env["MAVP_EXECUTOR"] == "dask":
        command += ["--config-json", json.dumps(DASK)]
    command += ["--partition", partition] if partition else []
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_sharded_fetch_runs_on_dask_workers_and_equals_one_fetch(tmp_path, image_server, imat_label_map,
                                                                  monkeypatch):
    source = tmp_path / "imaterialist"
    _source(source, image_server, imat_label_map)
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"name: paper\nshards: {SHARDS}\nsources:\n  ifashion: {source}\n", encoding="utf-8")
    home = tmp_path / "home"
    env = {**{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}, "MAVP_HOME": str(home),
           "MAVP_PROFILE": str(profile), "MAVP_EXECUTOR": "dask", "PYTHONPATH": str(REPO)}
    for key in shard_keys(SHARDS):
        _materialize(env, "ifashion_images", key)
    _materialize({**env, "MAVP_EXECUTOR": "in_process"}, "ifashion_records")

    # every partition wrote its part; together they are one fetch of the same items
    fetch_dir = home / "sources" / "fetch"
    parts = sorted(fetch_dir.glob(f"ifashion_images.*-of-{SHARDS}.parquet"))
    assert [p.name.split(".")[1] for p in parts] == [f"{k}-of-{SHARDS}" for k in shard_keys(SHARDS)]
    sharded = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert all(len(pd.read_parquet(p)) for p in parts)                      # no shard is empty
    reference = tmp_path / "reference"
    shutil.copytree(source, reference, ignore=shutil.ignore_patterns("images"))
    whole = pd.concat([fetch_images(ifashion_fetch_items(reference / f"{s}.json", reference / "images")[0],
                                    FetchConfig(workers=2, retries=0), root=reference).results
                       for s in ("train", "validation")], ignore_index=True)
    columns = ["image_id", "status", "reason"]
    ordered = lambda frame: frame[columns].sort_values("image_id").reset_index(drop=True)   # noqa: E731
    pd.testing.assert_frame_equal(ordered(sharded), ordered(whole))
    assert set(sharded.loc[sharded["status"] == "failed", "image_id"]) == MISSING
    for image_id in range(1, 31):
        mine = source / "images" / f"{image_id}.jpg"
        assert mine.is_file() == (str(image_id) not in MISSING)
        if mine.is_file():
            assert mine.read_bytes() == (reference / "images" / f"{image_id}.jpg").read_bytes()

    # the unpartitioned reader downstream read what all of them fetched
    records = pd.read_parquet(home / "sources" / "tables" / "ifashion_records.parquet")
    assert set(records["image_id"]) == {str(i) for i in range(1, 31)} - MISSING

    # each shard was its own run, configured for the Dask executor, its step in a worker process
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    monkeypatch.setenv("MAVP_HOME", str(home))
    instance = DagsterInstance.from_config(str(REPO))
    runs = [r for r in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
            if r.tags.get("dagster/partition")]
    assert sorted(r.tags["dagster/partition"] for r in runs) == shard_keys(SHARDS)
    for run in runs:
        assert run.run_config["execution"]["config"]["cluster"]["local"]["n_workers"] == 1
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
        run_pid = next(e.pid for e in events if e.event_type == DagsterEventType.RUN_START)
        step_pids = {e.pid for e in events if e.event_type == DagsterEventType.STEP_START}
        assert step_pids and run_pid not in step_pids
