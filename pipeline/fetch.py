"""Download images for sources that ship URLs only (iMaterialist-2018 / iFashion).

Why it is built this way:
* ~1M images take hours and runs get interrupted, so they resume: a destination file passing
  :func:`pipeline.images.check_image` is ``skipped`` with no request; an invalid one is fetched.
* Readers trust what is on disk, so nothing unchecked lands there: each attempt streams into a
  temp file (:func:`pipeline.io.atomic_path`), gets the readers' image check, then is renamed.
* Hosts are flaky and many links dead: transient failures (timeouts, dropped connections, HTTP
  5xx/429) are retried with exponential backoff and a URL-seeded jitter (reproducible, yet
  spread out); permanent ones (other 4xx, bad bytes) cost one request. Bad data or network
  never raise: each failure is a row with a stable ``reason``, like the readers' rejects.

Reason codes of failed rows:
  ``http_<code>``       a non-2xx answer (``http_404``; ``http_503`` after the retries)
  ``timeout``           no answer, or the body not read in full, within ``timeout_s``
  ``connection_error``  refused, reset, DNS/TLS failure, or a body shorter than announced
  ``too_large``         the body is (or announces) more than ``max_bytes``
  ``invalid_url``       not an http(s) URL with a host; no request is made
  ``write_error``       the destination folder or file cannot be written
  ``duplicate``         image_id or destination already requested earlier in the input (the
                        first occurrence is fetched; split ids restart at 1: one call a split)
  ``image_*``           the bytes are no usable image (codes of :mod:`pipeline.images`:
                        empty, truncated, corrupt, too_small, too_large); nothing is written
:func:`ifashion_fetch_items` adds ``missing_image_id`` (absent, or unsafe as a file name),
``missing_url`` and the iFashion reader's own codes. A failed re-fetch leaves an existing
invalid file in place; the next run checks it and fetches it again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from http.client import HTTPException, InvalidURL
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from pipeline.images import MISSING, check_image
from pipeline.io import atomic_path
from pipeline.reasons import Reason
from pipeline.records import RejectCollector
from pipeline.sources.common import RecordError, SourceRead
from pipeline.sources.ifashion import SAFE_ID, load_json, parse_id, short_json

log = logging.getLogger(__name__)

FETCHED, SKIPPED, FAILED = "fetched", "skipped", "failed"
TIMEOUT, CONNECTION_ERROR, TOO_LARGE = Reason.FETCH_TIMEOUT, Reason.CONNECTION_ERROR, Reason.DOWNLOAD_TOO_LARGE
INVALID_URL, WRITE_ERROR, DUPLICATE = Reason.INVALID_URL, Reason.WRITE_ERROR, Reason.DUPLICATE_DOWNLOAD
MISSING_IMAGE_ID, MISSING_URL = Reason.MISSING_IMAGE_ID, Reason.MISSING_URL  # ifashion_fetch_items
RESULT_DTYPES = {"image_id": "string", "url": "string", "path": "string", "status": "string",
                 "reason": "string", "detail": "string", "attempts": "int64", "bytes": "int64",
                 "seconds": "float64"}
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchConfig:
    workers: int = 8            # parallel downloads (threads)
    timeout_s: float = 10.0     # per request, connect + whole body
    retries: int = 3            # extra attempts after the first, for retryable failures
    backoff_s: float = 0.5      # retry k (from 0) waits backoff_s * 2**k, plus up to 10% jitter
    max_bytes: int = 20_000_000
    user_agent: str = "mavp-fetcher/1.0"

    def __post_init__(self) -> None:
        if self.workers < 1 or self.retries < 0 or self.timeout_s <= 0 or self.backoff_s < 0 \
                or self.max_bytes < 1:
            raise ValueError(f"invalid FetchConfig: {self}")


@dataclass
class FetchReport:
    results: pd.DataFrame   # one row per requested item, in input order (RESULT_DTYPES)
    rejects: pd.DataFrame   # the failed rows as a rejects table (REJECT_COLUMNS)

    def counts(self) -> dict[str, int]:
        """Rows by status, plus ``failed:<reason>`` for each failure reason."""
        out = {s: int((self.results["status"] == s).sum()) for s in (FETCHED, SKIPPED, FAILED)}
        failed = self.results.loc[self.results["status"] == FAILED, "reason"]
        out.update({f"failed:{r}": n for r, n in sorted(Counter(failed.tolist()).items())})
        return out


class _Failure(Exception):
    def __init__(self, reason: str, detail: str, retryable: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retryable = reason, detail, retryable


def backoff_delay(config: FetchConfig, retry: int, key: str) -> float:
    """Seconds to wait before retry ``retry`` (0-based) of ``key``: same key, same delay."""
    base = config.backoff_s * 2 ** retry
    return base + random.Random(f"{key}#{retry}").uniform(0, 0.1 * base)


def _network_failure(exc: BaseException) -> _Failure:
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return _Failure(TIMEOUT, f"no answer within the timeout ({cause})", True)
    return _Failure(CONNECTION_ERROR, f"{type(cause).__name__}: {cause}", True)


def _attempt(url: str, dest: Path, config: FetchConfig) -> int:
    """One request streamed into a temp file beside ``dest``; renamed only if it is an image."""
    deadline = time.monotonic() + config.timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": config.user_agent})
    try:
        resp = urllib.request.urlopen(request, timeout=config.timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        code = exc.code
        raise _Failure(f"http_{code}", f"{code} {exc.reason}", code >= 500 or code == 429)
    except (InvalidURL, ValueError) as exc:  # before OSError: URLs urllib itself refuses
        raise _Failure(INVALID_URL, str(exc))
    except (OSError, HTTPException) as exc:
        raise _network_failure(exc)
    with resp:
        expected = resp.length  # Content-Length as http.client parsed it (204: 0; None: unknown)
        if expected is not None and expected > config.max_bytes:
            raise _Failure(TOO_LARGE, f"Content-Length {expected} > max_bytes {config.max_bytes}")
        with atomic_path(dest) as tmp:
            received = 0
            with open(tmp, "wb") as fh:
                while True:
                    if time.monotonic() > deadline:
                        raise _Failure(TIMEOUT, f"body not read within {config.timeout_s} s "
                                                f"({received} bytes)", True)
                    try:
                        chunk = resp.read1(_CHUNK)  # read() would block for the whole body
                    except (OSError, HTTPException) as exc:
                        raise _network_failure(exc)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > config.max_bytes:
                        raise _Failure(TOO_LARGE, f"body exceeds max_bytes {config.max_bytes}")
                    fh.write(chunk)
            if expected is not None and received < expected:
                raise _Failure(CONNECTION_ERROR,
                               f"body ended after {received} of {expected} bytes", True)
            check = check_image(tmp)
            if not check.ok:
                raise _Failure(check.reason, check.detail.replace(str(tmp), str(dest)))
    return received


def _valid_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _row(image_id: str, url: str, dest: Path, **kw) -> dict:
    return {"image_id": image_id, "url": url, "path": str(dest), "status": FAILED, "reason": "",
            "detail": "", "attempts": 0, "bytes": 0, "seconds": 0.0, **kw}


def _fetch_one(image_id: str, url: str, dest: Path, config: FetchConfig) -> dict:
    start = time.monotonic()
    row = _row(image_id, url, dest)

    def finish(**kw) -> dict:
        return {**row, **kw, "seconds": time.monotonic() - start}

    existing = check_image(dest)
    if existing.ok:
        return finish(status=SKIPPED, detail="already present", bytes=os.path.getsize(dest))
    if not _valid_url(url):
        return finish(reason=INVALID_URL, detail=f"not an http(s) URL with a host: {url!r}")
    failure = None
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(backoff_delay(config, attempt - 1, url))
        row["attempts"] = attempt + 1
        try:
            nbytes = _attempt(url, dest, config)
        except _Failure as exc:
            failure = exc
        except OSError as exc:  # network errors are _Failure already: this is the local disk
            failure = _Failure(WRITE_ERROR, f"{type(exc).__name__}: {exc}")
        else:
            was = existing.reason
            return finish(status=FETCHED, bytes=nbytes,
                          detail="" if was == MISSING else f"replaced an invalid file ({was})")
        if not failure.retryable:
            break
    return finish(reason=failure.reason, detail=failure.detail)


def fetch_images(items: Iterable[tuple[str, str, Path | str]],
                 config: FetchConfig = FetchConfig(), source: str = "ifashion",
                 progress: Callable[[int, int], None] | None = None, root: Path | str | None = None) -> FetchReport:
    """Fetch ``(image_id, url, dest_path)`` items in parallel; see the module doc. Rejects are
    located relative to ``root`` (the source root)."""
    items = [(str(i), "" if u is None else str(u), Path(p)) for i, u, p in items]
    total, done = len(items), 0
    rows: list[dict | None] = [None] * total
    log_step = max(1, total // 10)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)
        if total >= 20 and (done % log_step == 0 or done == total):
            log.info("fetched %d/%d images (%d%%)", done, total, 100 * done // total)

    first_of: dict[tuple[str, str], int] = {}
    todo: list[int] = []
    for idx, (image_id, url, dest) in enumerate(items):
        keys = [("id", image_id), ("dest", os.path.normcase(os.path.abspath(dest)))]
        earlier = next((first_of[k] for k in keys if k in first_of), None)
        if earlier is None:
            first_of.update({k: idx for k in keys})
            todo.append(idx)
            continue
        rows[idx] = _row(image_id, url, dest, reason=DUPLICATE, detail="same image_id or "
                         f"destination as item {earlier} ({items[earlier][0]})")
        tick()
    # At most 4 tasks per worker are queued: a million pending futures would cost GBs, and an
    # interrupt (Ctrl-C) cancels what is queued instead of waiting for it.
    pool = ThreadPoolExecutor(max_workers=min(config.workers, max(1, len(todo))))
    queue, pending = iter(todo), {}
    try:
        while True:
            for i in islice(queue, 4 * config.workers - len(pending)):
                pending[pool.submit(_fetch_one, *items[i], config)] = i
            if not pending:
                break
            for future in wait(pending, return_when=FIRST_COMPLETED).done:
                rows[pending.pop(future)] = future.result()
                tick()
    finally:
        pool.shutdown(cancel_futures=True)

    results = pd.DataFrame(rows, columns=list(RESULT_DTYPES)).astype(RESULT_DTYPES)
    rejects = RejectCollector(source, root)
    for row in results[results["status"] == FAILED].itertuples(index=False):
        rejects.add(row.path, json.dumps({"imageId": row.image_id, "url": row.url}),
                    row.reason, row.detail)
    report = FetchReport(results, rejects.frame())
    if total:
        log.info("fetch done: %s", report.counts())
    return report


def ifashion_fetch_items(json_path: str | os.PathLike, images_dir: str | os.PathLike,
                         root: str | os.PathLike | None = None) -> tuple[list[tuple[str, str, Path]], pd.DataFrame]:
    """``(image_id, url, images_dir/<id>.jpg)`` of an iMaterialist JSON file, and its rejects,
    located relative to ``root`` (default: the JSON file's folder, the source root).
    Parsed with the iFashion reader's helpers, so ids and file names match what it reads."""
    path, images_dir = Path(json_path), Path(images_dir)
    read = SourceRead("ifashion", path.parent if root is None else root)
    rejects = read.rejects
    data = load_json(read, path, need_annotations=False)
    items: list[tuple[str, str, Path]] = []
    seen: dict[str, int] = {}
    stats = {"int_ids": 0}
    for i, entry in enumerate(data["images"] if data is not None else []):
        where = f"{path}#images[{i}]"
        entry_ok = isinstance(entry, dict)
        try:
            image_id = parse_id(entry.get("imageId"), stats) if entry_ok else None
        except RecordError as exc:
            rejects.add(where, short_json(entry), exc.reason, exc.detail)
            continue
        url = entry.get("url") if entry_ok else None
        if image_id is None or not SAFE_ID.match(image_id):
            detail = "no imageId usable as a file name" if entry_ok else "entry is not an object"
            rejects.add(where, short_json(entry), MISSING_IMAGE_ID, detail)
        elif not isinstance(url, str) or not url.strip():
            rejects.add(where, short_json(entry), MISSING_URL, f"imageId {image_id} has no url")
        elif image_id in seen:
            rejects.add(where, short_json(entry), Reason.DUPLICATE_IMAGE_ID,
                        f"imageId {image_id} already at images[{seen[image_id]}]")
        else:
            seen[image_id] = i
            items.append((image_id, url.strip(), images_dir / f"{image_id}.jpg"))
    return items, rejects.frame()
