"""The readers behind the collectors: smartctl JSON (real captures), zpool status, mountinfo,
ipmitool, sysfs block devices and hwmon. Malformed input is reported, never a crash."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbs_agent.errors import SourceError
from pbs_agent.hw.blockdev import ByIdIndex, controller_mode, leaf_disks, whole_disk
from pbs_agent.hw.hwmon import disk_hwmon, read_temperature
from pbs_agent.hw.ipmi import inlet_sensors, parse_sdr_temperatures
from pbs_agent.hw.mounts import find_mount, parse_mountinfo
from pbs_agent.hw.smart import parse_smartctl_json
from pbs_agent.hw.zpool import (
    MAX_VDEVS,
    Pool,
    Scan,
    ZpoolStatus,
    parse_count,
    parse_zpool_status,
    parse_zpool_status_json,
)

from .hosttree import FIXTURES
from .ttar import extract

SMART = FIXTURES / "smartctl"

# capture -> (temperature °C, wearout ratio); wear attributes are "life left" percentages.
SMART_EXPECTED = {
    "nvme-intel-p4510-1t-73pct-used": (36, 0.73),
    "nvme-samsung-pm9a1-1t-16pct-used": (29, 0.16),
    "nvme-crucial-p2-250g": (26, 0.0),
    "sata-ssd-intel-s4510-media-wearout": (30, 0.0),      # Media_Wearout_Indicator 100
    "sata-ssd-kingston-a400-life-left": (38, 0.02),       # SSD_Life_Left 98, not Flash_Writes
    "sata-ssd-micron-5300-lifetime-remain": (24, 0.0),    # Percent_Lifetime_Remain 100
    "sata-ssd-samsung-pm883-wear-leveling": (24, 0.01),   # Wear_Leveling_Count 99, not 202
    "sata-ssd-samsung-sm843t-wear-leveling": (27, 0.09),  # Wear_Leveling_Count 91
    "sata-hdd-seagate-exos-x16": (26, None),
    "sata-hdd-hgst-7k4000-exit64": (26, None),
    "sas-hdd-hitachi-600g": (26, None),
}


@pytest.mark.parametrize("capture", sorted(SMART_EXPECTED))
def test_smartctl_captures(capture: str) -> None:
    report = parse_smartctl_json((SMART / f"{capture}.json").read_text())
    temperature, wearout = SMART_EXPECTED[capture]
    assert not report.standby and report.opened
    assert report.temperature_celsius == temperature
    assert report.wearout_ratio == (pytest.approx(wearout) if wearout is not None else None)
    assert report.model


def test_smartctl_standby_capture_has_no_readings() -> None:
    report = parse_smartctl_json((SMART / "sata-hdd-standby-nocheck.json").read_text())
    assert report.standby and report.temperature_celsius is None and report.model is None


# capture -> (healthy, NVMe critical_warning, power-on hours, media errors / grown defects)
SMART_HEALTH = {
    "nvme-samsung-pm1725b-critical-warning": (False, 16, 18376, 0),  # volatile backup failed
    "nvme-intel-p4510-1t-73pct-used": (True, 0, 8843, 0),
    "scsi-hdd-seagate-cheetah": (True, None, 102880 + 59 / 60, 260),  # grown defect list
    "sas-hdd-hitachi-600g": (True, None, 22364 + 52 / 60, 0),
    "sata-hdd-seagate-exos-x16": (True, None, 13114, None),
    "sata-hdd-hgst-7k4000-exit64": (True, None, 83425, None),  # exit 64: error log entries
}


@pytest.mark.parametrize("capture", sorted(SMART_HEALTH))
def test_smartctl_health_errors_and_power_on(capture: str) -> None:
    report = parse_smartctl_json((SMART / f"{capture}.json").read_text())
    healthy, warning, hours, media = SMART_HEALTH[capture]
    assert report.healthy is healthy
    assert report.nvme_critical_warning == warning
    assert report.power_on_seconds == pytest.approx(hours * 3600)
    assert report.media_errors == media


def test_smartctl_failing_exit_bit_without_smart_status() -> None:
    text = '{"smartctl": {"exit_status": 8}, "model_name": "X"}'
    assert parse_smartctl_json(text).healthy is False
    assert parse_smartctl_json('{"smartctl": {"exit_status": 0}}').healthy is None


def test_smartctl_sas_standby_by_command_is_asleep_not_unopened() -> None:
    """scsiprint.cpp's "STANDBY BY COMMAND" (exit 2, the open-failed bit) is a sleeping disk."""
    report = parse_smartctl_json((SMART / "sas-hdd-standby-by-command.json").read_text())
    assert report.standby and report.opened and report.temperature_celsius is None


