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
from tests.hw.hosttree import FIXTURES, set_tools


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
    assert ctx.parse_errors == 2  # the bad counters, and no vdev row read at all
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


def _use(host: Settings, fixture: str, argv: str = "zpool_status_-P_-p") -> None:
    shutil.copy(FIXTURES / "zpool" / fixture, host.tool_fixtures / argv)


def test_real_degraded_pool_with_offline_leaf_yields_vdev_states(host: Settings) -> None:
    _use(host, "smartos-degraded-offline-log.txt")
    ctx = CollectContext(host)
    families = list(ZfsCollector().collect(ctx))
    assert ctx.parse_errors == 0
    states = {(dict(k)["vdev"], dict(k)["state"]) for k, v in
              _family(families, "pbs_zpool_vdev_state").items() if v == 1.0}
    assert states == {("zones", "DEGRADED"), ("mirror-0", "ONLINE"), ("c1t1d0s0", "ONLINE"),
                      ("c1t0d0s0", "ONLINE"), ("c1t4d0s1", "ONLINE"), ("c1t2d0s4", "OFFLINE")}
    errors = _family(families, "pbs_zpool_vdev_errors")
    assert {dict(k)["vdev"] for k in errors} == {"c1t1d0s0", "c1t0d0s0", "c1t4d0s1", "c1t2d0s4"}
    assert _family(families, "pbs_zpool_state")[(("pool", "zones"), ("state", "DEGRADED"))] == 1


def test_json_is_preferred_when_zpool_has_it(host: Settings) -> None:
    _use(host, "json-degraded-faulted-constructed.json", "zpool_status_-j_--json-int_-P")
    (host.tool_fixtures / "zpool_status_-P_-p").unlink()  # the text is not asked for
    ctx = CollectContext(host)
    families = list(ZfsCollector().collect(ctx))
    assert ctx.parse_errors == 0
    errors = _family(families, "pbs_zpool_vdev_errors")
    assert errors[(("kind", "checksum"), ("pool", "local-zfs"),
                   ("vdev", "wwn-0x5000cca245c1984b"))] == 4.0
    state = _family(families, "pbs_zpool_vdev_state")
    assert state[(("pool", "local-zfs"), ("state", "FAULTED"),
                  ("vdev", "wwn-0x5000cca245c1984b"))] == 1.0


def test_redacted_duplicate_leaf_names_give_no_duplicate_series(host: Settings) -> None:
    _use(host, "online-faulted-leaf-zfs22.txt")
    ctx = CollectContext(host)
    families = list(ZfsCollector().collect(ctx))
    assert ctx.parse_errors == 1  # the second "...xxxxxx" row
    for family in families:
        labels = [tuple(sorted(s.labels.items())) for s in family.samples]
        assert len(labels) == len(set(labels)), family.name
    assert len(_family(families, "pbs_zpool_vdev_errors")) == 3
