"""Shared fixtures of the exporter tests: the scenario tree and settings pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.credentials import make_cert
from lab.pbs_tree import build_tree
from pbs_agent.collectors.base import CollectContext
from pbs_agent.host import Settings


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
