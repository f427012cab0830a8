"""Fixtures of the hardware tests: a fixture host tree, UTC time zone, golden files."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from pbs_agent.host import Settings

from .hosttree import build_host

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """zpool prints local time: run in UTC so timestamps are the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def host(tmp_path: Path, utc: None) -> Settings:
    return build_host(tmp_path)


def exposition(families: Iterable[Metric]) -> str:
    """The text exposition of metric families, as a scrape would show them."""
    fams = list(families)

    class _Fixed:
        def collect(self) -> list[Metric]:
            return fams

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def assert_golden(name: str, text: str) -> None:
    """Compare with ``golden/<name>.prom``; ``UPDATE_GOLDEN=1`` rewrites it instead."""
    path = GOLDEN / f"{name}.prom"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), f"exposition differs from {path.name}"
