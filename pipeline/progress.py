"""Progress of long steps: a tqdm bar on a terminal, and periodic log lines for the run log.

A :class:`Progress` counts work done out of a known total. It draws a tqdm bar on stderr when
stderr is a terminal (``MAVP_PROGRESS_BAR=1`` forces the bar, ``0`` turns it off), and writes
an INFO line on the ``mavp.progress`` logger at most every ``interval`` seconds (default 10,
``MAVP_PROGRESS_SECONDS`` changes it), plus a final line when it closes::

    decoding images (mepave_images, 64 px): 1024/4096 (25%), 85.3 image/s, ETA 00:36
    decoding images (mepave_images, 64 px): 4096/4096 (100%), 86.0 image/s, took 00:48

Dagster shows these lines in the run log when ``mavp`` is one of its managed python loggers.
Nothing is logged per item: an update adds to a counter and reads the clock. Counting never
touches a random generator or the order of work, so no result depends on it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import nullcontext
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

LOGGER_NAME = "mavp.progress"
BAR_ENV = "MAVP_PROGRESS_BAR"
INTERVAL_ENV = "MAVP_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0
BAR_REFRESH_SECONDS = 0.5

logger = logging.getLogger(LOGGER_NAME)
T = TypeVar("T")


def default_interval() -> float:
    try:
        return float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


def bar_wanted() -> bool:
    """The bar is drawn on a terminal, or wherever ``MAVP_PROGRESS_BAR`` says."""
    setting = os.environ.get(BAR_ENV, "").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def clock_text(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _value_text(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """``done`` out of ``total`` units of ``what``; a context manager that closes itself.

    ``what=None`` makes a silent meter, for calls that report only when asked to.
    ``clock`` (seconds, monotonic) is injectable for tests.
    """

    def __init__(self, what: str | None, total: int, unit: str = "it", *, interval: float | None = None,
                 bar: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 log: logging.Logger = logger):
        self.what, self.total, self.unit = what, max(0, int(total)), unit
        self.interval = default_interval() if interval is None else float(interval)
        self.clock, self.log = clock, log
        self.done = 0
        self.postfix: dict[str, object] = {}
        self.closed = what is None
        self.start = self.last = clock()
        self.bar = None
        if not self.closed and self.total and (bar_wanted() if bar is None else bar):
            self.bar = tqdm(total=self.total, desc=what, unit=unit, file=sys.stderr,
                            mininterval=BAR_REFRESH_SECONDS, dynamic_ncols=True)

    def update(self, n: int = 1, **postfix: object) -> None:
        """``n`` more units done; ``postfix`` (e.g. loss) is shown after the counts."""
        if self.closed:
            return
        self.done += n
        if postfix:
            self.postfix.update(postfix)
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix({k: _value_text(v) for k, v in self.postfix.items()}, refresh=False)
            self.bar.update(n)
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._emit(now, final=False)

    def set_postfix(self, **postfix: object) -> None:
        self.update(0, **postfix)

    def line(self, now: float, final: bool) -> str:
        elapsed = max(0.0, now - self.start)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [f"{self.what}: {self.done}/{self.total} ({pct:.0f}%)", f"{rate:.1f} {self.unit}/s"]
        if final:
            parts.append(f"took {clock_text(elapsed)}")
        elif rate > 0:
            parts.append(f"ETA {clock_text(max(0, self.total - self.done) / rate)}")
        else:
            parts.append("ETA --:--")
        parts += [f"{k} {_value_text(v)}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _emit(self, now: float, final: bool) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        # with a bar, a console handler's line goes above the bar, not through it
        with tqdm.external_write_mode() if self.bar is not None else nullcontext():
            self.log.info("%s", self.line(now, final))

    def close(self) -> None:
        """Close the bar and write the final line (none for an empty total)."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        if self.total:
            self._emit(self.clock(), final=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], what: str | None, total: int | None = None, unit: str = "it", *,
          count: Callable[[T], int] | None = None, **options) -> Iterator[T]:
    """Yield ``items`` and count each one (``count(item)`` units, e.g. ``len`` for a chunk) once
    the consumer asks for the next; ``total`` defaults to ``len(items)``."""
    if total is None:
        total = len(items)            # type: ignore[arg-type]
    with Progress(what, total, unit, **options) as progress:
        for item in items:
            yield item
            progress.update(count(item) if count is not None else 1)


def training_progress(what: str, **options) -> Callable[[int], Progress]:
    """The ``progress`` argument of :func:`models.training.fit`: a meter over its steps."""
    def start(total_steps: int) -> Progress:
        return Progress(what, total_steps, "step", **options)
    return start
