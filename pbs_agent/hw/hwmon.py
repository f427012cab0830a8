"""Disk temperatures from hwmon: the ``nvme`` chip of an NVMe controller, ``drivetemp`` of a
SATA/SAS disk. The hwmon device is found from the block device, so the reading is the disk's.

Kernel layouts: NVMe registers hwmon on the controller (``.../nvme/nvme0/hwmonN``; kernels
5.5–5.x on the PCI function, ``.../0000:01:00.0/hwmon/hwmonN``); drivetemp registers it on the
SCSI device (``.../0:0:0:0/hwmon/hwmonN``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .blockdev import disk_device_dir

DISK_CHIPS = ("nvme", "drivetemp")
_HWMON = re.compile(r"hwmon\d+")


def _candidates(device: Path) -> list[Path]:
    found = []
    for base in (device, device / "hwmon", device.parent.parent / "hwmon"):
        if base.is_dir():
            found += sorted(p for p in base.iterdir() if _HWMON.fullmatch(p.name))
    return found


def disk_hwmon(sysfs: Path, disk: str) -> tuple[Path, str] | None:
    """(hwmon directory, chip name) of *disk* (nvme or drivetemp), if the kernel has one."""
    device = disk_device_dir(sysfs, disk)
    if device is None:
        return None
    for hwmon in _candidates(device):
        try:
            chip = (hwmon / "name").read_text().strip()
        except OSError:
            continue
        if chip in DISK_CHIPS:
            return hwmon, chip
    return None


def read_temperature(hwmon: Path) -> float:
    """``temp1_input`` in °C (NVMe: the Composite sensor). ValueError if malformed."""
    raw = (hwmon / "temp1_input").read_text().strip()
    try:
        millidegrees = int(raw)
    except ValueError:
        raise ValueError(f"{hwmon / 'temp1_input'}: not an integer: {raw[:40]!r}") from None
    celsius = millidegrees / 1000.0
    if not -40.0 <= celsius <= 150.0:
        raise ValueError(f"{hwmon / 'temp1_input'}: implausible {celsius} °C")
    return celsius
