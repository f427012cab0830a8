"""HardwareCollector behaviour on the fixture host: sources, fallbacks, sleeping disks, errors."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.hardware import HardwareCollector
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings
from tests.hw.hosttree import FIXTURES

SDA = "ata-ST16000NM001G-2KK103_ZL2AAAA1"
SDC = "ata-ST16000NM001G-2KK103_ZL2AAAA3"
NVME = "nvme-INTEL_SSDPE2KX010T8_PHLJ000000011P0BGN"


def _values(families: list[Metric], name: str) -> dict[str, float]:
    """device label -> value of one metric family."""
    family = next(f for f in families if f.name == name)
    return {s.labels["device"]: s.value for s in family.samples}


def _collect(settings: Settings) -> tuple[list[Metric], CollectContext]:
    ctx = CollectContext(settings)
    return list(HardwareCollector().collect(ctx)), ctx


def _smartctl(settings: Settings, disk: str) -> Path:
    return settings.tool_fixtures / f"smartctl_-j_-n_standby_-i_-H_-A_%dev%{disk}"


def test_hwmon_is_preferred_to_smartctl(host: Settings) -> None:
    temps = _values(_collect(host)[0], "pbs_disk_temperature_celsius")
    assert temps[SDA] == 31.0  # drivetemp; smartctl says 26
    assert temps[NVME] == 43.85  # node_exporter's real nvme hwmon capture


def test_sleeping_disk_is_not_read(host: Settings) -> None:
    families, _ = _collect(host)
    assert SDC not in _values(families, "pbs_disk_temperature_celsius")
    assert _values(families, "pbs_disk_standby")[SDC] == 1.0


def test_awake_disk_with_drivetemp_is_read(host: Settings) -> None:
    shutil.copy(FIXTURES / "smartctl" / "sata-hdd-seagate-exos-x16.json", _smartctl(host, "sdc"))
    families, _ = _collect(host)
    assert _values(families, "pbs_disk_temperature_celsius")[SDC] == 29.0
    assert _values(families, "pbs_disk_standby")[SDC] == 0.0


def test_without_smartctl_run_fails_but_nvme_hwmon_and_identity_remain(host: Settings) -> None:
    for path in host.tool_fixtures.glob("smartctl_*"):
        path.unlink()
    families, ctx = _collect(host)
    assert ctx.failure is not None and "smartctl" in ctx.failure
    temps = _values(families, "pbs_disk_temperature_celsius")
    assert temps == {NVME: 43.85}  # drivetemp disks: power state unknown, not read
    info = {s.labels["kernel_name"]: s.labels for s in families[1].samples}
    assert info["sda"]["model"] == "ST16000NM001G-2K" and info["sda"]["controller_mode"] == "it"


def test_malformed_smartctl_output_is_counted(host: Settings) -> None:
    _smartctl(host, "sde").write_text("{not json")
    families, ctx = _collect(host)
    assert ctx.parse_errors == 1 and ctx.failure is None
    assert "ata-SAMSUNG_MZ7LH1T9HMLT-00005_S455NY0M100001" not in _values(
        families, "pbs_disk_wearout_ratio")
    assert _values(families, "pbs_disk_wearout_ratio")[NVME] == 0.73


def test_malformed_hwmon_value_falls_back_to_smartctl(host: Settings) -> None:
    hwmon = next(host.sysfs.glob("devices/**/0:0:0:0/hwmon/hwmon11"))
    (hwmon / "temp1_input").write_text("garbage\n")
    families, ctx = _collect(host)
    assert ctx.parse_errors == 1
    assert _values(families, "pbs_disk_temperature_celsius")[SDA] == 26.0


def test_zfs_datastore_without_zpool_is_a_source_error(host: Settings) -> None:
    (host.tool_fixtures / "zpool_status_-P_-p").unlink()
    with pytest.raises(SourceError, match="zpool"):
        _collect(host)


def test_controller_modes_and_raid_virtual_disk(host: Settings) -> None:
    families, _ = _collect(host)
    info = {s.labels["kernel_name"]: s.labels for s in families[1].samples}
    assert {k: (v["controller"], v["controller_mode"]) for k, v in info.items()} == {
        "sda": ("mpt3sas", "it"), "sdb": ("mpt3sas", "it"), "sdc": ("mpt3sas", "it"),
        "sde": ("ahci", "direct"), "nvme0n1": ("nvme", "direct"),
        "sdd": ("megaraid_sas", "raid"),
    }
    assert info["sdd"]["datastore"] == "store2" and info["sdd"]["pool"] == ""
    assert info["sdd"]["model"] == "DELL PERC H730P Mini"  # smartctl could not open it


def test_missing_vdev_disk_is_left_out(host: Settings) -> None:
    shutil.copy(FIXTURES / "zpool" / "degraded.txt", host.tool_fixtures / "zpool_status_-P_-p")
    for link in (host.devfs / "disk" / "by-id").glob("*TOSHIBA*"):
        link.unlink()
    families, _ = _collect(host)
    kernel_names = {s.labels["kernel_name"] for s in families[1].samples}
    assert "sdb" not in kernel_names and "sda" in kernel_names


def test_datastores_from_datastore_cfg(host: Settings, tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "datastore.cfg").write_text(
        "datastore: store2\n\tpath /mnt/datastore/store2\n\tgc-schedule daily\n")
    families, _ = _collect(dataclasses.replace(host, datastores={}))
    assert {s.labels["datastore"] for s in families[0].samples} == {"store2"}
    assert [s.labels["kernel_name"] for s in families[1].samples] == ["sdd"]


def test_datastore_on_unmapped_device_has_no_disks(host: Settings) -> None:
    settings = dataclasses.replace(host, datastores={"root": Path("/srv/pbs")})
    families, ctx = _collect(settings)
    assert [s.labels["mountpoint"] for s in families[0].samples] == ["/"]
    assert families[1].samples == [] and ctx.failure is None


def test_disk_shared_by_two_datastores_is_read_once(host: Settings) -> None:
    settings = dataclasses.replace(host, datastores={**host.datastores,
                                                     "tank2": Path("/tank/pbs/second")})
    calls: list[str] = []

    class CountingContext(CollectContext):
        def run_tool(self, argv, timeout=20.0):  # type: ignore[no-untyped-def]
            calls.append(argv[-1])
            return super().run_tool(argv, timeout)

    families = list(HardwareCollector().collect(CountingContext(settings)))
    info = [s.labels for s in families[1].samples if s.labels["kernel_name"] == "sda"]
    assert sorted(i["datastore"] for i in info) == ["tank", "tank2"]
    assert calls.count("/dev/sda") == 1 and calls.count("-p") == 1  # one zpool status


def test_smart_health_critical_warning_and_media_errors(host: Settings) -> None:
    """Real captures: a PM1725b whose volatile-memory backup failed (critical_warning 16, SMART
    failed) as the NVMe special vdev, and a SCSI disk with 260 grown defects as sdb."""
    shutil.copy(FIXTURES / "smartctl" / "nvme-samsung-pm1725b-critical-warning.json",
                _smartctl(host, "nvme0n1"))
    shutil.copy(FIXTURES / "smartctl" / "scsi-hdd-seagate-cheetah.json", _smartctl(host, "sdb"))
    families, ctx = _collect(host)
    assert ctx.parse_errors == 0
    healthy = _values(families, "pbs_disk_smart_healthy")
    assert healthy[NVME] == 0.0 and healthy[SDA] == 1.0
    assert SDC not in healthy  # asleep: no fresh verdict, not a failure
    assert _values(families, "pbs_disk_nvme_critical_warning") == {NVME: 16.0}
    media = _values(families, "pbs_disk_media_errors")
    assert media[NVME] == 0.0 and media["ata-TOSHIBA_MG08ACA16TE_X1B0A001FVGG"] == 260.0
    assert _values(families, "pbs_disk_power_on_seconds")[NVME] == 18376 * 3600


def test_sas_disk_in_standby_by_command_is_asleep(host: Settings) -> None:
    shutil.copy(FIXTURES / "smartctl" / "sas-hdd-standby-by-command.json", _smartctl(host, "sdb"))
    families, ctx = _collect(host)
    assert _values(families, "pbs_disk_standby")["ata-TOSHIBA_MG08ACA16TE_X1B0A001FVGG"] == 1.0
    assert ctx.failure is None and ctx.parse_errors == 0
