"""Progress for long work: a live line on a TTY, silence in logs and pipes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Report progress of *total* units of work on stderr, only when it is a terminal.

    >>> p = Progress("scan", total=10, stream=None)  # no stream: silent
    >>> p.advance(10); p.close()
    """

    def __init__(
        self, label: str, total: int | None = None, unit: str = "",
        stream: TextIO | bool | None = True, interval: float = 0.2,
    ) -> None:
        if stream is True:
            stream = sys.stderr if sys.stderr.isatty() else None
        self.stream: TextIO | None = stream or None
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.done = 0
        self._drawn = False
        self._last = 0.0
        self._start = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        assert self.stream is not None
        elapsed = now - self._start
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"{self.label}: {pct:5.1f}% ({self.done}/{self.total}{self.unit}) {elapsed:.0f}s"
        else:
            text = f"{self.label}: {self.done}{self.unit} {elapsed:.0f}s"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the line: the result printed next takes its place."""
        if self.stream is not None:
            if self._drawn:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self.stream = None


class Steps:
    """Numbered step lines for a long sequence (``[2/5] deploy run 1 … 14s``): on a terminal
    the current line ticks every *interval* seconds and ends as ``… done in 14.2 s``; in logs
    and pipes nothing at all (the caller prints its results as usual).

    >>> s = Steps(2, stream=None)
    >>> with s.step("first"): pass
    """

    def __init__(self, total: int, stream: TextIO | bool | None = True,
                 interval: float = 1.0) -> None:
        if stream is True:
            stream = sys.stderr if sys.stderr.isatty() else None
        self.stream: TextIO | None = stream or None
        self.total, self.interval, self.done = total, interval, 0

    def _write(self, text: str, end: str = "") -> None:
        assert self.stream is not None
        self.stream.write("\r\x1b[K" + text + end)
        self.stream.flush()

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """One step: its line while it runs, then done (or failed) with its duration."""
        self.done += 1
        if self.stream is None:
            yield
            return
        label = f"[{self.done}/{self.total}] {text}"
        start = time.monotonic()
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(self.interval):
                self._write(f"{label} … {time.monotonic() - start:.0f}s")

        self._write(f"{label} …")
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        outcome = "failed after"
        try:
            yield
            outcome = "done in"
        finally:
            stop.set()
            ticker.join()
            self._write(f"{label}: {outcome} {time.monotonic() - start:.1f} s", "\n")
