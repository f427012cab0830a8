"""The collector classes the exporter knows, imported defensively.

A collector whose module is missing (not installed yet, or broken) is skipped with a log
line; the others keep working.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from ..collectors.base import Collector

log = logging.getLogger(__name__)

#: (module, class) of every collector, in exposition order.
COLLECTORS: tuple[tuple[str, str], ...] = (
    ("pbs_agent.collectors.dedup", "DedupCollector"),
    ("pbs_agent.collectors.retention", "RetentionCollector"),
    ("pbs_agent.collectors.tasks", "TasksCollector"),
    ("pbs_agent.collectors.jobs", "JobsCollector"),
    ("pbs_agent.collectors.api", "ApiCollector"),
    ("pbs_agent.collectors.hardware", "HardwareCollector"),
    ("pbs_agent.collectors.zfs", "ZfsCollector"),
    ("pbs_agent.collectors.thermal", "ThermalCollector"),
    ("pbs_agent.collectors.bench", "BenchCollector"),
)


def load_collector(module: str, cls_name: str) -> type[Collector] | None:
    """Import one collector class; None (and a log line) if it cannot be loaded."""
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except ModuleNotFoundError as exc:
        log.info("collector %s.%s not available: %s", module, cls_name, exc)
        return None
    except Exception as exc:  # a broken module must not take the exporter down
        log.warning("collector %s.%s failed to load: %s: %s",
                    module, cls_name, type(exc).__name__, exc)
        return None
    if not (isinstance(cls, type) and issubclass(cls, Collector) and cls.name):
        log.warning("collector %s.%s is not a named Collector subclass", module, cls_name)
        return None
    return cls


@cache
def available_collectors() -> dict[str, type[Collector]]:
    """Name → class of every collector that can be loaded, in exposition order."""
    out: dict[str, type[Collector]] = {}
    for module, cls_name in COLLECTORS:
        cls = load_collector(module, cls_name)
        if cls is not None:
            out[cls.name] = cls
    return out


def create_collectors(names: list[str]) -> list[Collector]:
    """New instances of the named collectors, in exposition order."""
    classes = available_collectors()
    return [classes[name]() for name in classes if name in names]
