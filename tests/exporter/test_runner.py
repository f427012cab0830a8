"""The runner: failures isolated per collector, parse errors counted, scrapes never wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from pbs_agent.collectors.base import CollectContext, Collector
from pbs_agent.collectors.jobs import JobsCollector
from pbs_agent.collectors.tasks import TasksCollector
from pbs_agent.errors import SourceError
from pbs_agent.exporter.runner import Runner
from pbs_agent.host import Settings


class Gate(Collector):
    """A collector that waits for a gate: stands in for a slow datastore scan."""

    name = "gate"
    interval = 3600.0

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.runs = 0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        self.gate.wait(30)
        self.runs += 1
        fam = GaugeMetricFamily("test_gate_runs", "runs", labels=[])
        fam.add_metric([], self.runs)
        return [fam]


class Crashing(Collector):
    name = "crashing"

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        raise ZeroDivisionError("bug")


def test_failing_source_zeroes_its_success_and_keeps_the_rest(settings: Settings,
                                                              tmp_path: Path) -> None:
    broken = Settings(log_dir=tmp_path / "missing", lib_dir=settings.lib_dir,
                      state_dir=settings.state_dir)
    runner = Runner([TasksCollector(), JobsCollector(), Crashing()], broken)
    runner.run_all()
    text = runner.exposition().decode()
    assert 'pbs_agent_collector_success{collector="tasks"} 0.0' in text
    assert 'pbs_agent_collector_success{collector="crashing"} 0.0' in text
    assert 'pbs_agent_collector_success{collector="jobs"} 1.0' in text
    assert "pbs_tasks_total{" not in text and "pbs_job_never_run{" in text
    assert 'pbs_agent_collector_last_success_timestamp_seconds{collector="jobs"}' in text
    assert 'last_success_timestamp_seconds{collector="tasks"}' not in text


def test_parse_errors_accumulate(settings: Settings) -> None:
    runner = Runner([JobsCollector()], settings)
    runner.run_all()
    runner.run_all()
    assert 'pbs_agent_parse_errors_total{collector="jobs"} 4.0' in runner.exposition().decode()


def test_recovery_after_failure(settings: Settings, tmp_path: Path) -> None:
    runner = Runner([TasksCollector()], settings)
    logs = settings.log_dir
    hidden = tmp_path / "hidden"
    logs.rename(hidden)
    runner.run_all()
    result = runner.slots[0].result
    assert result is not None and not result.success
    assert result.detail.startswith(f"{logs}: no PBS log directory")
    hidden.rename(logs)
    runner.run_all()
    assert 'pbs_agent_collector_success{collector="tasks"} 1.0' in runner.exposition().decode()


def test_scrape_does_not_wait_for_a_running_collector(settings: Settings) -> None:
    gate = Gate()
    runner = Runner([JobsCollector(), gate], settings)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while runner.slots[0].result is None and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
        text = runner.exposition().decode()
        assert time.monotonic() - start < 1.0
        assert "pbs_job_never_run{" in text and "test_gate_runs" not in text
        assert 'collector_success{collector="gate"}' not in text  # first run not finished
        gate.gate.set()
        while runner.slots[1].result is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "test_gate_runs 1.0" in runner.exposition().decode()
    finally:
        gate.gate.set()
        runner.stop()


class Failing(Collector):
    name = "failing"

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        raise SourceError("/dev/thing", "gone")


def test_failure_is_logged_once_per_transition(settings: Settings, caplog) -> None:
    runner = Runner([Failing()], settings)
    with caplog.at_level("WARNING"):
        runner.run_all()
        runner.run_all()
    assert sum("collector failing failed" in r.message for r in caplog.records) == 1


def test_exposition_is_cached_until_a_run_finishes(settings: Settings) -> None:
    import gzip

    runner = Runner([JobsCollector()], settings)
    runner.run_all()
    first = runner.exposition()
    assert runner.exposition() is first  # no re-rendering per scrape
    assert gzip.decompress(runner.exposition(gzipped=True)) == first
    (settings.lib_dir / "jobstates" / "prunejob-new.json").write_text('{"created":{"time":1}}')
    runner.run_all()
    second = runner.exposition()
    assert second is not first and b'job_id="new"' in second
    assert gzip.decompress(runner.exposition(gzipped=True)) == second


def test_a_note_is_kept_with_a_successful_run(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    fresh = Settings(log_dir=tmp_path / "log", state_dir=tmp_path / "state")
    runner = Runner([TasksCollector()], fresh)
    runner.run_all()
    result = runner.slots[0].result
    assert result is not None and result.success
    assert result.detail.startswith("no task log directory yet")
    assert 'pbs_agent_collector_success{collector="tasks"} 1.0' in runner.exposition().decode()
