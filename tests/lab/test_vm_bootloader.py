"""The VM tier's bootloader picks the guest's newest kernel from a real ext4 disk in qcow2
(exported by qemu-storage-daemon, read by debugfs), as GRUB orders them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.vm.bootloader import newest_kernel
from lab.vm.config import VmError

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/dev/fuse").exists()
    or not all(shutil.which(t) for t in ("qemu-storage-daemon", "qemu-img", "debugfs",
                                         "mkfs.ext4")),
    reason="needs root, /dev/fuse, qemu-storage-daemon, qemu-img, debugfs, mkfs.ext4")


def _disk(tmp_path: Path, files: dict[str, bytes]) -> Path:
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    for name, data in files.items():
        (tree / "boot" / name).write_bytes(data)
    raw = tmp_path / "root.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(raw), "32M"], check=True)
    disk = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk)], check=True)
    return disk


def test_newest_version_with_its_initrd(tmp_path: Path) -> None:
    disk = _disk(tmp_path, {
        "vmlinuz-6.1.0-50-amd64": b"k61-50", "initrd.img-6.1.0-50-amd64": b"i61-50",
        "vmlinuz-6.1.0-9-amd64": b"k61-9", "initrd.img-6.1.0-9-amd64": b"i61-9",
        "vmlinuz-6.12.57+deb13-amd64": b"k612", "initrd.img-6.12.57+deb13-amd64": b"i612",
        # newest by version, but no initrd (a half-installed kernel): not bootable
        "vmlinuz-6.12.99+deb13-amd64": b"half",
    })
    version, kernel, initrd = newest_kernel(disk, tmp_path / "out")
    assert version == "6.12.57+deb13-amd64"
    assert (kernel.read_bytes(), initrd.read_bytes()) == (b"k612", b"i612")


def test_no_kernel_is_an_error_naming_the_disk(tmp_path: Path) -> None:
    disk = _disk(tmp_path, {"config-6.1.0-50-amd64": b"c"})
    with pytest.raises(VmError, match=r"root\.qcow2: no vmlinuz"):
        newest_kernel(disk, tmp_path / "out")


def test_version_order_not_text_order(tmp_path: Path) -> None:
    disk = _disk(tmp_path, {
        "vmlinuz-6.1.0-9-amd64": b"k9", "initrd.img-6.1.0-9-amd64": b"i9",
        "vmlinuz-6.1.0-50-amd64": b"k50", "initrd.img-6.1.0-50-amd64": b"i50",
    })
    assert newest_kernel(disk, tmp_path / "out")[0] == "6.1.0-50-amd64"
