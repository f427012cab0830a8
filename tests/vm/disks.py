"""The safety matrix's used disks, made by hand in the guest, and their checksums."""

from __future__ import annotations

from lab.vm import Shell

BY_ID = "/dev/disk/by-id/virtio-"
PARTED, EXT4, POOLED = "pfparted", "pfext4", ("pfpooled0", "pfpooled1")
OTHER_POOL = "pfother"


def dev(serial: str) -> str:
    return BY_ID + serial


def prepare_used_disks(shell: Shell) -> None:
    """A GPT with one partition, an ext4 with a file, a mirror pool (each only if missing)."""
    if shell.run(f"blkid -p {dev(PARTED)}").status != 0:
        shell.check(f"echo 'label: gpt' | sfdisk -q {dev(PARTED)} && "
                    f"echo ',64M' | sfdisk -q --append {dev(PARTED)} && udevadm settle")
    if shell.run(f"blkid -p -s TYPE {dev(EXT4)}").status != 0:
        shell.check(f"mkfs.ext4 -q -L pfdata {dev(EXT4)} && mkdir -p /mnt/pfext4 && "
                    f"mount {dev(EXT4)} /mnt/pfext4 && echo precious >/mnt/pfext4/keep && "
                    "umount /mnt/pfext4")
    if shell.run(f"zpool list -H {OTHER_POOL}").status != 0:
        shell.check("modprobe zfs && zpool create -o ashift=12 " + OTHER_POOL + " mirror "
                    + " ".join(dev(s) for s in POOLED))
        shell.check(f"zpool sync {OTHER_POOL}")


def checksum(shell: Shell, serial: str) -> str:
    """sha256 of the whole disk (160 MiB: seconds under TCG)."""
    return shell.check(f"sha256sum {dev(serial)}", timeout=600).split()[0]
