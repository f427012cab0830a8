"""What every collector shares: the context of one run and the base class.

A collector is one class with a ``name`` that yields prometheus_client metric families from
a fresh view of its sources each time :meth:`Collector.collect` runs. Collectors never raise
for bad input: they count it with :meth:`CollectContext.parse_error` and go on; a source that
cannot be read at all raises :class:`~pbs_agent.errors.SourceError`, which the runner turns
into ``pbs_agent_collector_success{collector} 0`` while the other collectors keep working.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

from ..host import Host, Settings


class CollectContext(Host):
    """One collection run: the host (settings, tools, datastores) and the parse-error counter."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.parse_errors = 0
        #: Set by :meth:`fail`: the run's metrics are kept but its success gauge is 0.
        self.failure: str | None = None
        #: Set by :meth:`note`: why a successful run has little or nothing to show.
        self.notes: list[str] = []

    def fail(self, reason: str) -> None:
        """Mark the run failed while still returning metrics (e.g. ``pbs_api_up 0``)."""
        self.failure = reason

    def note(self, state: str) -> None:
        """Say why a successful run exports little (a state of the host, not a failure);
        the landing page shows it next to the collector."""
        self.notes.append(state)

    def parse_error(self, what: str) -> None:
        """Count one malformed input (task log line, sysfs value, tool output…)."""
        self.parse_errors += 1


class Collector:
    """Base class: subclasses set ``name`` and implement :meth:`collect`."""

    name: str = ""
    #: Seconds between background refreshes (slow sources use longer intervals).
    interval: float = 60.0
    #: Enabled unless --no-collector.NAME.
    default_enabled: bool = True

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        raise NotImplementedError
