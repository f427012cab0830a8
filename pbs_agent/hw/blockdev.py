"""Block devices in sysfs and devfs: partitions, stacked devices, by-id names, host controllers.

Every function takes the sysfs or devfs root, so tests run on fixture trees. Names are kernel
names (``sda``, ``sdb1``, ``nvme0n1``, ``dm-0``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_PCI_FUNCTION = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_PARTITION_SUFFIX = re.compile(r"-part\d+$")

#: Host controller driver -> how it presents disks to the OS.
CONTROLLER_MODES = {
    "mpt3sas": "it",
    "mpt2sas": "it",
    "megaraid_sas": "raid",
    "ahci": "direct",
    "nvme": "direct",
    "ata_piix": "direct",
    "isci": "direct",
    "virtio-pci": "virtual",
    "virtio_scsi": "virtual",
    "vmw_pvscsi": "virtual",
}

#: Preference among the by-id names of one disk (first match wins).
_BY_ID_PREFERENCE = (
    re.compile(r"^nvme-(?!eui\.|nvme\.)"),
    re.compile(r"^ata-"),
    re.compile(r"^scsi-S"),
    re.compile(r"^wwn-"),
    re.compile(r"^scsi-"),
    re.compile(r"^nvme-"),
)


def controller_mode(driver: str) -> str:
    """"it", "raid", "direct", "virtual" or "unknown" for a host controller driver.

    >>> controller_mode("mpt3sas"), controller_mode("megaraid_sas"), controller_mode("foo")
    ('it', 'raid', 'unknown')
    """
    return CONTROLLER_MODES.get(driver, "unknown")


def name_of_devnum(sysfs: Path, devnum: str) -> str | None:
    """Kernel name of the block device "major:minor" (``/sys/dev/block/8:17`` -> ``sdb1``)."""
    link = sysfs / "dev" / "block" / devnum
    if not link.exists():
        return None
    return os.path.basename(os.path.realpath(link))


def name_of_devpath(devfs: Path, path: str) -> str | None:
    """Kernel name behind a device path such as ``/dev/disk/by-id/ata-X-part1`` or ``/dev/sdb1``.

    The path is re-rooted under *devfs*; symlinks are followed one level at a time.
    """
    if not path.startswith("/dev/"):
        return None
    node = devfs / path[len("/dev/"):]
    for _ in range(8):
        if not node.is_symlink():
            break
        node = node.parent / os.readlink(node)
    name = os.path.basename(os.path.normpath(node))
    return name or None


def _block_dir(sysfs: Path, name: str) -> Path:
    return sysfs / "class" / "block" / name


def whole_disk(sysfs: Path, name: str) -> str:
    """The disk a partition belongs to (``sdb1`` -> ``sdb``); a disk is its own."""
    entry = _block_dir(sysfs, name)
    if (entry / "partition").exists():
        return os.path.basename(os.path.dirname(os.path.realpath(entry)))
    return name


def leaf_disks(sysfs: Path, name: str, _depth: int = 0) -> list[str]:
    """The physical disks under a block device, through partitions and dm/md ``slaves``."""
    disk = whole_disk(sysfs, name)
    slaves_dir = _block_dir(sysfs, disk) / "slaves"
    slaves = sorted(os.listdir(slaves_dir)) if slaves_dir.is_dir() else []
    if not slaves or _depth > 8:
        return [disk]
    leaves: list[str] = []
    for slave in slaves:
        for leaf in leaf_disks(sysfs, slave, _depth + 1):
            if leaf not in leaves:
                leaves.append(leaf)
    return leaves


def disk_device_dir(sysfs: Path, disk: str) -> Path | None:
    """Resolved ``device`` directory of a disk (SCSI device, or NVMe controller)."""
    link = _block_dir(sysfs, disk) / "device"
    if not link.exists():
        return None
    device = Path(os.path.realpath(link))
    if device.name.startswith("nvme-subsys"):  # native NVMe multipath: pick a controller
        controllers = sorted(p for p in device.iterdir() if re.fullmatch(r"nvme\d+", p.name))
        if controllers:
            device = Path(os.path.realpath(controllers[0]))
    return device


def controller_driver(sysfs: Path, disk: str) -> str | None:
    """Driver of the PCI function that hosts *disk*, found by walking up its device path."""
    device = disk_device_dir(sysfs, disk)
    root = os.path.realpath(sysfs)
    while device is not None and str(device).startswith(root) and device != device.parent:
        driver = device / "driver"
        if _PCI_FUNCTION.match(device.name) and driver.is_symlink():
            return os.path.basename(os.readlink(driver))
        device = device.parent
    return None


def _read_attr(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def sysfs_identity(sysfs: Path, disk: str) -> tuple[str, str]:
    """(model, serial) from sysfs: ``device/model`` (+ ``vendor``) and ``device/serial``."""
    device = disk_device_dir(sysfs, disk)
    if device is None:
        return "", ""
    model = _read_attr(device / "model")
    vendor = _read_attr(device / "vendor")
    if model and vendor and vendor not in ("ATA", "NVMe") and not model.startswith(vendor):
        model = f"{vendor} {model}".strip()
    return model, _read_attr(device / "serial")


class ByIdIndex:
    """The ``/dev/disk/by-id`` names of each disk, read once per collection."""

    def __init__(self, devfs: Path) -> None:
        self._names: dict[str, list[str]] = {}
        by_id = devfs / "disk" / "by-id"
        entries = sorted(os.listdir(by_id)) if by_id.is_dir() else []
        for entry in entries:
            if _PARTITION_SUFFIX.search(entry):
                continue
            target = os.path.basename(os.readlink(by_id / entry)) if (by_id / entry).is_symlink() \
                else ""
            if target:
                self._names.setdefault(target, []).append(entry)

    def name(self, disk: str, hint: str = "") -> str:
        """Stable name of *disk*: *hint* if it is one of its by-id names, else the preferred."""
        names = self._names.get(disk, [])
        if hint in names:
            return hint
        for pattern in _BY_ID_PREFERENCE:
            for name in names:
                if pattern.match(name):
                    return name
        return names[0] if names else disk
