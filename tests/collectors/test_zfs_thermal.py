"""ZfsCollector and ThermalCollector behaviour beyond the golden files."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.thermal import ThermalCollector
from pbs_agent.collectors.zfs import ZfsCollector
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings
from tests.hw.hosttree import set_tools


def _family(families: list, name: str) -> dict[tuple, float]:
    family = next(f for f in families if f.name == name)
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_no_zfs_module_means_no_pools_and_success(host: Settings) -> None:
    shutil.rmtree(host.sysfs / "module" / "zfs")
    (host.tool_fixtures / "zpool_status_-P_-p").unlink()
    assert list(ZfsCollector().collect(CollectContext(host))) == []


def test_zfs_module_without_zpool_is_a_source_error(host: Settings) -> None:
    (host.tool_fixtures / "zpool_status_-P_-p").unlink()
    with pytest.raises(SourceError, match="zpool"):
        list(ZfsCollector().collect(CollectContext(host)))


def test_last_scrub_end_is_remembered_through_a_resilver(host: Settings) -> None:
    collector = ZfsCollector()
    collector.collect(CollectContext(host))
    set_tools(host.tool_fixtures, "resilver-running")
    families = list(collector.collect(CollectContext(host)))
    ends = _family(families, "pbs_zpool_last_scrub_end_timestamp_seconds")
    assert ends == {(("pool", "tank"),): 1794131292.0}  # Sun Nov  8 09:48:12 2026 UTC
    running = _family(families, "pbs_zpool_scan_in_progress")
    assert running[(("kind", "resilver"), ("pool", "tank"))] == 1.0


def test_malformed_zpool_output_is_counted(host: Settings) -> None:
    (host.tool_fixtures / "zpool_status_-P_-p").write_text(
        "  pool: tank\n state: ONLINE\nconfig:\n\n\ttank ONLINE 0 0 zz\n")
    ctx = CollectContext(host)
    families = list(ZfsCollector().collect(ctx))
    assert ctx.parse_errors == 1
    assert _family(families, "pbs_zpool_state")[(("pool", "tank"), ("state", "ONLINE"))] == 1.0


def test_inlet_band_follows_settings(host: Settings) -> None:
    settings = dataclasses.replace(host, inlet_band_celsius=(18.0, 27.0))
    families = list(ThermalCollector().collect(CollectContext(settings)))
    band = _family(families, "pbs_thermal_inlet_band_celsius")
    assert band == {(("bound", "low"),): 18.0, (("bound", "high"),): 27.0}


def test_bmc_without_ipmitool_is_a_source_error(host: Settings) -> None:
    (host.tool_fixtures / "ipmitool_sdr_type_Temperature").unlink()
    with pytest.raises(SourceError, match="ipmitool"):
        list(ThermalCollector().collect(CollectContext(host)))
