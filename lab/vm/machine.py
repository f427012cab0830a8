"""One QEMU guest booted from the cached image: overlay root, blank data disks, SSH forward.

Every run gets its own directory with a throwaway qcow2 overlay on the base image, blank
qcow2 data disks (``serial=`` so they show up as ``/dev/disk/by-id/virtio-<serial>``), the
serial console log, QEMU's own log, a monitor socket and a pid file.  Networking is QEMU's
user mode: no bridge, no tap, no NAT rule on this machine; ``hostfwd`` binds only 127.0.0.1.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from lab.vm.config import VmError
from lab.vm.image import Image
from lab.vm.proc import run
from lab.vm.ssh import Shell, wait_for_ssh

MEMORY_MIB = 2048
CPUS = 2
SSH_TIMEOUT = 420.0
KVM_PROBE_SECONDS = 20.0
TCG = ["-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max"]
KVM = ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
PR_SET_PDEATHSIG = 1
#: How to reach the running guest (read by inventories/vm.py): ssh host, port, key, ports.
CONNECTION = "connection.json"
# The tier's data disks: a mirror and a special mirror for the deploy's pool, then the safety
# matrix's used disks (a partition table, an ext4 filesystem, two members of another pool).
DISK_SERIALS = ("pfmirror0", "pfmirror1", "pfspecial0", "pfspecial1",
                "pfparted", "pfext4", "pfpooled0", "pfpooled1")
#: The safety matrix's disks are small so hashing them whole under TCG takes seconds.
SMALL_DISKS = {"pfparted": "160M", "pfext4": "160M", "pfpooled0": "160M", "pfpooled1": "160M"}


def disk_serials(count: int) -> tuple[str, ...]:
    """The first *count* serials of the standard layout (``virtio-<serial>`` in the guest)."""
    if not 1 <= count <= len(DISK_SERIALS):
        raise VmError(f"disks: {count} outside 1..{len(DISK_SERIALS)}")
    return DISK_SERIALS[:count]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec hook: QEMU gets SIGKILL when the process that started it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Machine:
    """A guest with *disks* (serials), forwarding guest ports to 127.0.0.1.

    Each disk has *disk_size*, or its size in :data:`SMALL_DISKS`.

    Example::

        vm = Machine(image, run_dir, disks=["pfmirror0", "pfmirror1"])
        vm.start()
        vm.shell().check("modprobe zfs")
        vm.stop()
    """

    image: Image
    directory: Path
    disks: Sequence[str]
    disk_size: str = "1G"
    guest_ports: Sequence[int] = (22, 8007)
    accel: str = "auto"
    tie_to_parent: bool = True
    #: Boot these instead of the image's kernel and initrd (see :mod:`lab.vm.bootloader`).
    kernel: Path | None = None
    initrd: Path | None = None
    #: QEMU's ``-no-reboot``: a reboot from inside ends QEMU, so :mod:`lab.vm.bootloader` can
    #: start it again on the newest kernel installed in the guest.
    reboot_exits: bool = False
    ports: dict[int, int] = field(default_factory=dict)
    used_accel: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"

    @property
    def ssh_port(self) -> int:
        return self.ports[22]

    @classmethod
    def attach(cls, image: Image, directory: Path) -> Machine:
        """The guest a detached start left in *directory* (its pid and ports from files)."""
        machine = cls(image, directory, disks=())
        connection = directory / CONNECTION
        if connection.exists():
            ports = json.loads(connection.read_text())["ports"]
            machine.ports = {int(guest): host for guest, host in ports.items()}
        return machine

    def prepare(self) -> None:
        """Create the overlay and the blank data disks (fresh every time)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        overlay = self.directory / "root.qcow2"
        overlay.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", self.image.disk,
             overlay])
        for serial in self.disks:
            disk = self.directory / f"{serial}.qcow2"
            disk.unlink(missing_ok=True)
            run(["qemu-img", "create", "-q", "-f", "qcow2", disk,
                 SMALL_DISKS.get(serial, self.disk_size)])

    def _argv(self, accel: list[str]) -> list[str]:
        d = self.directory
        argv = ["qemu-system-x86_64", "-name", f"pbs-fleet-vm,process=pbs-fleet-vm-{d.name}",
                *accel, "-m", str(MEMORY_MIB), "-smp", str(CPUS), "-display", "none",
                "-kernel", str(self.kernel or self.image.kernel),
                "-initrd", str(self.initrd or self.image.initrd),
                "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=1",
                "-drive", f"if=none,id=root,file={d / 'root.qcow2'},format=qcow2,cache=unsafe",
                "-device", "virtio-blk-pci,drive=root,serial=pfroot"]
        for index, serial in enumerate(self.disks):
            argv += ["-drive", f"if=none,id=d{index},file={d / (serial + '.qcow2')},format=qcow2",
                     "-device", f"virtio-blk-pci,drive=d{index},serial={serial}"]
        forwards = ",".join(f"hostfwd=tcp:127.0.0.1:{host}-:{guest}"
                            for guest, host in self.ports.items())
        argv += ["-nic", f"user,model=virtio-net-pci,{forwards}",
                 "-serial", f"file:{self.console_log}",
                 "-monitor", f"unix:{d / 'monitor.sock'},server,nowait",
                 "-pidfile", str(d / "qemu.pid")]
        if self.reboot_exits:
            argv.append("-no-reboot")
        return argv

    def _launch(self, accel: list[str], keep_ports: bool = False) -> None:
        if self.console_log.exists():
            with open(self.directory / "console-earlier.log", "ab") as earlier:
                earlier.write(self.console_log.read_bytes())
            self.console_log.unlink()
        if not keep_ports:
            self.ports = {guest: free_port() for guest in self.guest_ports}
        with open(self.directory / "qemu.log", "ab") as log:
            self.process = subprocess.Popen(
                self._argv(accel), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.tie_to_parent else None)
        (self.directory / CONNECTION).write_text(json.dumps({
            "ssh_hostname": "127.0.0.1", "ssh_port": self.ports[22],
            "ssh_key": str(self.image.ssh_key), "ports": self.ports}, indent=2) + "\n")

    def alive(self) -> bool:
        """QEMU is running (started here, or found through the pid file)."""
        return self._pid() is not None

    def _kernel_started(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.alive():
            if self.console_log.exists() and b"Linux version" in self.console_log.read_bytes():
                return True
            time.sleep(0.5)
        return False

    def _boot(self) -> None:
        """Start QEMU: KVM when asked or when a short probe shows the kernel running, else TCG."""
        if self.accel in ("auto", "kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK) \
                and _kvm_verdict(self.image) != "unusable":
            self._launch(KVM)
            if self._kernel_started(KVM_PROBE_SECONDS):
                self.used_accel = "kvm"
                return
            self._kill()
            _record_kvm_verdict(self.image, "unusable")
            if self.accel == "kvm":
                raise VmError(f"KVM: no kernel output within {KVM_PROBE_SECONDS:.0f} s "
                              f"(see {self.directory / 'qemu.log'})")
        self._launch(TCG)
        self.used_accel = "tcg"

    def start(self) -> float:
        """Boot and wait until SSH answers and systemd has finished booting; seconds taken."""
        started = time.monotonic()
        self._boot()
        with self.wait_ssh(started + SSH_TIMEOUT) as shell:
            shell.run("systemctl is-system-running --wait", timeout=SSH_TIMEOUT)
        return time.monotonic() - started

    def exited(self) -> bool:
        """QEMU, started here, has ended (the guest powered off, or rebooted with
        *reboot_exits*)."""
        return self.process is not None and self.process.poll() is not None

    def relaunch(self) -> None:
        """Start QEMU again after it ended, with the same accelerator, disks and host ports
        (an SSH client waiting on the forwarded port reconnects as to a rebooted host)."""
        if not self.exited():
            raise VmError("relaunch: QEMU is still running")
        self._launch(KVM if self.used_accel == "kvm" else TCG, keep_ports=True)

    def wait_ssh(self, deadline: float) -> Shell:
        try:
            return wait_for_ssh("127.0.0.1", self.ssh_port, self.image.ssh_key, deadline,
                                self.alive)
        except VmError as exc:
            raise VmError(f"{exc}; console tail: {self.console_tail()}") from exc

    def shell(self, user: str = "root") -> Shell:
        """A new SSH connection to the running guest."""
        return Shell.connect("127.0.0.1", self.ssh_port, self.image.ssh_key, user=user)

    def reboot(self) -> float:
        """Reboot the guest from inside and wait for it again; seconds taken."""
        started = time.monotonic()
        with self.shell() as shell:
            boot_id = shell.check("cat /proc/sys/kernel/random/boot_id").strip()
            # Scheduled a second ahead so this SSH command returns before sshd goes down.
            shell.check("systemd-run --on-active=1 systemctl reboot", timeout=30)
        deadline = started + SSH_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(3)
            try:
                with self.wait_ssh(deadline) as shell:
                    if shell.check("cat /proc/sys/kernel/random/boot_id").strip() != boot_id:
                        shell.run("systemctl is-system-running --wait", timeout=SSH_TIMEOUT)
                        return time.monotonic() - started
            except (VmError, OSError, EOFError):
                continue
        raise VmError(f"guest did not come back from reboot; console: {self.console_tail()}")

    def console_tail(self, chars: int = 1500) -> str:
        if not self.console_log.exists():
            return "(no console output)"
        return self.console_log.read_text(errors="replace")[-chars:]

    def _monitor(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.directory / "monitor.sock"))
            sock.sendall(command.encode() + b"\n")

    def _pid(self) -> int | None:
        """QEMU's pid: our child, or the one named by the pid file (a detached start)."""
        if self.process is not None:
            return self.process.pid if self.process.poll() is None else None
        try:
            pid = int((self.directory / "qemu.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"pbs-fleet-vm" in cmdline else None

    def _wait_gone(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None:
                if self.process.poll() is not None:
                    return True
            elif not Path(f"/proc/{pid}").exists():
                return True
            time.sleep(0.2)
        return False

    def _kill(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(pid, 10):
                os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid, 10)
        self.process = None

    def _request_poweroff(self) -> None:
        """Ask the guest to power off: over SSH, else ACPI (the guest may ignore that)."""
        try:
            with Shell.connect("127.0.0.1", self.ssh_port, self.image.ssh_key, timeout=5) as sh:
                sh.run("systemd-run --on-active=1 systemctl poweroff", timeout=10)
        except (VmError, OSError, EOFError, KeyError, paramiko.SSHException):
            self._monitor("system_powerdown")

    def stop(self, grace: float = 30) -> None:
        """Power off (SSH, else ACPI), then SIGTERM/SIGKILL; remove disks; check nothing left."""
        pid = self._pid()
        if pid is not None:
            try:
                self._request_poweroff()
                self._wait_gone(pid, grace)
            except OSError:
                pass
        self._kill()
        for path in self.directory.glob("*.qcow2"):
            path.unlink()
        for name in ("monitor.sock", "qemu.pid", CONNECTION):
            (self.directory / name).unlink(missing_ok=True)
        self._check_gone(pid)

    def _check_gone(self, pid: int | None) -> None:
        """Raise :class:`VmError` if QEMU or one of its forwarded ports outlived the stop."""
        if pid is not None and Path(f"/proc/{pid}").exists() \
                and b"pbs-fleet-vm" in Path(f"/proc/{pid}/cmdline").read_bytes():
            raise VmError(f"QEMU pid {pid} still running after stop")
        for port in self.ports.values():
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise VmError(f"127.0.0.1:{port} still accepts connections after stop")


def _verdict_file(image: Image) -> Path:
    return image.directory / "kvm-verdict.json"


def _kvm_verdict(image: Image) -> str:
    """What an earlier probe found for this image on this host kernel ('' when untried)."""
    try:
        data = json.loads(_verdict_file(image).read_text())
    except (OSError, ValueError):
        return ""
    verdict: str = data.get(os.uname().release, "")
    return verdict


def _record_kvm_verdict(image: Image, verdict: str) -> None:
    _verdict_file(image).write_text(json.dumps({os.uname().release: verdict}) + "\n")


def remove_stale_runs(state: Path, image: Image, prefix: str = "pytest-") -> list[Path]:
    """Delete run directories under *state* whose QEMU is gone (an interrupted session)."""
    removed = []
    for directory in sorted(state.glob(prefix + "*")):
        if directory.is_dir() and not Machine.attach(image, directory).alive():
            shutil.rmtree(directory)
            removed.append(directory)
    return removed
