"""Fixtures of the collector tests: the PBS scenario tree, the fixture host (sysfs, procfs,
devfs, recorded tools), settings pointing at them, golden expositions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from lab.credentials import make_cert
from lab.pbs_tree import build_tree
from pbs_agent.collectors.base import CollectContext
from pbs_agent.host import Settings
from tests.hw.hosttree import build_host

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def pbs_tree(tmp_path: Path) -> dict[str, Path]:
    return build_tree(tmp_path / "host")


@pytest.fixture
def settings(pbs_tree: dict[str, Path], tmp_path: Path) -> Settings:
    return Settings(log_dir=pbs_tree["log"], lib_dir=pbs_tree["lib"], config_dir=pbs_tree["etc"],
                    state_dir=tmp_path / "state")


def samples(families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of metric families."""
    out = {}
    for fam in families:
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(smp: dict, name: str, **labels: str) -> float:
    return smp[(name, tuple(sorted(labels.items())))]


def collect(collector, settings: Settings) -> tuple[dict, CollectContext]:
    ctx = CollectContext(settings)
    return samples(collector.collect(ctx)), ctx


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


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
