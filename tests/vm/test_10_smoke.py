"""The tier itself: the guest runs the image's kernel, sees its disks, and ZFS works by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.vm import DISK_SERIALS, Image, Machine, Shell
from lab.vm.image import vm_suite
from tests.vm.disks import OTHER_POOL, POOLED, dev, prepare_used_disks

pytestmark = pytest.mark.vm


def test_guest_runs_the_requested_release(guest: Shell, vm_image: Image) -> None:
    """The guest is the Debian release asked for ($PBS_FLEET_VM_SUITE, default trixie)."""
    assert vm_image.manifest["suite"] == vm_suite()
    os_release = guest.check(". /etc/os-release && echo $VERSION_CODENAME").strip()
    assert os_release == vm_suite()


def test_guest_runs_the_image_kernel_with_systemd(guest: Shell, vm_image: Image) -> None:
    assert guest.check("uname -r").strip() == vm_image.manifest["kernel"]
    assert guest.run("systemctl is-system-running").stdout.strip() == "running"
    assert guest.check("cat /proc/1/comm").strip() == "systemd"


def test_data_disks_appear_by_id_and_blank(guest: Shell) -> None:
    for serial in DISK_SERIALS:
        target = guest.check(f"readlink -f {dev(serial)}").strip()
        assert target.startswith("/dev/vd"), (serial, target)
        assert target != "/dev/vda", "a data disk must never be the root disk"
    # Before anything touches them the deploy's disks carry no signature at all.
    for serial in DISK_SERIALS[:4]:
        assert guest.run(f"blkid -p {dev(serial)}").status == 2, serial


def test_zfs_module_and_pool_by_hand(guest: Shell, vm_image: Image) -> None:
    guest.check("modprobe zfs")
    version = guest.check("cat /sys/module/zfs/version").strip()
    assert version in vm_image.manifest["zfs"]
    if vm_image.manifest["suite"] == "trixie":
        assert version.startswith("2.3"), f"Debian 13 ships OpenZFS 2.3, the guest runs {version}"
    prepare_used_disks(guest)
    assert guest.check(f"zpool get -H -o value ashift {OTHER_POOL}").strip() == "12"
    assert guest.check(f"zpool list -H -o health {OTHER_POOL}").strip() == "ONLINE"
    status = guest.check(f"zpool status -P {OTHER_POOL}")
    assert "mirror-0" in status
    for serial in POOLED:
        assert dev(serial) in status


def _listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) listening on *port* on this machine."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(address)
    return found


def test_forwards_listen_on_loopback_only(vm: Machine) -> None:
    for guest_port, host_port in vm.ports.items():
        assert _listeners(host_port) == {"0100007F"}, (guest_port, host_port)
