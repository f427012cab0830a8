"""The VM tier's bootloader: after a reboot from inside, boot the newest kernel installed in
the guest, as GRUB's default entry does on a real Debian host.

The tier boots QEMU's ``-kernel``/``-initrd`` (the image's root disk has no partition table
and no bootloader), so a guest that installs a new kernel (the Debian 12 → 13 upgrade) would
come back on the old one. With ``Machine(reboot_exits=True)`` a reboot ends QEMU instead;
:class:`KernelFollower` then reads ``/boot`` of the stopped guest's disk (its qcow2 overlay
exported read-only as a raw file by ``qemu-storage-daemon``'s FUSE export, read with
``debugfs``), takes the highest ``vmlinuz-<version>`` that has its ``initrd.img-<version>``
(version order as ``sort -V``, which is how GRUB's ``10_linux`` orders them) and starts QEMU
again on it, same disks, same forwarded ports.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab.vm.config import VmError
from lab.vm.machine import Machine
from lab.vm.proc import run

EXPORT_SECONDS = 30.0


@contextmanager
def raw_view(disk: Path) -> Iterator[Path]:
    """*disk* (qcow2, with its backing chain) as a read-only raw file, while in the block."""
    with tempfile.TemporaryDirectory(prefix="pf-vm-boot-") as tmp:
        view, pidfile = Path(tmp) / "raw", Path(tmp) / "qsd.pid"
        view.touch()
        run(["qemu-storage-daemon",
             "--blockdev", f"driver=file,node-name=file,filename={disk},read-only=on",
             "--blockdev", "driver=qcow2,node-name=disk,file=file,read-only=on",
             "--export", f"type=fuse,id=view,node-name=disk,mountpoint={view},writable=off",
             "--daemonize", "--pidfile", pidfile], timeout=EXPORT_SECONDS)
        try:
            yield view
        finally:
            pid = int(pidfile.read_text())
            run(["kill", str(pid)], check=False)
            deadline = time.monotonic() + EXPORT_SECONDS
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)


def _debugfs(view: Path, request: str) -> str:
    result = run(["debugfs", "-c", "-R", request, view], timeout=120)
    return result.stdout


def newest_kernel(disk: Path, out: Path) -> tuple[str, Path, Path]:
    """(version, kernel, initrd) of the newest kernel in ``/boot`` of the ext4 root *disk*,
    copied into *out*.

    Example::

        version, kernel, initrd = newest_kernel(run_dir / "root.qcow2", run_dir / "boot")
        # "6.12.57+deb13-amd64", run_dir/boot/vmlinuz-6.12.57+deb13-amd64, …
    """
    out.mkdir(parents=True, exist_ok=True)
    with raw_view(disk) as view:
        names = set(re.findall(r"(\S+)\s*$", _debugfs(view, "ls -l /boot"), re.M))
        versions = [n.removeprefix("vmlinuz-") for n in names
                    if n.startswith("vmlinuz-") and f"initrd.img-{n[8:]}" in names]
        if not versions:
            raise VmError(f"{disk}: no vmlinuz-*/initrd.img-* pair in /boot")
        ordered = subprocess.run(["sort", "-V"], input="\n".join(versions) + "\n",
                                 capture_output=True, text=True, check=True).stdout.split()
        version = ordered[-1]
        kernel, initrd = out / f"vmlinuz-{version}", out / f"initrd.img-{version}"
        for name, target in ((f"vmlinuz-{version}", kernel), (f"initrd.img-{version}", initrd)):
            target.unlink(missing_ok=True)
            _debugfs(view, f"dump /boot/{name} {target}")
            if not target.is_file() or target.stat().st_size == 0:
                raise VmError(f"{disk}: could not copy /boot/{name} out of the guest's disk")
    return version, kernel, initrd


@dataclass
class Boot:
    """One boot the follower made: when QEMU ended, when it started again, on what."""

    exited: float
    started: float
    version: str


@dataclass
class KernelFollower:
    """While running, restarts *machine* (``reboot_exits=True``) on the guest's newest kernel
    each time a reboot ends QEMU; ``boots`` lists those restarts.

    Example::

        with KernelFollower(vm) as follower:
            run_deploy(vm, deploy="upgrade.py")   # its reboot comes back on the new kernel
        follower.boots[-1].version
    """

    machine: Machine
    boots: list[Boot] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> KernelFollower:
        if not self.machine.reboot_exits:
            raise VmError("KernelFollower needs Machine(reboot_exits=True)")
        # The thread launches QEMU again: it lives until the machine is stopped, so the
        # parent-death signal QEMU gets (tied to the launching thread) means "harness gone".
        self._thread = threading.Thread(target=self._watch, name="pf-vm-bootloader",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                if self.machine.exited():
                    exited = time.monotonic()
                    if self._stop.is_set():
                        return
                    self._boot_newest(exited)
                    # stay alive while this QEMU runs (see __enter__)
                self._stop.wait(0.5)
            while not self.machine.exited() and self.machine.process is not None:
                time.sleep(0.5)
        except BaseException as exc:  # reported by check(); the deploy then times out
            self.error = exc

    def _boot_newest(self, exited: float) -> None:
        m = self.machine
        version, m.kernel, m.initrd = newest_kernel(m.directory / "root.qcow2",
                                                    m.directory / "boot")
        m.relaunch()
        self.boots.append(Boot(exited=exited, started=time.monotonic(), version=version))

    def check(self) -> None:
        """Raise what went wrong in the follower's thread, if anything."""
        if self.error is not None:
            raise VmError(f"bootloader: {self.error}") from self.error