@pytest.mark.parametrize("mode", ["STANDBY BY TIMER", "STANDBY_Y BY COMMAND", "LOW POWER",
                                  "SLEEP", "STANDBY (OS)"])
def test_smartctl_every_sleeping_power_condition(mode: str) -> None:
    text = ('{"smartctl": {"exit_status": 2, "messages": [{"string": '
            f'"Device is in {mode} mode, exit(2)", "severity": "information"}}]}}}}')
    assert parse_smartctl_json(text).standby


def test_smartctl_standby_from_message_alone() -> None:
    text = ('{"smartctl": {"exit_status": 2, "messages": [{"string": '
            '"Device is in STANDBY mode, exit(2)", "severity": "information"}]}}')
    assert parse_smartctl_json(text).standby


@pytest.mark.parametrize("capture", ["megaraid-virtual-disk-open-failed",
                                     "error-nonexistent-device"])
def test_smartctl_open_failure(capture: str) -> None:
    report = parse_smartctl_json((SMART / f"{capture}.json").read_text())
    assert not report.standby and not report.opened and report.model is None


@pytest.mark.parametrize("text", ["", "{", "[]", '{"device": {}}', '{"smartctl": 3}'])
def test_smartctl_not_smartctl_json(text: str) -> None:
    with pytest.raises(ValueError):
        parse_smartctl_json(text)


def test_smartctl_wrong_types_are_ignored() -> None:
    text = ('{"smartctl": {"exit_status": 0}, "temperature": {"current": "hot"}, '
            '"nvme_smart_health_information_log": {"percentage_used": true}}')
    report = parse_smartctl_json(text)
    assert report.temperature_celsius is None and report.wearout_ratio is None


def test_zpool_status_fixture_trees() -> None:
    problems: list[str] = []
    rpool, tank = parse_zpool_status((FIXTURES / "zpool" / "online.txt").read_text(), problems)
    assert problems == []
    assert (rpool.name, tank.name, tank.state) == ("rpool", "tank", "ONLINE")
    assert [(v.section, v.depth) for v in tank.leaves()] == [
        ("data", 4), ("data", 4), ("special", 2), ("logs", 2), ("spares", 2)]
    assert tank.leaves()[-1].errors is None and tank.leaves()[-1].state == "AVAIL"


def test_zpool_status_missing_device() -> None:
    problems: list[str] = []
    (tank,) = parse_zpool_status((FIXTURES / "zpool" / "degraded.txt").read_text(), problems)
    missing = next(v for v in tank.vdevs if v.state == "UNAVAIL")
    assert missing.former_path.endswith("ata-TOSHIBA_MG08ACA16TE_X1B0A001FVGG-part1")
    assert problems == []


def test_zpool_status_malformed_pieces_are_reported() -> None:
    text = ("garbage before\n  pool: tank\n state: ONLINE\n  scan: frobnicated on Monday\n"
            "config:\n\n\tNAME STATE READ WRITE CKSUM\n\ttank ONLINE 0 x 0\n\tlonely\n\n"
            "errors: something odd\n")
    problems: list[str] = []
    (pool,) = parse_zpool_status(text, problems)
    assert pool.state == "ONLINE" and pool.vdevs == []
    assert len(problems) == 6, problems  # 5 pieces + "config section without a readable row"
    assert "vdevs unknown" in problems[-1]


def _zpool(name: str) -> str:
    return (FIXTURES / "zpool" / name).read_text()


def _states(pool: Pool) -> list[tuple[str, str, str, int]]:
    return [(v.name, v.state, v.section, v.depth) for v in pool.vdevs]


def test_zpool_real_degraded_pool_with_offline_leaf() -> None:
    problems: list[str] = []
    (pool,) = parse_zpool_status(_zpool("smartos-degraded-offline-log.txt"), problems)
    assert problems == []
    assert pool.state == "DEGRADED" and pool.data_errors == 0
    assert _states(pool) == [
        ("zones", "DEGRADED", "data", 0), ("mirror-0", "ONLINE", "data", 2),
        ("c1t1d0s0", "ONLINE", "data", 4), ("c1t0d0s0", "ONLINE", "data", 4),
        ("c1t4d0s1", "ONLINE", "data", 4), ("logs", "", "logs", 0),
        ("c1t2d0s4", "OFFLINE", "logs", 2)]
    assert pool.scans[0].kind == "scrub" and not pool.scans[0].running


