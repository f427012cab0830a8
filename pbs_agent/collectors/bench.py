"""The ``bench`` collector: this host's speed on the rows of ``proxmox-backup-client benchmark``."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..bench import BenchResult, run_benchmark
from .base import CollectContext, Collector


class BenchCollector(Collector):
    """Host speed for SHA-256, zstd, AES-256-GCM and verify on 4 MiB chunks (measured once).

    Exports ``pbs_bench_bytes_per_second{test}`` and the PBS reference figure beside it; the
    benchmark (about 2.5 s of one core) runs on the first collection only.
    """

    name = "bench"
    interval = 7 * 24 * 3600.0
    seconds_per_test = 0.5

    def __init__(self) -> None:
        self._results: list[BenchResult] | None = None

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        if self._results is None:
            self._results = run_benchmark(self.seconds_per_test)
        speed = GaugeMetricFamily(
            "pbs_bench_bytes_per_second",
            "Throughput of this host on 4 MiB chunks, as proxmox-backup-client benchmark.",
            labels=["test"],
        )
        top = GaugeMetricFamily(
            "pbs_bench_reference_bytes_per_second",
            "PBS's reference throughput for the same test (Ryzen 7 2700X).",
            labels=["test"],
        )
        for r in self._results:
            if r.speed is not None:
                speed.add_metric([r.test], r.speed)
                top.add_metric([r.test], r.top)
        yield speed
        yield top
