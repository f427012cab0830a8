"""Background refresh of the collectors; a scrape serves the last complete results.

Each collector runs in its own thread every ``interval`` seconds. A finished run is rendered
to exposition text once; a scrape only concatenates those texts with the agent's own metrics,
so it never waits for disk; the assembled text (and its gzip form) is reused until a
collector finishes another run. A run that raises turns ``pbs_agent_collector_success`` to 0 and
drops that collector's series until it succeeds again; the other collectors are unaffected.
A collector that calls :meth:`CollectContext.fail` keeps its series (``pbs_api_up 0``) but
its success gauge is 0 too.
"""

from __future__ import annotations

import gzip
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from .. import __version__
from ..collectors.base import CollectContext, Collector
from ..errors import PbsAgentError
from ..host import Settings

log = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.001


class _Families:
    """The minimal registry interface ``generate_latest`` needs."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> list[Metric]:
        return self._families


def render(families: Iterable[Metric]) -> bytes:
    """Exposition text (format 0.0.4) of *families*."""
    return generate_latest(_Families(families))


@dataclass(frozen=True)
class RunResult:
    success: bool
    duration: float
    finished: float
    text: bytes  # empty when the run failed
    detail: str = ""  # why it failed, or the collector's notes on a quiet success


class CollectorSlot:
    """One collector with its last result and cumulative parse-error count."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.result: RunResult | None = None
        self.last_success: float | None = None
        self.parse_errors = 0


class Runner:
    """Runs collectors (in background threads, or once) and renders the exposition."""

    def __init__(self, collectors: Sequence[Collector], settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.slots = [CollectorSlot(c) for c in collectors]
        self.clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._generation = 0  # bumped by every finished run
        self._cache: tuple[int, bytes, bytes | None] = (-1, b"", None)
        self._cache_lock = threading.Lock()

    def run_once(self, slot: CollectorSlot) -> RunResult:
        """Run one collector now and keep its result."""
        ctx = CollectContext(self.settings)
        start = time.monotonic()
        name = slot.collector.name
        try:
            text = render(slot.collector.collect(ctx))
            ok = ctx.failure is None
            detail = "; ".join(ctx.notes) if ok else str(ctx.failure)
            if not ok:
                self._log_failure(slot, detail)
        except PbsAgentError as exc:
            text, ok, detail = b"", False, f"{exc}"
            self._log_failure(slot, detail)
        except Exception as exc:  # a bug in one collector must not stop the others
            text, ok, detail = b"", False, f"crashed: {exc.__class__.__name__}: {exc}"
            log.exception("collector %s crashed: %s", name, exc)
        result = RunResult(ok, time.monotonic() - start, self.clock(), text, detail)
        slot.parse_errors += ctx.parse_errors
        if ok:
            slot.last_success = result.finished
        slot.result = result
        with self._cache_lock:
            self._generation += 1
        return result

    @staticmethod
    def _log_failure(slot: CollectorSlot, reason: str) -> None:
        if slot.result is None or slot.result.success:  # log transitions only
            log.warning("collector %s failed: %s", slot.collector.name, reason)

    def run_all(self) -> None:
        """Run every collector once, one after the other (``pbs-agent metrics``)."""
        for slot in self.slots:
            self.run_once(slot)

    def start(self) -> None:
        """Start one background thread per collector."""
        # Hand the GIL over sooner than the default 5 ms: HTTP threads then wait less behind
        # a collector busy in Python (a first task-log ingestion, rendering a big report).
        sys.setswitchinterval(SWITCH_INTERVAL)
        for slot in self.slots:
            t = threading.Thread(target=self._loop, args=(slot,), daemon=True,
                                 name=f"collector-{slot.collector.name}")
            t.start()
            self._threads.append(t)

    def _loop(self, slot: CollectorSlot) -> None:
        while not self._stop.is_set():
            self.run_once(slot)
            self._stop.wait(slot.collector.interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the refresh loops, waiting at most *timeout* seconds in all."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0))

    def self_families(self) -> list[Metric]:
        """The agent's own metrics: per-collector success, duration, last success, errors."""
        lab = ["collector"]
        ok = GaugeMetricFamily("pbs_agent_collector_success",
                               "1 if the collector's last run succeeded.", labels=lab)
        dur = GaugeMetricFamily("pbs_agent_collector_duration_seconds",
                                "Duration of the collector's last run.", labels=lab)
        last = GaugeMetricFamily("pbs_agent_collector_last_success_timestamp_seconds",
                                 "When the collector last succeeded.", labels=lab)
        errs = CounterMetricFamily("pbs_agent_parse_errors",
                                   "Malformed inputs met (log lines, files, tool output).",
                                   labels=lab)
        info = GaugeMetricFamily("pbs_agent_build_info", "Version of the agent.",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        for slot in self.slots:
            name = [slot.collector.name]
            errs.add_metric(name, slot.parse_errors)
            result = slot.result
            if result is None:
                continue  # first run still in progress
            ok.add_metric(name, int(result.success))
            dur.add_metric(name, result.duration)
            if slot.last_success is not None:
                last.add_metric(name, slot.last_success)
        return [ok, dur, last, errs, info]

    def exposition_ready(self, gzipped: bool = False) -> bool:
        """Whether :meth:`exposition` would return bytes already built (no render, no gzip)."""
        with self._cache_lock:
            generation, _, packed = self._cache
            return generation == self._generation and (packed is not None or not gzipped)

    def exposition(self, gzipped: bool = False) -> bytes:
        """The whole exposition: every collector's last good text, then the agent's own.

        Built once per change of any collector's result (and gzipped once, on demand), so
        a scrape costs no rendering.
        """
        with self._cache_lock:
            generation, text, packed = self._cache
            if generation != self._generation:
                generation = self._generation
                parts = [slot.result.text for slot in self.slots if slot.result is not None]
                parts.append(render(self.self_families()))
                text, packed = b"".join(parts), None
            if gzipped and packed is None:
                packed = gzip.compress(text, compresslevel=1, mtime=0)
            self._cache = (generation, text, packed)
        return packed if gzipped and packed is not None else text