def test_zpool_real_linux_offline_leaf_with_an_elided_line() -> None:
    """The poster's "..." is one problem; every real row around it is read."""
    problems: list[str] = []
    (pool,) = parse_zpool_status(_zpool("zol-degraded-replacing-offline.txt"), problems)
    assert len(problems) == 1 and "'...'" in problems[0]
    offline = next(v for v in pool.leaves() if v.state == "OFFLINE")
    assert offline.name == "scsi-3600605b009beb5d01c8f52ab129bbd43"
    assert [v.errors["checksum"] for v in pool.leaves() if v.errors] == [0, 132, 132]
    assert pool.scans[0].kind == "resilver"  # "1,19T": a locale's decimal comma


def test_zpool_real_faulted_leaf_counters() -> None:
    problems: list[str] = []
    (pool,) = parse_zpool_status(_zpool("proxmox-degraded-faulted.txt"), problems)
    faulted = pool.leaves()[1]
    assert problems == [] and faulted.state == "FAULTED" and faulted.note == "too many errors"
    assert faulted.errors == {"read": 1, "write": 29, "checksum": 4}


def test_zpool_json_reads_like_the_text() -> None:
    problems: list[str] = []
    (text,) = parse_zpool_status(_zpool("proxmox-degraded-faulted.txt"), problems)
    (js,) = parse_zpool_status_json(_zpool("json-degraded-faulted-constructed.json"), problems)
    assert problems == []
    assert [(v.name, v.state, v.errors, v.depth > 0) for v in js.vdevs] == [
        (v.name, v.state, v.errors, v.depth > 0) for v in text.vdevs]
    assert [v.name for v in js.leaves()] == [v.name for v in text.leaves()]
    assert (js.state, js.data_errors) == (text.state, text.data_errors)
    assert js.scans == [Scan("resilver", False, 1686581461.0)]


def test_zpool_json_man_page_example() -> None:
    problems: list[str] = []
    (pool,) = parse_zpool_status_json(_zpool("json-zfs23-manpage.json"), problems)
    assert problems == [] and pool.name == "tank" and pool.data_errors == 0
    assert {v.state for v in pool.vdevs if v.state} == {"ONLINE"}  # "HEALTHY" in the example
    assert [v.section for v in pool.leaves()] == ["data"] * 3 + ["dedup"] * 2 + ["special"]


@pytest.mark.parametrize("text", ["", "[]", '{"pools": 3}', "{not json"])
def test_zpool_json_not_zpool_json(text: str) -> None:
    with pytest.raises(ValueError):
        parse_zpool_status_json(text, [])


def test_zpool_status_prefers_json_and_falls_back_for_good() -> None:
    calls: list[list[str]] = []

    def old_zpool(argv: Sequence[str]) -> str:
        calls.append(list(argv))
        if "-j" in argv:
            raise SourceError("zpool", "exit 2: invalid option 'j'\nusage: ...")
        return _zpool("proxmox-degraded-faulted.txt")

    reader = ZpoolStatus()
    for _ in range(2):
        (pool,) = reader.read(old_zpool, [])
        assert pool.name == "local-zfs"
    assert [c[2] for c in calls] == ["-j", "-P", "-P"]  # -j asked once only
    js = _zpool("json-degraded-faulted-constructed.json")
    (pool,) = ZpoolStatus().read(lambda argv: js if "-j" in argv else "", [])
    assert pool.leaves()[1].state == "FAULTED"


def test_zpool_status_unreadable_json_is_reported_and_the_text_read() -> None:
    problems: list[str] = []
    text = _zpool("proxmox-degraded-faulted.txt")
    (pool,) = ZpoolStatus().read(lambda argv: "{garbage" if "-j" in argv else text, problems)
    assert pool.state == "DEGRADED" and len(problems) == 1 and "not JSON" in problems[0]


def test_zpool_config_section_that_cannot_be_read_is_reported() -> None:
    text = "  pool: tank\n state: ONLINE\nconfig:\n\nNAME STATE READ\ntank ONLINE 0 0 0\n"
    problems: list[str] = []
    (pool,) = parse_zpool_status(text, problems)
    assert pool.vdevs == [] and any("vdevs unknown" in p for p in problems)


def test_zpool_vdev_rows_are_bounded() -> None:
    rows = "".join(f"\t    /dev/sd{i}  ONLINE  0 0 0\n" for i in range(MAX_VDEVS + 50))
    text = ("  pool: big\n state: ONLINE\nconfig:\n\n\tNAME STATE READ WRITE CKSUM\n"
            "\tbig ONLINE 0 0 0\n\t  raidz2-0 ONLINE 0 0 0\n" + rows)
    problems: list[str] = []
    (pool,) = parse_zpool_status(text, problems)
    assert len(pool.vdevs) == MAX_VDEVS and len(problems) == 1 and "more than" in problems[0]


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("17", 17), ("1.2K", 1200), ("3M", 3e6)])
def test_zpool_counts(text: str, value: int) -> None:
    assert parse_count(text) == value


