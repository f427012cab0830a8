"""Progress for long work: a live line on a TTY, silence in logs and pipes."""

from __future__ import annotations

import sys
import time
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
