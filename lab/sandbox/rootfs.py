"""The Debian root filesystems of the sandbox hosts (12 "bookworm" and 13 "trixie"): each
built once, cached as a tarball.

``debootstrap`` runs once per cache key (about a minute); the result is customised, packed as
``rootfs-<key>.tar.zst`` under the cache dir and unpacked once into a read-only base directory
that every host mounts as the lower layer of its own overlay.  The key hashes the suite, the
mirror, the package list and the customisation code, so changing any of them rebuilds.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import shutil
from pathlib import Path

from deploys.conventions import DEBIAN_RELEASES
from lab.sandbox.config import APT_PROXY_URL, HarnessError, Paths
from lab.sandbox.proc import run

#: Debian releases a sandbox host can run: every release a PBS node may run (one list, in
#: deploys.conventions). Tests that cover a platform are parametrized over all of them, and
#: ``make demo`` boots the default (Debian 13); SUITE is what a host gets when a test names no
#: release: the oldest supported, so the unparametrized tests keep Debian 12 / PBS 3 covered.
SUITES = tuple(release.codename for release in DEBIAN_RELEASES)
SUITE = DEBIAN_RELEASES[0].codename
# The mirror this machine's apt uses too; override for a local mirror (part of the cache key).
MIRROR = os.environ.get("PBS_FLEET_MIRROR", "http://deb.debian.org/debian")
# No libpam-systemd: a per-login `systemd --user` would cost 3 more inotify instances per
# host, and fs.inotify.max_user_instances (128, kernel-wide, for all containers together)
# is what limits how many hosts can run at once (see config.INOTIFY_PER_HOST).
PACKAGES = (
    "ca-certificates", "curl", "dbus", "gnupg", "iproute2", "iputils-ping", "kmod",
    "netcat-openbsd", "nftables", "openssh-server", "procps", "python3", "sudo", "systemd",
    "systemd-sysv",
)
# Units that would only slow the hosts down, touch the network on a timer, or use inotify
# instances for nothing (password agents, the console getty).
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "man-db.timer", "systemd-timesyncd.service", "systemd-networkd-wait-online.service",
    "systemd-ask-password-console.path", "systemd-ask-password-wall.path",
    "console-getty.service",
)


def sources(suite: str) -> str:
    """The deb822 Debian sources of a *suite* host."""
    return f"""\
Types: deb
URIs: {MIRROR}
Suites: {suite} {suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def customise(root: Path, suite: str) -> None:
    """Make a debootstrapped *suite* tree a sandbox base: apt via the host's cache, quiet units."""
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources(suite))
    # Retries: one dropped connection between the cache and the mirror must not fail a test.
    (root / "etc/apt/apt.conf.d/01proxy").write_text(
        f'Acquire::http::Proxy "{APT_PROXY_URL}";\nAcquire::Retries "3";\n')
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/ssh/sshd_config.d/pf-sandbox.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    (root / "etc/machine-id").write_text("")
    (root / "etc/hostname").write_text("pf-base\n")
    run(["chroot", str(root), "apt-get", "clean"])


def cache_key(suite: str = SUITE) -> str:
    """Hash of everything that shapes the tarball."""
    material = "\n".join([suite, MIRROR, *sorted(PACKAGES), *MASKED_UNITS, sources(suite),
                          inspect.getsource(customise)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def tarball_path(paths: Paths, suite: str = SUITE) -> Path:
    return paths.cache / f"rootfs-{suite}-{cache_key(suite)}.tar.zst"


def base_dir(paths: Paths, suite: str = SUITE) -> Path:
    return paths.state / "base" / f"{suite}-{cache_key(suite)}"


def build_tarball(paths: Paths, suite: str = SUITE) -> Path:
    """Run debootstrap and write the cached tarball (skipped when it already exists)."""
    if suite not in SUITES:
        raise HarnessError(f"no sandbox rootfs for Debian {suite!r} (known: {', '.join(SUITES)})")
    tarball = tarball_path(paths, suite)
    if tarball.exists():
        return tarball
    paths.cache.mkdir(parents=True, exist_ok=True)
    work = paths.cache / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
             suite, str(work), MIRROR], timeout=900)
        customise(work, suite)
        partial = tarball.with_suffix(".partial")
        run(["tar", "--numeric-owner", "--xattrs", "-cpf", str(partial),
             "--use-compress-program=zstd -T0 -3", "-C", str(work), "."], timeout=300)
        partial.rename(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def ensure_base(paths: Paths, suite: str = SUITE) -> Path:
    """The unpacked read-only base tree of *suite* for the current key (build/restore as
    needed)."""
    base = base_dir(paths, suite)
    base.parent.mkdir(parents=True, exist_ok=True)
    with open(base.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _prune(paths, suite)
        if (base / ".complete").exists():
            return base
        tarball = build_tarball(paths, suite)
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        run(["tar", "--numeric-owner", "--xattrs", "-xpf", str(tarball),
             "--use-compress-program=zstd -d -T0", "-C", str(base)], timeout=300)
        if not (base / "sbin/init").exists():
            raise HarnessError(f"{tarball}: unpacked tree has no /sbin/init")
        (base / ".complete").touch()
    return base


def _prune(paths: Paths, suite: str) -> None:
    """Delete *suite*'s tarballs and base trees of other keys (a base tree only when no host
    uses it); the other suites' caches stay."""
    for old in paths.cache.glob(f"rootfs-{suite}-*.tar.zst"):
        if old != tarball_path(paths, suite):
            old.unlink()
    mounts = Path("/proc/self/mountinfo").read_text()
    for old in (paths.state / "base").glob(f"{suite}-*"):
        if old != base_dir(paths, suite) and f"lowerdir={old}," not in mounts:
            shutil.rmtree(old)
