"""The hardware collectors inside the exporter's runner: success gauges, failure semantics, and
a full exposition that ``promtool check metrics`` accepts."""

from __future__ import annotations

import subprocess

import pytest

from pbs_agent.exporter.registry import available_collectors, create_collectors
from pbs_agent.exporter.runner import Runner
from pbs_agent.host import Settings

NAMES = ["hardware", "zfs", "thermal"]


def _run(settings: Settings) -> str:
    runner = Runner(create_collectors(NAMES), settings, clock=lambda: 1_800_000_000.0)
    runner.run_all()
    return runner.exposition().decode()


def test_registry_loads_the_hardware_collectors() -> None:
    assert set(NAMES) <= set(available_collectors())


def test_all_succeed_on_the_fixture_host(host: Settings) -> None:
    text = _run(host)
    for name in NAMES:
        assert f'pbs_agent_collector_success{{collector="{name}"}} 1.0' in text
    assert 'pbs_zpool_state{pool="tank",state="ONLINE"} 1.0' in text
    assert 'pbs_thermal_inlet_celsius{sensor="Inlet Temp"} 23.0' in text


def test_smartctl_missing_fails_hardware_but_keeps_its_series(host: Settings) -> None:
    for path in host.tool_fixtures.glob("smartctl_*"):
        path.unlink()
    text = _run(host)
    assert 'pbs_agent_collector_success{collector="hardware"} 0.0' in text
    assert 'pbs_agent_collector_success{collector="zfs"} 1.0' in text
    assert "pbs_disk_temperature_celsius{" in text  # NVMe hwmon still read


def test_zpool_missing_fails_zfs_only(host: Settings) -> None:
    (host.tool_fixtures / "zpool_status_-P_-p").unlink()
    text = _run(host)
    assert 'pbs_agent_collector_success{collector="zfs"} 0.0' in text
    assert 'pbs_agent_collector_success{collector="thermal"} 1.0' in text
    assert "pbs_zpool_state{" not in text


@pytest.mark.prometheus
def test_exposition_passes_promtool(host: Settings) -> None:
    proc = subprocess.run(["promtool", "check", "metrics"], input=_run(host),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
