"""The user's Dagster commands as typed at the repo root, in the project's environment (its
activate script sourced) and nothing else set: `dagster asset materialize`, `dg launch`,
`dg check defs`, `dagster dev`. Each runs in a subprocess with a clean environment; only
MAVP_HOME points at a temporary home, so the test never writes into the checkout's `.mavp`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ACTIVATE = Path(sys.executable).parent / "activate"
CHEAP = json.dumps({"ops": {"sample_sources": {"config": {"seed": 1, "scale": 0.02}}}})


def _clean_env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home.parent), "LANG": "C.UTF-8",
            "MAVP_HOME": str(home)}


def _shell(command: str, home: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source '{ACTIVATE}' && {command}"], cwd=REPO_ROOT, env=_clean_env(home),
                          capture_output=True, text=True, timeout=timeout)


def _untracked() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    return {line[3:] for line in out.splitlines() if line.startswith("??")}


def _runs(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "dagster" / "history" / "runs.db") as db:
        return db.execute("select pipeline_name, status from runs order by create_timestamp").fetchall()


@pytest.fixture
def home(tmp_path):
    if not ACTIVATE.is_file():
        pytest.fail(f"no activate script beside {sys.executable}: set up with `make setup`")
    return tmp_path / "home"


def test_materialize_and_launch_as_typed(home):
    before = _untracked()
    materialize = _shell(f"dagster asset materialize --select sample_sources --config-json '{CHEAP}'", home)
    assert materialize.returncode == 0, materialize.stderr[-3000:]
    launch = _shell(f"dg launch --assets sample_sources --config-json '{CHEAP}'", home)
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert (home / "sources" / "sample" / "sample.json").is_file()
    # both runs are in the home's run storage, which outlives the commands
    assert _runs(home) == [("__ASSET_JOB", "SUCCESS"), ("__ASSET_JOB", "SUCCESS")]
    assert _untracked() == before, "a command left files in the checkout"


def test_dg_check_and_list_defs(home):
    check = _shell("dg check defs", home)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = _shell("dg list defs --json", home)
    assert listed.returncode == 0, listed.stderr[-3000:]
    defs = json.loads(listed.stdout[listed.stdout.index("{"):])
    assets = {a["asset_key"] for a in defs["assets"]}
    assert {"mavp", "slot_partition", "fashionai_classifier", "mujo_sf_model", "mujo_sf_benchmark"} <= assets
    assert {"mavp_full_rebuild", "mavp_benchmark"} <= {j["name"] for j in defs["jobs"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dagster_dev_serves_the_code_location(home):
    before = _untracked()
    port = _free_port()
    server = subprocess.Popen(["bash", "-c", f"source '{ACTIVATE}' && exec dagster dev -p {port}"], cwd=REPO_ROOT,
                              env=_clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    try:
        deadline, keys = time.time() + 120, []
        while time.time() < deadline and not keys:
            time.sleep(2)
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                 headers={"Content-Type": "application/json"})
                nodes = json.load(urllib.request.urlopen(request, timeout=5))["data"]["assetNodes"]
                keys = [n["assetKey"]["path"][-1] for n in nodes]
            except (OSError, KeyError, TypeError):
                continue
        assert "mavp" in keys
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    assert (home / "dagster" / "history").is_dir()
    assert _untracked() == before, "dagster dev left files in the checkout"
