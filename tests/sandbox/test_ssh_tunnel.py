"""The SSH tunnel past the firewall is closed (issue 17), on every Debian release the lab offers.

A sandbox host hardened by deploys/harden.py: 8007 (the proxmox-backup-proxy SIMULATOR) is
firewalled from the management network, and a service listens on 127.0.0.1 only. From the
management side (this machine, the deploy's own SSH source) ``ssh -W``, ``-L``, ``-R`` and
``-w`` to them must fail, while the deploy's own login (paramiko, a second run) still works.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from lab.deploy_data import HEALTHY_OVERRIDES, keyring_server, pbs_host_data
from lab.pbs_setup import prepare_pbs
from lab.sandbox import network, run_pyinfra
from tests.sandbox.releases import RELEASES, start_release_host

DEPLOY = "deploys/harden.py"
LOCAL_ONLY_PORT = 9797  # bound to 127.0.0.1 inside the host: never reachable from outside
REQUEST = b"GET / HTTP/1.0\r\n\r\n"


@pytest.fixture(scope="module", params=RELEASES)
def hardened(request, sandbox, tmp_path_factory):
    """A fresh host of one release after two runs of deploys/harden.py: (host, first, second)."""
    host = start_release_host(sandbox, request.param)
    try:
        prepare_pbs(host)
        host.install_fact_overrides(HEALTHY_OVERRIDES)
        host.exec(f"systemd-run --unit pf-local-only python3 -m http.server {LOCAL_ONLY_PORT} "
                  "--bind 127.0.0.1 --directory /srv")
        inventory = tmp_path_factory.mktemp("tunnel") / "inventory.py"
        with keyring_server() as url:
            host.write_inventory(inventory, pbs_host_data(url), groups=["pbs"])
            first = run_pyinfra(inventory, DEPLOY)
            second = run_pyinfra(inventory, DEPLOY)
        yield host, first, second
    finally:
        sandbox.stop_host(host)


def _ssh(host, *options: str, cmd: str = "true", input: bytes | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    argv = host.ssh_argv(cmd)
    argv.remove("-q")
    argv[1:1] = ["-o", "ExitOnForwardFailure=yes", *options]
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_deploy_converges_and_its_own_login_keeps_working(hardened):
    host, first, second = hardened
    first.check()
    second.check()  # paramiko, the deploy's own login, after the drop-in is live
    assert second.changed_ops == 0, second.changed
    assert host.ssh("true").returncode == 0  # OpenSSH, key login from the management side


def test_the_ports_are_firewalled_from_the_management_side(hardened):
    host, _, _ = hardened
    assert host.exec(f"curl -fsS http://127.0.0.1:{LOCAL_ONLY_PORT}/").returncode == 0
    assert host.exec("ss -ltn | grep -q ':8007 '", check=False).returncode == 0
    assert not network.tcp_probe(None, host.address, 8007)
    assert not network.tcp_probe(None, host.address, LOCAL_ONLY_PORT)


@pytest.mark.parametrize("target", [f"127.0.0.1:{LOCAL_ONLY_PORT}", "127.0.0.1:8007"])
def test_ssh_W_to_a_firewalled_port_fails(hardened, target):
    host, _, _ = hardened
    proc = _ssh(host, "-W", target, input=REQUEST)
    assert proc.returncode != 0, proc
    assert b"HTTP/" not in proc.stdout and proc.stdout == b"", proc.stdout[:200]
    assert b"administratively prohibited" in proc.stderr, proc.stderr


def test_ssh_L_local_forward_carries_nothing(hardened):
    host, _, _ = hardened
    port = _free_port()
    argv = host.ssh_argv("sleep 20")
    argv.remove("-q")
    argv[1:1] = ["-L", f"127.0.0.1:{port}:127.0.0.1:{LOCAL_ONLY_PORT}"]
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as tunnel:
        try:
            deadline = time.monotonic() + 15
            while not network.tcp_probe(None, "127.0.0.1", port, timeout=0.5):
                assert time.monotonic() < deadline and tunnel.poll() is None, "no -L listener"
                time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                try:
                    sock.sendall(REQUEST)
                    got = sock.recv(4096)
                except ConnectionResetError:  # the client closed it first: also nothing
                    got = b""
            assert got == b"", got[:200]  # the channel was refused: closed without a byte
        finally:
            # SIGKILL, not SIGTERM: a loaded CI machine once let a SIGTERMed client hold its stderr
            # open past 10 s. The refusal is already written (ssh's stderr is unbuffered).
            tunnel.kill()
        assert b"administratively prohibited" in tunnel.communicate(timeout=30)[1]


def test_ssh_R_remote_forward_and_tunnel_devices_refused(hardened):
    host, _, _ = hardened
    remote = _ssh(host, "-R", f"127.0.0.1:{_free_port()}:127.0.0.1:22")
    assert remote.returncode != 0 and b"remote port forwarding failed" in remote.stderr, remote
    tun = _ssh(host, "-w", "any", "-o", "Tunnel=point-to-point")
    assert tun.returncode != 0, tun


def test_effective_sshd_config_has_no_forwarding(hardened):
    host, _, _ = hardened
    effective = set(host.exec("sshd -T").stdout.splitlines())
    for line in ("disableforwarding yes", "allowtcpforwarding no",
                 "allowstreamlocalforwarding no", "permittunnel no", "gatewayports no",
                 "x11forwarding no", "allowagentforwarding no", "passwordauthentication no"):
        assert line in effective, line
