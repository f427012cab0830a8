"""The cached Debian VM image (13 "trixie" by default, 12 "bookworm" on request) with ZFS
prebuilt for the guest kernel.

The release comes from ``$PBS_FLEET_VM_SUITE`` (one of the lab's releases,
:data:`lab.sandbox.rootfs.SUITES`; default :data:`DEFAULT_SUITE`). Each release has its own
cached image. Built once per recipe (about 8–10 min of CPU): ``debootstrap`` of the release
with a kernel, systemd and sshd; then, in a private-mount-namespace chroot of that tree,
``contrib`` plus ``linux-headers-<guest kernel>``, ``zfs-dkms`` and ``zfsutils-linux`` so DKMS
builds ``zfs.ko`` natively for the guest kernel (building inside a TCG guest is far too slow);
finally ``mkfs.ext4 -d`` packs the tree into a raw file (no loop device, no mount) that becomes
``base.qcow2``, and the kernel and initrd are copied out for a direct ``-kernel`` boot.

The cache directory is ``<cache>/vm/<suite>-zfs-<key>/`` where the key hashes the recipe (the
release, this module's source, package list, mirror) and the host's candidate version of
``linux-image-amd64``. On trixie that is OpenZFS 2.3 (``zfs-dkms`` from trixie contrib) built
for the trixie kernel (6.12) against its own ``linux-headers``.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from deploys.conventions import DEFAULT_DEBIAN
from lab.sandbox.rootfs import SUITES
from lab.vm import chroot as chroot_module
from lab.vm.chroot import chroot_sh
from lab.vm.config import Paths, VmError
from lab.vm.proc import run

#: The release the tier boots unless ``$PBS_FLEET_VM_SUITE`` names another of :data:`SUITES`.
DEFAULT_SUITE = DEFAULT_DEBIAN.codename
SUITE_ENV = "PBS_FLEET_VM_SUITE"
MIRROR = "http://deb.debian.org/debian"
ROOT_LABEL = "pfroot"
IMAGE_SIZE = "10G"
DEPLOY_USER = "deploy"
# debootstrap's own resolver ignores virtual packages, so it gets only the boot essentials;
# everything else is installed by apt in the chroot. e2fsprogs is named because trixie's
# minbase lacks it (Priority: important since Debian 13), and the ext4 root needs fsck.ext4.
PACKAGES = (
    "linux-image-amd64", "systemd-sysv", "udev", "dbus", "libpam-systemd", "openssh-server",
    "sudo", "iproute2", "nftables", "procps", "kmod", "python3", "ca-certificates", "e2fsprogs",
)
APT_PACKAGES = (
    "apt-utils", "iputils-ping", "netcat-openbsd", "less", "curl", "gnupg", "fdisk",
    # what the deploy installs anyway: present so converged runs are quick under TCG
    "smartmontools", "prometheus-node-exporter",
    # the agent's Debian dependencies
    "python3-zstandard", "python3-prometheus-client", "python3-cryptography", "python3-numpy",
    "python3-bcrypt",
)
ZFS_PACKAGES = ("zfs-dkms", "zfsutils-linux")
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "man-db.timer", "systemd-networkd-wait-online.service",
)


def sources(suite: str) -> str:
    """The guest's deb822 Debian sources: main and contrib (zfs-dkms lives in contrib)."""
    return f"""\
Types: deb
URIs: {MIRROR}
Suites: {suite} {suite}-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {suite}-security
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def vm_suite(suite: str | None = None) -> str:
    """*suite*, else ``$PBS_FLEET_VM_SUITE``, else :data:`DEFAULT_SUITE`; checked against
    the lab's releases.

    Example::

        vm_suite()            # "trixie" unless PBS_FLEET_VM_SUITE=bookworm
    """
    chosen = suite or os.environ.get(SUITE_ENV) or DEFAULT_SUITE
    if chosen not in SUITES:
        raise VmError(f"no VM image for Debian {chosen!r} ({SUITE_ENV}): "
                      f"choose one of {', '.join(SUITES)}")
    return chosen

NETWORK = "[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n"


@dataclass(frozen=True)
class Image:
    """A built image: the base disk, the kernel/initrd to boot and the SSH key baked in."""

    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def ssh_key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def manifest(self) -> dict[str, str]:
        manifest: dict[str, str] = json.loads((self.directory / "manifest.json").read_text())
        return manifest


def _candidate_kernel() -> str:
    """Host apt's candidate for linux-image-amd64 ('' when unknown): a new kernel rebuilds."""
    result = run(["apt-cache", "policy", "linux-image-amd64"], check=False)
    for line in result.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    return ""


