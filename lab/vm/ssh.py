"""Commands and files on the VM over paramiko SSH (the harness's own checks, as root)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from lab.vm.config import VmError


@dataclass(frozen=True)
class Result:
    """Exit status and decoded output of one remote command."""

    command: str
    status: int
    stdout: str
    stderr: str


class Shell:
    """One SSH connection to the guest.

    Example::

        with Shell.connect("127.0.0.1", 10022, key) as vm:
            vm.check("zpool list -H -o name")
    """

    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, host: str, port: int, key: Path, user: str = "root",
                timeout: float = 10) -> Shell:
        """Open a connection (host key accepted: the guest is ours and new every run)."""
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(host, port=port, username=user, key_filename=str(key),
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       allow_agent=False, look_for_keys=False)
        return cls(client)

    def run(self, command: str, timeout: float = 300) -> Result:
        """Run *command* with ``sh -c`` semantics; never raises on a non-zero status."""
        _, out, err = self.client.exec_command(command, timeout=timeout)
        try:
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        except TimeoutError as exc:
            raise VmError(f"guest: {command!r} timed out after {timeout:.0f} s") from exc
        return Result(command, out.channel.recv_exit_status(), stdout, stderr)

    def check(self, command: str, timeout: float = 300) -> str:
        """Run *command*; return its stdout, or raise :class:`VmError` naming it."""
        result = self.run(command, timeout)
        if result.status != 0:
            raise VmError(f"guest: {command!r} exit {result.status}: "
                          f"{(result.stderr or result.stdout).strip()[-800:]}")
        return result.stdout

    def put(self, local: Path, remote: str, mode: int = 0o644) -> None:
        """Copy the file *local* to *remote* in the guest."""
        with self.client.open_sftp() as sftp:
            sftp.put(str(local), remote)
            sftp.chmod(remote, mode)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_ssh(host: str, port: int, key: Path, deadline: float,
                 alive: Callable[[], bool]) -> Shell:
    """Retry :meth:`Shell.connect` until it works, *alive()* turns false, or *deadline*."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise VmError(f"guest: QEMU exited while waiting for SSH ({last})")
        try:
            return Shell.connect(host, port, key, timeout=10)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            last = exc
            time.sleep(2)
    raise VmError(f"guest: no SSH on {host}:{port} before the deadline (last error: {last})")
