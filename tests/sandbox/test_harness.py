"""Tests of the sandbox harness itself: real systemd, real SSH, real nftables, no leaks."""

from __future__ import annotations

import paramiko

from tests.harness import SandboxHost


def test_host_boots_systemd_as_pid1(sandbox_host: SandboxHost) -> None:
    state = sandbox_host.exec("systemctl is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded"), state
    assert sandbox_host.exec("cat /proc/1/comm").stdout.strip() == "systemd"
    assert sandbox_host.exec("hostname").stdout.strip() == sandbox_host.name


def test_ssh_with_paramiko(sandbox_host: SandboxHost) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(sandbox_host.address, port=sandbox_host.ssh_port, username="root",
                   key_filename=str(sandbox_host.ssh_key_path), allow_agent=False,
                   look_for_keys=False, timeout=10)
    try:
        _, stdout, _ = client.exec_command("id -u; ip -4 -o addr show dev eth0")
        out = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()
    uid, addr = out.splitlines()
    assert uid == "0"
    assert f"inet {sandbox_host.address}/" in addr
