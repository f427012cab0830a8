"""The bench collector: the benchmark runs once, its rows are exported."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pbs_agent import bench
from pbs_agent.collectors import bench as bench_collector
from pbs_agent.collectors.base import CollectContext
from pbs_agent.host import Settings


def test_collector_exports_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = bench.run_benchmark

    def counting(seconds: float) -> list[bench.BenchResult]:
        calls.append(seconds)
        return real(0.01, chunk=bench.sample_chunk(128 * 1024))

    monkeypatch.setattr(bench_collector, "run_benchmark", counting)
    collector = bench_collector.BenchCollector()
    assert collector.name == "bench" and collector.interval >= 86400
    ctx = CollectContext(Settings())
    first = {m.name: m for m in collector.collect(ctx)}
    second = list(collector.collect(ctx))
    assert len(calls) == 1 and len(second) == 2
    tests = {s.labels["test"]: s.value for s in first["pbs_bench_bytes_per_second"].samples}
    assert set(tests) == set(bench.LOCAL_TESTS) and all(v > 0 for v in tests.values())

    class Adapter:
        def collect(self):  # registry protocol
            return collector.collect(ctx)

    registry = CollectorRegistry()
    registry.register(Adapter())
    text = generate_latest(registry).decode()
    assert 'pbs_bench_bytes_per_second{test="sha256"}' in text
