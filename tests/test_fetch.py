from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections import Counter
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.fetch import (
    RESULT_DTYPES, FetchConfig, backoff_delay, fetch_images, ifashion_fetch_items,
)
from pipeline.images import load_rgb
from pipeline.records import REJECT_COLUMNS

FAST = FetchConfig(workers=4, timeout_s=2.0, retries=2, backoff_s=0.01)


@lru_cache(maxsize=None)
def image_bytes(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (40, 24)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Routes: /img/<seed>.jpg|.png, /status/<code>, /flaky/<key> (503 twice, then an image),
    /slow, /drip, /empty, /junk, /cut, /big, /big-stream, /short, /reset, /hold/<i>."""

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _send(self, body: bytes, code: int = 200, length: bool = True) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901 (one route table)
        srv = self.server
        with srv.lock:
            srv.hits[self.path] += 1
            n = srv.hits[self.path]
        kind, _, arg = self.path.strip("/").partition("/")
        try:
            if kind == "img":
                seed, ext = arg.split(".")
                self._send(image_bytes(int(seed), "PNG" if ext == "png" else "JPEG"))
            elif kind == "status":
                self._send(b"nope", int(arg))
            elif kind == "flaky":
                self._send(b"busy", 503) if n <= 2 else self._send(image_bytes(7))
            elif kind == "slow":
                time.sleep(1.0)
                self._send(image_bytes(1))
            elif kind == "drip":  # headers at once, then the body far slower than timeout_s
                body = image_bytes(2)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(0, len(body), len(body) // 10):
                    self.wfile.write(body[i:i + len(body) // 10])
                    self.wfile.flush()
                    time.sleep(0.1)
            elif kind == "empty":
                self._send(b"")
            elif kind == "junk":
                self._send(np.random.default_rng(3).integers(0, 256, 4096, np.uint8).tobytes())
            elif kind == "cut":
                body = image_bytes(4, size=(64, 64))
                self._send(body[: len(body) // 2])
            elif kind == "big":
                self._send(image_bytes(5, size=(200, 200)))
            elif kind == "big-stream":
                self._send(image_bytes(5, size=(200, 200)), length=False)
            elif kind == "short":  # announces more than it sends, then closes
                self.send_response(200)
                self.send_header("Content-Length", "5000")
                self.end_headers()
                self.wfile.write(image_bytes(6)[:100])
            elif kind == "reset":
                self.close_connection = True  # no answer at all
            elif kind == "hold":
                with srv.lock:
                    srv.inflight += 1
                    srv.max_inflight = max(srv.max_inflight, srv.inflight)
                time.sleep(0.1)
                with srv.lock:
                    srv.inflight -= 1
                self._send(image_bytes(int(arg)))
            else:
                self._send(b"unknown route", 500)
        except OSError:  # the client gave up (timeout tests)
            pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.hits, srv.lock, srv.inflight, srv.max_inflight = Counter(), threading.Lock(), 0, 0
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _one(server, route, tmp_path, config=FAST, name="x.jpg"):
    report = fetch_images([("1", server.url + route, tmp_path / name)], config)
    return report.results.iloc[0], report


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_good_images_are_fetched_in_input_order_and_logged(server, tmp_path, caplog):
    items = [(f"id{i}", f"{server.url}/img/{i}.{'png' if i % 3 == 0 else 'jpg'}",
              tmp_path / "imgs" / f"id{i}.jpg") for i in range(24)]
    items[5] = ("id5", server.url + "/status/404", tmp_path / "imgs" / "id5.jpg")
    with caplog.at_level(logging.INFO, logger="pipeline.fetch"):
        report = fetch_images(items, FetchConfig(workers=6, backoff_s=0.01))
    res = report.results
    assert res["image_id"].tolist() == [i[0] for i in items]
    assert res["path"].tolist() == [str(i[2]) for i in items]
    assert dict(res.dtypes.astype(str)) == RESULT_DTYPES
    assert res["status"].tolist() == ["failed" if i == 5 else "fetched" for i in range(24)]
    for i in (0, 1, 3, 23):
        dest = items[i][2]
        assert dest.read_bytes() == image_bytes(i, "PNG" if i % 3 == 0 else "JPEG")
        assert load_rgb(dest).shape == (24, 40, 3)
        assert res.loc[i, "bytes"] == dest.stat().st_size and res.loc[i, "attempts"] == 1
    assert _no_temp_files(tmp_path)
    progress_logs = [r.getMessage() for r in caplog.records if "%)" in r.getMessage()]
    assert 5 <= len(progress_logs) <= 12 and "24/24" in progress_logs[-1]
    assert report.counts() == {"fetched": 23, "skipped": 0, "failed": 1, "failed:http_404": 1}


@pytest.mark.parametrize("code", [404, 403, 410, 400])
def test_client_errors_are_not_retried(server, tmp_path, code):
    row, report = _one(server, f"/status/{code}", tmp_path)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", f"http_{code}", 1)
    assert server.hits[f"/status/{code}"] == 1
    assert not (tmp_path / "x.jpg").exists()


@pytest.mark.parametrize("code", [503, 500, 429])
def test_server_errors_are_retried_then_reported(server, tmp_path, code):
    row, _ = _one(server, f"/status/{code}", tmp_path)
    assert (row["reason"], row["attempts"]) == (f"http_{code}", 3)
    assert server.hits[f"/status/{code}"] == 3


def test_flaky_endpoint_succeeds_on_third_attempt(server, tmp_path):
    row, _ = _one(server, "/flaky/a", tmp_path)
    assert (row["status"], row["reason"], row["attempts"]) == ("fetched", "", 3)
    assert (tmp_path / "x.jpg").read_bytes() == image_bytes(7)
    assert server.hits["/flaky/a"] == 3


def test_slow_endpoint_times_out_after_retries(server, tmp_path):
    config = FetchConfig(timeout_s=0.3, retries=2, backoff_s=0.01)
    start = time.monotonic()
    row, _ = _one(server, "/slow", tmp_path, config)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "timeout", 3)
    assert server.hits["/slow"] == 3
    assert 0.85 < time.monotonic() - start < 2.5  # three 0.3 s waits, not the server's 1 s
    assert not (tmp_path / "x.jpg").exists() and _no_temp_files(tmp_path)


def test_slow_body_hits_the_whole_request_deadline(server, tmp_path):
    # every chunk arrives within the socket timeout, but the body takes ~1 s in all
    row, _ = _one(server, "/drip", tmp_path, FetchConfig(timeout_s=0.3, retries=0))
    assert (row["reason"], row["attempts"]) == ("timeout", 1)
    assert "body not read" in row["detail"]
    assert not (tmp_path / "x.jpg").exists() and _no_temp_files(tmp_path)


@pytest.mark.parametrize("route,reason", [("/junk", "image_corrupt"), ("/cut", "image_truncated"),
                                          ("/empty", "image_empty"),
                                          ("/status/204", "image_empty")])
def test_bad_image_bytes_never_land_and_are_not_retried(server, tmp_path, route, reason):
    row, report = _one(server, route, tmp_path)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", reason, 1)
    assert server.hits[route] == 1
    assert not (tmp_path / "x.jpg").exists() and _no_temp_files(tmp_path)
    assert ".tmp" not in row["detail"]


@pytest.mark.parametrize("route", ["/big", "/big-stream"])
def test_too_large_bodies_are_refused(server, tmp_path, route):
    row, _ = _one(server, route, tmp_path, FetchConfig(max_bytes=5_000, retries=2, backoff_s=0.01))
    assert (row["reason"], row["attempts"]) == ("too_large", 1)
    assert not (tmp_path / "x.jpg").exists() and _no_temp_files(tmp_path)


def test_connection_errors_are_retried(server, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/a.jpg"
    items = [("short", server.url + "/short", tmp_path / "s.jpg"),
             ("reset", server.url + "/reset", tmp_path / "r.jpg"),
             ("refused", dead, tmp_path / "d.jpg")]
    res = fetch_images(items, FAST).results
    assert res["reason"].tolist() == ["connection_error"] * 3
    assert res["attempts"].tolist() == [3, 3, 3]
    assert "100 of 5000" in res.loc[0, "detail"]
    assert server.hits["/short"] == 3 and server.hits["/reset"] == 3
    assert not any((tmp_path / n).exists() for n in ("s.jpg", "r.jpg", "d.jpg"))


def test_unwritable_destination_is_a_write_error(server, tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    row, _ = _one(server, "/img/1.jpg", tmp_path, name="afile/x.jpg")
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "write_error", 1)
    assert server.hits["/img/1.jpg"] == 1


def test_invalid_urls_make_no_request(server, tmp_path):
    urls = ["ftp://example.org/a.jpg", "not a url", "", "http:///nohost.jpg", None]
    items = [(str(i), u, tmp_path / f"{i}.jpg") for i, u in enumerate(urls)]
    res = fetch_images(items, FAST).results
    assert res["reason"].tolist() == ["invalid_url"] * 5
    assert res["attempts"].tolist() == [0] * 5
    assert not list(tmp_path.iterdir())


def test_rerun_skips_valid_files_and_refetches_invalid_ones(server, tmp_path):
    items = [(str(i), f"{server.url}/img/{i}.jpg", tmp_path / f"{i}.jpg") for i in range(4)]
    first = fetch_images(items, FAST).results
    assert first["status"].tolist() == ["fetched"] * 4
    hits = dict(server.hits)

    second = fetch_images(items, FAST).results
    assert second["status"].tolist() == ["skipped"] * 4
    assert second["attempts"].tolist() == [0] * 4
    assert second["bytes"].tolist() == first["bytes"].tolist()
    assert dict(server.hits) == hits  # no request at all

    (tmp_path / "2.jpg").write_bytes(image_bytes(2)[:300])  # an earlier crash left half a file
    (tmp_path / "3.jpg").write_bytes(b"")
    third = fetch_images(items, FAST).results
    assert third["status"].tolist() == ["skipped", "skipped", "fetched", "fetched"]
    assert "image_truncated" in third.loc[2, "detail"] and "image_empty" in third.loc[3, "detail"]
    assert (tmp_path / "2.jpg").read_bytes() == image_bytes(2)
    assert server.hits["/img/2.jpg"] == 2 and server.hits["/img/3.jpg"] == 2
    assert server.hits["/img/0.jpg"] == 1


def test_failed_refetch_keeps_no_partial_download(server, tmp_path):
    dest = tmp_path / "x.jpg"
    dest.write_bytes(b"old junk")
    row, _ = _one(server, "/cut", tmp_path)
    assert row["reason"] == "image_truncated"
    assert dest.read_bytes() == b"old junk" and _no_temp_files(tmp_path)


def test_duplicates_are_fetched_once(server, tmp_path):
    url = server.url + "/img/1.jpg"
    items = [("a", url, tmp_path / "a.jpg"), ("a", url, tmp_path / "other.jpg"),
             ("b", url, tmp_path / "a.jpg"), ("c", url, str(tmp_path / "sub" / ".." / "a.jpg"))]
    report = fetch_images(items, FAST)
    res = report.results
    assert res["status"].tolist() == ["fetched", "failed", "failed", "failed"]
    assert res["reason"].tolist() == ["", "duplicate", "duplicate", "duplicate"]
    assert server.hits["/img/1.jpg"] == 1
    assert not (tmp_path / "other.jpg").exists()
    assert report.counts()["failed:duplicate"] == 3


def test_progress_is_called_once_per_item(server, tmp_path):
    items = [(str(i), f"{server.url}/img/{i}.jpg", tmp_path / f"{i}.jpg") for i in range(6)]
    items += [("0", items[0][1], tmp_path / "dup.jpg"), ("404", server.url + "/status/404",
                                                         tmp_path / "404.jpg")]
    calls = []
    fetch_images(items, FAST, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 8) for i in range(1, 9)]


def test_parallelism_is_bounded_by_workers(server, tmp_path):
    items = [(str(i), f"{server.url}/hold/{i}", tmp_path / f"{i}.jpg") for i in range(9)]
    res = fetch_images(items, FetchConfig(workers=3)).results
    assert (res["status"] == "fetched").all()
    assert 2 <= server.max_inflight <= 3


def test_rejects_table_lists_the_failures(server, tmp_path):
    items = [("ok", server.url + "/img/1.jpg", tmp_path / "ok.jpg"),
             ("gone", server.url + "/status/404", tmp_path / "gone.jpg"),
             ("junk", server.url + "/junk", tmp_path / "junk.jpg"),
             ("bad", "mailto:x@y", tmp_path / "bad.jpg")]
    report = fetch_images(items, FAST, source="imat-test", root=tmp_path)
    rej = report.rejects
    assert tuple(rej.columns) == REJECT_COLUMNS
    assert len(rej) == report.counts()["failed"] == 3
    assert set(rej["source"]) == {"imat-test"}
    assert rej["reason"].tolist() == ["http_404", "image_corrupt", "invalid_url"]
    assert rej["location"].tolist() == ["gone.jpg", "junk.jpg", "bad.jpg"]      # relative to the root
    assert json.loads(rej["record"].iloc[0]) == {"imageId": "gone", "url": items[1][1]}
    assert (rej["detail"].str.len() > 0).all()


def test_empty_input_gives_empty_tables():
    report = fetch_images([])
    assert list(report.results.columns) == list(RESULT_DTYPES) and report.results.empty
    assert tuple(report.rejects.columns) == REJECT_COLUMNS and report.rejects.empty
    assert report.counts() == {"fetched": 0, "skipped": 0, "failed": 0}


def test_backoff_grows_exponentially_with_seeded_jitter():
    config = FetchConfig(backoff_s=0.5)
    delays = [backoff_delay(config, k, "http://h/a.jpg") for k in range(4)]
    for k, d in enumerate(delays):
        assert 0.5 * 2 ** k <= d <= 0.55 * 2 ** k
    assert delays == [backoff_delay(config, k, "http://h/a.jpg") for k in range(4)]
    assert delays != [backoff_delay(config, k, "http://h/b.jpg") for k in range(4)]


def test_bad_config_is_a_programmer_error():
    for bad in ({"workers": 0}, {"retries": -1}, {"timeout_s": 0}, {"max_bytes": 0}):
        with pytest.raises(ValueError):
            FetchConfig(**bad)


def test_ifashion_fetch_items_parses_images_and_rejects_bad_entries(server, tmp_path):
    images = [{"imageId": "1", "url": server.url + "/img/1.jpg"},
              {"imageId": 2, "url": f" {server.url}/img/2.png "},
              {"imageId": "3"}, {"url": "http://h/x.jpg"},
              {"imageId": "../evil", "url": "http://h/e"},
              {"imageId": "1", "url": "http://h/again.jpg"}, "not an object",
              {"imageId": "4", "url": ""}]
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"images": images}), encoding="utf-8")
    items, rejects = ifashion_fetch_items(path, tmp_path / "images")
    assert items == [("1", server.url + "/img/1.jpg", tmp_path / "images" / "1.jpg"),
                     ("2", server.url + "/img/2.png", tmp_path / "images" / "2.jpg")]
    assert rejects["reason"].tolist() == ["missing_url", "missing_image_id", "missing_image_id",
                                          "duplicate_image_id", "missing_image_id", "missing_url"]
    assert rejects["location"].iloc[0] == "train.json#images[2]"      # relative to the JSON's folder
    assert tuple(rejects.columns) == REJECT_COLUMNS and set(rejects["source"]) == {"ifashion"}

    res = fetch_images(items, FAST).results  # end to end: the items feed the fetcher
    assert res["status"].tolist() == ["fetched", "fetched"]
    assert load_rgb(tmp_path / "images" / "2.jpg").shape == (24, 40, 3)  # PNG bytes, .jpg name


@pytest.mark.parametrize("content,reason", [(None, "file_missing"), ("{oops", "invalid_json"),
                                            ('{"imgs": []}', "bad_structure")])
def test_ifashion_fetch_items_bad_files_are_rejects(tmp_path, content, reason):
    path = tmp_path / "train.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    items, rejects = ifashion_fetch_items(path, tmp_path / "images")
    assert items == [] and rejects["reason"].tolist() == [reason]
