"""A real removable device for tests: an ext4 filesystem on a loop device (needs root).

There is no udev here, so the ``/dev/disk/by-uuid/<uuid>`` link PBS looks up is made below a
test root (``<root>/dev/disk/by-uuid``), which the proxmox-backup-manager SIMULATOR and the
agent are pointed at. The filesystem, the loop device and the mounts are real.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Device:
    node: str  # /dev/loopN
    uuid: str


def available() -> str | None:
    """None if a loop device can be made here, else why not."""
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control"
    for tool in ("losetup", "mkfs.ext4", "blkid"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return f"{tool} not installed"
    return None


@contextlib.contextmanager
def loop_ext4(image: Path, root: Path, size_mib: int = 32) -> Iterator[Device]:
    """An ext4 image on a loop device, linked as ``<root>/dev/disk/by-uuid/<uuid>``; every
    mount below *root* and the loop device are released on exit."""
    with image.open("wb") as handle:
        handle.truncate(size_mib << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    node = subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                          capture_output=True, text=True).stdout.strip()
    try:
        uuid = subprocess.run(["blkid", "-s", "UUID", "-o", "value", node], check=True,
                              capture_output=True, text=True).stdout.strip()
        links = root / "dev/disk/by-uuid"
        links.mkdir(parents=True, exist_ok=True)
        (links / uuid).symlink_to(node)
        yield Device(node, uuid)
    finally:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split(" ")[4]
            if point.startswith(str(root) + "/"):
                subprocess.run(["umount", "-l", point], capture_output=True)
        subprocess.run(["losetup", "-d", node], capture_output=True)