def cache_key(suite: str) -> str:
    """Hash of everything that shapes the *suite* image."""
    material = "\n".join([suite, MIRROR, *PACKAGES, *APT_PACKAGES, *ZFS_PACKAGES,
                          *MASKED_UNITS, sources(suite), NETWORK, _candidate_kernel(),
                          inspect.getsource(configure), inspect.getsource(provision),
                          inspect.getsource(chroot_module)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def configure(root: Path, suite: str) -> None:
    """Make the debootstrapped *suite* tree bootable and reachable: fstab, network, users, ssh."""
    etc = root / "etc"
    (etc / "fstab").write_text(f"LABEL={ROOT_LABEL} / ext4 errors=remount-ro 0 1\n")
    (etc / "hostname").write_text("pf-vm\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 pf-vm\n")
    (etc / "machine-id").write_text("")
    (etc / "apt/sources.list").unlink(missing_ok=True)
    (etc / "apt/sources.list.d/debian.sources").write_text(sources(suite))
    (etc / "systemd/network/10-en.network").write_text(NETWORK)
    resolv = etc / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("nameserver 10.0.2.3\n")
    for unit in MASKED_UNITS:
        link = etc / "systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (etc / "ssh/sshd_config.d/pf-vm.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    (etc / f"sudoers.d/{DEPLOY_USER}").write_text(f"{DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL\n")
    (etc / f"sudoers.d/{DEPLOY_USER}").chmod(0o440)


def provision(root: Path, kernel: str, log: Path) -> None:
    """In the chroot: the deploy user, networkd, headers for *kernel*, zfs-dkms built for it."""
    chroot_sh(root, " && ".join([
        f"useradd --create-home --shell /bin/bash {DEPLOY_USER}",
        "systemctl enable systemd-networkd ssh",
        "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends " + " ".join(APT_PACKAGES),
        f"apt-get install -y -q --no-install-recommends linux-headers-{kernel} dkms",
        "apt-get install -y -q --no-install-recommends " + " ".join(ZFS_PACKAGES),
        f"dkms autoinstall -k {kernel}",
        f"modinfo -k {kernel} -F version zfs",
        "apt-get clean",
        "rm -f /usr/sbin/policy-rc.d",
    ]), log=log, timeout=3600)


def _authorize(root: Path, public_key: str) -> None:
    """Install *public_key* for root and the deploy user (uid/gid read from the tree)."""
    for home, owner in ((root / "root", "root"), (root / "home" / DEPLOY_USER, DEPLOY_USER)):
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(public_key)
        (ssh / "authorized_keys").chmod(0o600)
        uid, gid = _ids(root, owner)
        for path in (ssh, ssh / "authorized_keys"):
            os.chown(path, uid, gid)


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise VmError(f"image tree: user {user!r} not in /etc/passwd")


def _guest_kernel(root: Path) -> str:
    kernels = sorted(p.name for p in (root / "lib/modules").iterdir())
    if len(kernels) != 1:
        raise VmError(f"image tree: expected one kernel in /lib/modules, found {kernels}")
    return kernels[0]


def _package_version(root: Path, package: str) -> str:
    status = (root / "var/lib/dpkg/status").read_text()
    for block in status.split("\n\n"):
        if f"Package: {package}\n" in block + "\n":
            for line in block.splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    raise VmError(f"image tree: package {package} not installed")


def _pack(root: Path, out: Path, kernel: str, log: Path) -> None:
    shutil.copyfile(root / f"boot/vmlinuz-{kernel}", out / "vmlinuz")
    shutil.copyfile(root / f"boot/initrd.img-{kernel}", out / "initrd.img")
    raw = out / "base.raw"
    run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", root, raw, IMAGE_SIZE],
        log=log, timeout=600)
    run(["qemu-img", "convert", "-O", "qcow2", raw, out / "base.qcow2"], log=log, timeout=600)
    raw.unlink()


def build(directory: Path, log: Path, suite: str) -> None:
    """Build the *suite* image into *directory* (which must not exist yet)."""
    work = directory.with_name(directory.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / "root"
    started = time.monotonic()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pbs-fleet-vm",
         "-f", work / "id_ed25519"])
    public_key = (work / "id_ed25519.pub").read_text()
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), suite, tree,
         MIRROR], log=log, timeout=2400)
    configure(tree, suite)
    kernel = _guest_kernel(tree)
    provision(tree, kernel, log)
    _authorize(tree, public_key)
    _pack(tree, work, kernel, log)
    manifest = {"kernel": kernel, "zfs": _package_version(tree, "zfs-dkms"),
                "suite": suite, "key": directory.name,
                "build_seconds": f"{time.monotonic() - started:.1f}"}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(tree)
    work.rename(directory)


def ensure_image(paths: Paths, *, suite: str | None = None, rebuild: bool = False) -> Image:
    """The cached image of *suite* (default :func:`vm_suite`) for the current recipe, built
    first when missing (locked)."""
    suite = vm_suite(suite)
    paths.cache.mkdir(parents=True, exist_ok=True)
    directory = paths.cache / f"{suite}-zfs-{cache_key(suite)}"
    with open(paths.cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if rebuild:
            shutil.rmtree(directory, ignore_errors=True)
        if not (directory / "manifest.json").exists():
            build(directory, paths.cache / f"build-{directory.name}.log", suite)
    return Image(directory)