def test_no_pools() -> None:
    problems: list[str] = []
    assert parse_zpool_status("", problems) == [] and problems == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("pool:stae \tscanrubdg0123456789.%KMT\n/-")),
               max_size=300))
def test_zpool_status_never_crashes(text: str) -> None:
    parse_zpool_status(text, [])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_ipmitool_and_mountinfo_never_crash(text: str) -> None:
    parse_sdr_temperatures(text, [])
    parse_mountinfo(text, [])


def test_mountinfo_escapes_and_longest_prefix() -> None:
    problems: list[str] = []
    mounts = parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 8:17 / /mnt/back\\040up rw shared:2 - xfs /dev/sdb1 rw\n"
        "3 1 8:33 / /mnt/back rw - ext4 /dev/sdc1 rw\n"
        "4 1 8:49 / /mnt/back rw - ext4 /dev/sdd1 rw\n"
        "broken line\n", problems)
    assert len(problems) == 1
    assert find_mount(mounts, "/mnt/back up/store").source == "/dev/sdb1"
    assert find_mount(mounts, "/mnt/back/store").source == "/dev/sdd1"  # over-mount wins
    assert find_mount(mounts, "/mnt/backup").source == "/dev/sda1"


def _sdr(name: str) -> str:
    return (FIXTURES / "ipmitool" / f"{name}-sdr-temperature.txt").read_text()


@pytest.mark.parametrize(("capture", "inlet"), [
    ("dell-r730", [("Inlet Temp", 23.0, "7.1")]),
    ("dell-r510", [("Ambient Temp", 29.0, "7.1")]),       # the PSU "Ambient Temp"s are ns
    ("intel-bb", [("BB Inlet Temp", 29.0, "7.1")]),
])
def test_ipmitool_real_captures(capture: str, inlet: list[tuple[str, float, str]]) -> None:
    """Real outputs: empty discrete readings and percent sensors are valid, not problems."""
    problems: list[str] = []
    readings = parse_sdr_temperatures(_sdr(capture), problems)
    assert problems == []
    assert [(r.sensor, r.celsius, r.entity) for r in inlet_sensors(readings)] == inlet


def test_ipmitool_air_inlet_entity_wins_over_names() -> None:
    """Entity 55 (0x37) and 64 (0x40) are "Air Inlet" in ipmitool's entity table
    (lib/ipmi_strings.c); lines in ipmitool's sdr_extended format (lib/ipmi_sdr.c)."""
    text = _sdr("dell-r730") + ("Front Panel Temp | 21h | ok  | 55.1 | 24 degrees C\n"
                                "Sys Air Temp     | 22h | unc | 64.1 | 41 degrees C\n")
    readings = parse_sdr_temperatures(text, [])
    assert [(r.sensor, r.entity) for r in inlet_sensors(readings)] == [
        ("Front Panel Temp", "55.1"), ("Sys Air Temp", "64.1")]
    assert readings[-1].celsius == 41.0  # over its threshold (unc) but a reading all the same


def test_ipmitool_component_inlets_are_not_air_inlets() -> None:
    """Names as a MegaRAC SP BMC reports them (home-assistant-ipmi issue #25): the DIMM inlet
    is not the room air; a power supply's "Ambient Temp" (entity 10) neither."""
    text = ("MB_Inlet_TEMP    | 30h | ok  |  7.1 | 21 degrees C\n"
            "MB_Outlet_TEMP   | 31h | ok  |  7.1 | 35 degrees C\n"
            "DIMM_Inlet_TEMP  | 32h | ok  | 32.1 | 20 degrees C\n"
            "Ambient Temp     | 07h | ok  | 10.1 | 33 degrees C\n")
    readings = parse_sdr_temperatures(text, [])
    assert [r.sensor for r in inlet_sensors(readings)] == ["MB_Inlet_TEMP"]


def test_ipmitool_malformed_lines_are_reported() -> None:
    problems: list[str] = []
    text = _sdr("dell-r730") + "Broken line without pipes\nCPU Temp | 01h | ok | 3.1 | hot\n"
    readings = parse_sdr_temperatures(text, problems)
    assert len(readings) == 4 and len(problems) == 2


