"""A fixture PBS host: sysfs, procfs and devfs trees plus recorded tool outputs.

The host has two datastores:

- ``tank`` at ``/tank/pbs``, a ZFS dataset of pool ``tank``: a mirror of two SATA HDDs (sda,
  sdb) and a spare (sdc, asleep) behind an LSI SAS3008 HBA (mpt3sas), an NVMe special vdev
  (nvme0n1; its hwmon is node_exporter's real capture) and a SATA SSD log (sde, on ahci);
- ``store2`` at ``/mnt/datastore/store2``, ext4 on a partition of a MegaRAID virtual disk
  (sdd, megaraid_sas).

sda and sdc have drivetemp hwmon sensors (sdc's must not be read: the disk sleeps).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pbs_agent.host import Settings

from .ttar import extract

FIXTURES = Path(__file__).parent / "fixtures"
NVME_PCI = "pci0000:00/0000:00:02.1/0000:01:00.0"  # as in node_exporter's hwmon capture
HBA_PCI = "pci0000:00/0000:00:01.0/0000:03:00.0"
AHCI_PCI = "pci0000:00/0000:00:1f.2"
RAID_PCI = "pci0000:00/0000:00:03.0/0000:04:00.0"
DATASTORES = {"tank": Path("/tank/pbs"), "store2": Path("/mnt/datastore/store2")}

#: kernel name -> (SCSI device dir under its PCI function, major:minor, vendor, model, by-id names)
SCSI_DISKS = {
    "sda": (f"{HBA_PCI}/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0", 0, "ATA",
            "ST16000NM001G-2K", ["ata-ST16000NM001G-2KK103_ZL2AAAA1", "wwn-0x5000c500aaaa0001",
                                 "scsi-SATA_ST16000NM001G-2K_ZL2AAAA1"]),
    "sdb": (f"{HBA_PCI}/host0/port-0:1/end_device-0:1/target0:0:1/0:0:1:0", 16, "ATA",
            "TOSHIBA MG08ACA1", ["ata-TOSHIBA_MG08ACA16TE_X1B0A001FVGG",
                                 "wwn-0x5000039b28a00001"]),
    "sdc": (f"{HBA_PCI}/host0/port-0:2/end_device-0:2/target0:0:2/0:0:2:0", 32, "ATA",
            "ST16000NM001G-2K", ["ata-ST16000NM001G-2KK103_ZL2AAAA3"]),
    "sdd": (f"{RAID_PCI}/host2/target2:2:0/2:2:0:0", 48, "DELL", "PERC H730P Mini",
            ["scsi-36d0946606d7fd8002a3b4c5d6e7f8091", "wwn-0x6d0946606d7fd8002a3b4c5d6e7f8091"]),
    "sde": (f"{AHCI_PCI}/ata1/host1/target1:0:0/1:0:0:0", 64, "ATA", "SAMSUNG MZ7LH1T9",
            ["ata-SAMSUNG_MZ7LH1T9HMLT-00005_S455NY0M100001"]),
}
DRIVETEMP = {"sda": ("hwmon11", 31000), "sdc": ("hwmon12", 29000)}
#: kernel name -> recorded smartctl output (real captures, except the MegaRAID one)
SMARTCTL = {
    "sda": "sata-hdd-seagate-exos-x16.json",
    "sdb": "sata-hdd-toshiba-mg08-16t.json",
    "sdc": "sata-hdd-standby-nocheck.json",
    "sdd": "megaraid-virtual-disk-open-failed.json",
    "sde": "sata-ssd-samsung-pm883-wear-leveling.json",
    "nvme0n1": "nvme-intel-p4510-1t-73pct-used.json",
}
MOUNTINFO = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/pbs-root rw,errors=remount-ro
23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
24 22 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
140 22 0:61 / /tank/pbs rw,noatime shared:75 - zfs tank/pbs rw,xattr,posixacl,casesensitive
141 22 8:49 / /mnt/datastore/store2 rw,relatime shared:77 - ext4 /dev/sdd1 rw
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _rel(src: Path, dst: Path) -> str:
    return os.path.relpath(dst, src.parent)


def _driver(sys: Path, pci: str, driver: str) -> None:
    _write(sys / "bus" / "pci" / "drivers" / driver / "new_id", "")
    fn = sys / "devices" / pci
    fn.mkdir(parents=True, exist_ok=True)
    _link(fn / "driver", _rel(fn / "driver", sys / "bus" / "pci" / "drivers" / driver))


def _block(sys: Path, block_dir: Path, name: str, devnum: str,
           parts: list[tuple[str, str]]) -> None:
    """A disk under *block_dir* with its partitions, and the class/block and dev/block links."""
    disk = block_dir / name
    _write(disk / "dev", devnum + "\n")
    _link(sys / "class" / "block" / name, _rel(sys / "class" / "block" / name, disk))
    _link(sys / "dev" / "block" / devnum, _rel(sys / "dev" / "block" / devnum, disk))
    for part, part_devnum in parts:
        _write(disk / part / "partition", part[-1] + "\n")
        _write(disk / part / "dev", part_devnum + "\n")
        _link(sys / "class" / "block" / part, _rel(sys / "class" / "block" / part, disk / part))
        _link(sys / "dev" / "block" / part_devnum,
              _rel(sys / "dev" / "block" / part_devnum, disk / part))


def _scsi_disk(sys: Path, dev: Path, name: str, major_minor: int, vendor: str,
               model: str) -> None:
    device = sys / "devices" / dev
    _write(device / "vendor", f"{vendor:<8}\n")
    _write(device / "model", f"{model:<16}\n")
    _write(sys / "bus" / "scsi" / "drivers" / "sd" / "uevent", "")
    _link(device / "driver", _rel(device / "driver", sys / "bus" / "scsi" / "drivers" / "sd"))
    _block(sys, device / "block", name, f"8:{major_minor}", [(f"{name}1", f"8:{major_minor + 1}")])
    _link(sys / "devices" / dev / "block" / name / "device",
          _rel(sys / "devices" / dev / "block" / name / "device", device))
    if name in DRIVETEMP:
        hwmon, millideg = DRIVETEMP[name]
        _write(device / "hwmon" / hwmon / "name", "drivetemp\n")
        _write(device / "hwmon" / hwmon / "temp1_input", f"{millideg}\n")


def _nvme(sys: Path) -> None:
    ctrl = sys / "devices" / NVME_PCI / "nvme" / "nvme0"
    _write(ctrl / "model", "INTEL SSDPE2KX010T8                     \n")
    _write(ctrl / "serial", "PHLJ000000011P0BGN  \n")
    _block(sys, ctrl, "nvme0n1", "259:0", [("nvme0n1p1", "259:1")])
    _link(ctrl / "nvme0n1" / "device", "../../nvme0")


def _devfs(dev: Path) -> None:
    by_id = dev / "disk" / "by-id"
    for name, (*_, ids) in SCSI_DISKS.items():
        for entry in ids:
            _link(by_id / entry, f"../../{name}")
            _link(by_id / f"{entry}-part1", f"../../{name}1")
    for entry in ("nvme-INTEL_SSDPE2KX010T8_PHLJ000000011P0BGN",
                  "nvme-eui.01000000000000005cd2e4a1b2c3d4e5"):
        _link(by_id / entry, "../../nvme0n1")
        _link(by_id / f"{entry}-part1", "../../nvme0n1p1")
    _write(dev / "ipmi0", "")


def build_host(root: Path, zpool_scenario: str = "online") -> Settings:
    """Create the fixture host under *root*; return Settings pointing at it."""
    sys, proc, dev, tools = root / "sys", root / "proc", root / "dev", root / "tools"
    extract(FIXTURES / "hwmon" / "node-exporter-sys-hwmon-subset.ttar", root)
    for pci, driver in ((HBA_PCI, "mpt3sas"), (NVME_PCI, "nvme"), (AHCI_PCI, "ahci"),
                        (RAID_PCI, "megaraid_sas")):
        _driver(sys, pci, driver)
    for name, (path, minor, vendor, model, _ids) in SCSI_DISKS.items():
        _scsi_disk(sys, Path(path), name, minor, vendor, model)
    _nvme(sys)
    (sys / "module" / "zfs").mkdir(parents=True)
    _write(proc / "1" / "mountinfo", MOUNTINFO)
    _devfs(dev)
    set_tools(tools, zpool_scenario)
    return Settings(sysfs=sys, procfs=proc, devfs=dev, config_dir=root / "etc",
                    datastores=DATASTORES, tool_fixtures=tools)


def set_tools(tools: Path, zpool_scenario: str) -> None:
    """(Re)write the recorded tool outputs: smartctl per disk, ipmitool, one zpool scenario."""
    tools.mkdir(exist_ok=True)
    for disk, capture in SMARTCTL.items():
        shutil.copy(FIXTURES / "smartctl" / capture,
                    tools / f"smartctl_-j_-n_standby_-i_-H_-A_%dev%{disk}")
    shutil.copy(FIXTURES / "ipmitool" / "dell-r730-sdr-temperature.txt",
                tools / "ipmitool_sdr_type_Temperature")
    shutil.copy(FIXTURES / "zpool" / f"{zpool_scenario}.txt", tools / "zpool_status_-P_-p")
