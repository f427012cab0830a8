"""Run commands in a chroot of the image tree inside a private mount namespace.

proc, sysfs and a minimal ``/dev`` (null, zero, full, random, urandom, tty, a fresh devpts, the
``fd``/``stdin``/``stdout``/``stderr`` links) are mounted only inside the namespace, so they
vanish with the command and the host's block devices never appear in the chroot.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from lab.vm.proc import run

_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_ENV = ("DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin")


def _mount_script(root: Path, command: str) -> str:
    r = shlex.quote(str(root))
    lines = [
        "set -e",
        f"mount -t proc proc {r}/proc",
        f"mount -t sysfs sysfs {r}/sys",
        f"mount -t tmpfs -o mode=755,size=16m devtmp {r}/dev",
        f"mkdir -p {r}/dev/pts {r}/dev/shm",
        f"mount -t devpts -o newinstance,ptmxmode=0666 devpts {r}/dev/pts",
        f"ln -s pts/ptmx {r}/dev/ptmx",
        # bash process substitution (dkms uses it) needs /dev/fd
        f"ln -s /proc/self/fd {r}/dev/fd",
        f"ln -s /proc/self/fd/0 {r}/dev/stdin",
        f"ln -s /proc/self/fd/1 {r}/dev/stdout",
        f"ln -s /proc/self/fd/2 {r}/dev/stderr",
        f"mount -t tmpfs tmpfs {r}/dev/shm",
    ]
    for dev in _DEVICES:
        lines += [f"touch {r}/dev/{dev}", f"mount --bind /dev/{dev} {r}/dev/{dev}"]
    lines.append(f"exec chroot {r} /usr/bin/env -i {' '.join(_ENV)} /bin/sh -ec "
                 + shlex.quote(command))
    return "\n".join(lines)


def chroot_sh(root: Path, command: str, *, log: Path, timeout: float = 1800) -> None:
    """Run the shell *command* in *root* (output appended to *log*).

    Example::

        chroot_sh(tree, "apt-get install -y zfs-dkms", log=build_log)
    """
    run(["unshare", "--mount", "--propagation", "private", "--fork", "--",
         "/bin/sh", "-c", _mount_script(root, command)], timeout=timeout, log=log)
