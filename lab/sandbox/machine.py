"""One sandbox host: an overlay root, its own netns, systemd-nspawn with systemd as PID 1.

The root is an overlay (lower: the shared read-only base tree, upper: this host's own dir),
so a host starts without copying a root filesystem and a fresh host is always clean.
``/proc/sys`` is read-only inside except ``/proc/sys/net`` (nspawn's default with a private
network), so a deploy cannot change this machine's ``vm.*``, ``fs.*`` or ``kernel.*``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploys.fact_overrides import OVERRIDE_FILE
from lab import simulators
from lab.sandbox import cgroups, network
from lab.sandbox.config import HarnessError, Paths, host_address
from lab.sandbox.inventory import write_inventory
from lab.sandbox.pidfile import kill, process_alive, read_pid, write_pid
from lab.sandbox.proc import run

FACT_OVERRIDES_PATH = OVERRIDE_FILE  # the file the deploys read (one definition)
SIMULATOR_DIR = "/usr/local/sbin"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT = 60.0


@dataclass
class SandboxHost:
    """A booted sandbox host. Create them through :class:`lab.sandbox.Sandbox`."""

    index: int
    paths: Paths
    ssh_key_path: Path
    ssh_port: int = 22
    boot_state: str = field(default="", init=False)  # "running" or "degraded"
    _nspawn: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"pf-h{self.index}"

    @property
    def address(self) -> str:
        return str(host_address(self.index))

    @property
    def veth(self) -> str:
        return f"pfv-h{self.index}"

    @property
    def dir(self) -> Path:
        return self.paths.hosts / self.name

    @property
    def root(self) -> Path:
        """The host's merged root filesystem as seen from this machine."""
        return self.dir / "root"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, base: Path) -> None:
        """Mount the overlay, prepare identity and network, boot, wait for SSH and systemd."""
        for sub in ("upper", "work", "root"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={base},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
             str(self.root)])
        self._write_identity()
        network.add_endpoint(self.name, self.veth, host_address(self.index))
        self._boot()
        self._wait_ssh(BOOT_TIMEOUT)
        self.boot_state = self.exec("systemctl is-system-running --wait", check=False,
                                    timeout=BOOT_TIMEOUT).stdout.strip()
        if self.boot_state not in ("running", "degraded"):
            raise HarnessError(f"{self.name}: systemd state {self.boot_state!r} after boot")

    def _write_identity(self) -> None:
        etc = self.root / "etc"
        (etc / "hostname").write_text(self.name + "\n")
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{self.address} {self.name}\n")
        (etc / "machine-id").write_text(secrets.token_hex(16) + "\n")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name,
             "-f", str(etc / "ssh/ssh_host_ed25519_key")])
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(Path(f"{self.ssh_key_path}.pub").read_text())
        keys.chmod(0o600)

    def _boot(self) -> None:
        argv = ["systemd-nspawn", "--boot", f"--directory={self.root}", f"--machine={self.name}",
                "--register=no", "--keep-unit", "--settings=no", "--link-journal=no",
                "--private-network", f"--network-namespace-path=/run/netns/{self.name}",
                "--capability=CAP_NET_ADMIN", "--resolv-conf=off", "--timezone=off",
                "--console=read-only"]
        cgroups.create(self.name)
        with open(self.dir / "console.log", "ab") as console:
            proc = subprocess.Popen(cgroups.wrap(self.name, argv), stdin=subprocess.DEVNULL,
                                    stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        write_pid(self.dir / "nspawn.pid", proc.pid)
        self._nspawn = proc

    def _wait_ssh(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._nspawn is not None and self._nspawn.poll() is not None:
                raise HarnessError(f"{self.name}: systemd-nspawn exited "
                                   f"{self._nspawn.returncode}; see {self.dir / 'console.log'}")
            try:
                with socket.create_connection((self.address, self.ssh_port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise HarnessError(f"{self.name}: no SSH banner on {self.address}:{self.ssh_port} "
                           f"after {timeout} s; see {self.dir / 'console.log'}")

    def leader_pid(self) -> int:
        """PID (on this machine) of the host's init, its PID 1."""
        nspawn = read_pid(self.dir / "nspawn.pid")
        if nspawn is None:
            raise HarnessError(f"{self.name}: not running")
        for child in Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split():
            if os.readlink(f"/proc/{child}/ns/pid") != os.readlink("/proc/self/ns/pid"):
                return int(child)
        raise HarnessError(f"{self.name}: systemd-nspawn {nspawn} has no container child")

    def stop(self) -> None:
        """Destroy the host: kill its init, unmount, delete its netns and veth and its dir."""
        destroy_host_dir(self.dir, self.name, self.veth)
        if self._nspawn is not None:  # reap our child so no zombie is left behind
            self._nspawn.wait(timeout=10)

    # -- access ----------------------------------------------------------------------------

    def exec(self, cmd: str, *, check: bool = True, timeout: float = 120,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sh -c cmd`` as root inside the host (all its namespaces, via nsenter)."""
        argv = ["nsenter", f"--target={self.leader_pid()}", "--mount", "--uts", "--ipc",
                "--net", "--pid", "--cgroup", "--root", "--wd", "--",
                "/usr/bin/env", "-i", f"PATH={GUEST_PATH}", "HOME=/root", "LANG=C.UTF-8",
                "/bin/sh", "-c", cmd]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                input=input, check=False)
        if check and result.returncode != 0:
            raise HarnessError(f"{self.name}: {cmd!r} exited {result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()[-800:]}")
        return result

    def ssh_argv(self, cmd: str) -> list[str]:
        """OpenSSH command line running *cmd* on the host as root."""
        return ["ssh", "-q", "-i", str(self.ssh_key_path), "-p", str(self.ssh_port),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                f"root@{self.address}", cmd]

    def ssh(self, cmd: str, *, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run *cmd* over real SSH (OpenSSH client), never raising on its exit code."""
        return subprocess.run(self.ssh_argv(cmd), capture_output=True, text=True,
                              timeout=timeout, input=input, check=False)

    def inventory_entry(self, data: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """``(name, data)`` for a pyinfra inventory: SSH settings for this host + *data*."""
        return self.name, {
            "ssh_hostname": self.address, "ssh_port": self.ssh_port, "ssh_user": "root",
            "ssh_key": str(self.ssh_key_path), "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "off", "ssh_allow_agent": False,
            "ssh_look_for_keys": False, **(data or {}),
        }

    def write_inventory(self, path: Path | str, data: dict[str, Any] | None = None,
                        groups: list[str] | tuple[str, ...] = ()) -> Path:
        """Write a pyinfra Python inventory targeting this host (see ``inventory.py``)."""
        return write_inventory(path, [self.inventory_entry(data)], groups)

    # -- test-only content -----------------------------------------------------------------

    def install_fact_overrides(self, overrides: dict[str, Any]) -> None:
        """Write the TEST-ONLY fact override file the deploys read when present."""
        self.exec(f"install -d -m 0755 /etc/pbs-fleet && cat > {FACT_OVERRIDES_PATH} "
                  f"&& chmod 0644 {FACT_OVERRIDES_PATH}",
                  input=json.dumps(overrides, indent=2, sort_keys=True) + "\n")

    def remove_fact_overrides(self) -> None:
        self.exec(f"rm -f {FACT_OVERRIDES_PATH}")

    def install_simulators(self, source: Path | None = None) -> list[str]:
        """Copy the executables of ``lab/simulators/`` to /usr/local/sbin; names installed.

        Each must be a Python script that the host's python3 compiles (checked inside).
        """
        scripts = simulators.executables(source or simulators.DIRECTORY)
        for script in scripts:
            if "python3" not in script.read_text(errors="replace").partition("\n")[0]:
                raise HarnessError(f"{script}: simulator is not a python3 script (shebang)")
            target = f"{SIMULATOR_DIR}/{script.name}"
            self.exec(f"cat > {target} && chmod 0755 {target} && python3 -m py_compile "
                      f"{target} && rm -rf {SIMULATOR_DIR}/__pycache__",
                      input=script.read_text())
        return [script.name for script in scripts]


def destroy_host_dir(host_dir: Path, name: str, veth: str) -> None:
    """Tear down whatever of a host exists (works for stale hosts of dead sessions too)."""
    nspawn = read_pid(host_dir / "nspawn.pid")
    if nspawn is not None:
        _kill_container(nspawn)
    root = host_dir / "root"
    if os.path.ismount(root) and run(["umount", str(root)], check=False).returncode != 0:
        run(["umount", "-l", str(root)])
    network.delete_endpoint(name, veth)
    cgroups.remove(name)
    shutil.rmtree(host_dir, ignore_errors=True)


def _kill_container(nspawn: int) -> None:
    children = Path(f"/proc/{nspawn}/task/{nspawn}/children")
    for child in (children.read_text().split() if children.exists() else []):
        kill(int(child))
    deadline = time.monotonic() + 10
    while process_alive(nspawn) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(nspawn):
        kill(nspawn)
    deadline = time.monotonic() + 5
    while process_alive(nspawn) and time.monotonic() < deadline:
        time.sleep(0.05)