def test_controller_modes() -> None:
    assert [controller_mode(d) for d in ("mpt3sas", "mpt2sas", "megaraid_sas", "ahci", "nvme",
                                         "hpsa")] == ["it", "it", "raid", "direct", "direct",
                                                      "unknown"]


def test_stacked_block_devices(tmp_path: Path) -> None:
    """dm-0 (LVM) on sdb2 and sdc1 -> physical disks sdb and sdc."""
    devices = tmp_path / "sys" / "devices"
    block = tmp_path / "sys" / "class" / "block"
    block.mkdir(parents=True)
    for disk, part in (("sdb", "sdb2"), ("sdc", "sdc1")):
        (devices / disk / part).mkdir(parents=True)
        (devices / disk / part / "partition").write_text("1\n")
        os.symlink(devices / disk, block / disk)
        os.symlink(devices / disk / part, block / part)
    (devices / "dm-0" / "slaves").mkdir(parents=True)
    os.symlink(devices / "dm-0", block / "dm-0")
    for part in ("sdb2", "sdc1"):
        os.symlink(block / part, devices / "dm-0" / "slaves" / part)
    assert whole_disk(tmp_path / "sys", "sdb2") == "sdb"
    assert leaf_disks(tmp_path / "sys", "dm-0") == ["sdb", "sdc"]


def test_by_id_preference(tmp_path: Path) -> None:
    by_id = tmp_path / "disk" / "by-id"
    by_id.mkdir(parents=True)
    for name, target in (("wwn-0x5000c500aaaa0001", "sda"), ("ata-X_1", "sda"),
                         ("ata-X_1-part1", "sda1"), ("nvme-eui.0100", "nvme0n1"),
                         ("nvme-INTEL_Y_2", "nvme0n1"), ("scsi-35000c500bbbb0001", "sdb"),
                         ("scsi-SSEAGATE_ST600_Z", "sdb")):
        os.symlink(f"../../{target}", by_id / name)
    index = ByIdIndex(tmp_path)
    assert index.name("sda") == "ata-X_1"
    assert index.name("sda", hint="wwn-0x5000c500aaaa0001") == "wwn-0x5000c500aaaa0001"
    assert index.name("nvme0n1") == "nvme-INTEL_Y_2"
    assert index.name("sdb") == "scsi-SSEAGATE_ST600_Z"
    assert index.name("sdz") == "sdz"


def test_nvme_hwmon_in_real_capture_and_older_kernel_layout(tmp_path: Path) -> None:
    extract(FIXTURES / "hwmon" / "node-exporter-sys-hwmon-subset.ttar", tmp_path)
    sys = tmp_path / "sys"
    ctrl = sys / "devices" / "pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0"
    (ctrl / "nvme0n1").mkdir()
    os.symlink("../../nvme0", ctrl / "nvme0n1" / "device")
    (sys / "class" / "block").mkdir()
    os.symlink(ctrl / "nvme0n1", sys / "class" / "block" / "nvme0n1")
    hwmon, chip = disk_hwmon(sys, "nvme0n1")
    assert chip == "nvme" and read_temperature(hwmon) == 43.85
    # kernels 5.5-5.x: hwmon on the PCI function, not on the controller
    (ctrl.parent.parent / "hwmon").mkdir()
    os.rename(ctrl / "hwmon3", ctrl.parent.parent / "hwmon" / "hwmon3")
    hwmon, chip = disk_hwmon(sys, "nvme0n1")
    assert chip == "nvme" and read_temperature(hwmon) == 43.85


@pytest.mark.parametrize("raw", ["abc", "999999999", ""])
def test_hwmon_bad_values(tmp_path: Path, raw: str) -> None:
    (tmp_path / "temp1_input").write_text(raw)
    with pytest.raises(ValueError):
        read_temperature(tmp_path)


def test_smartctl_sas_ssd_endurance_indicator() -> None:
    text = ('{"smartctl": {"exit_status": 0}, "scsi_vendor": "HGST",'
            ' "scsi_product": "HUSMM1640ASS204", "temperature": {"current": 31},'
            ' "scsi_percentage_used_endurance_indicator": 4}')
    report = parse_smartctl_json(text)
    assert report.model == "HGST HUSMM1640ASS204" and report.wearout_ratio == 0.04


def test_zpool_errors_list_unavailable_is_not_malformed() -> None:
    problems: list[str] = []
    text = ("  pool: tank\n state: SUSPENDED\nconfig:\n\n\ttank  UNAVAIL  0 0 0\n\n"
            "errors: List of errors unavailable: pool I/O is currently suspended\n")
    (pool,) = parse_zpool_status(text, problems)
    assert problems == [] and pool.data_errors is None and pool.state == "SUSPENDED"
