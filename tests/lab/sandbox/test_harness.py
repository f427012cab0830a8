"""Tests of the sandbox harness itself: real systemd, real SSH, real nftables, no leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from lab.sandbox import HarnessError, NetClient, Sandbox, SandboxHost, run_pyinfra
from lab.sandbox.config import BRIDGE_ADDRESS
from lab.sandbox.inventory import write_inventory
from lab.sandbox.kernel import host_kernel_snapshot
from lab.sandbox.leftovers import leftovers

pytestmark = pytest.mark.sandbox  # all of it, also the tests that boot no host themselves

DEPLOYS = Path(__file__).parent / "deploys"
REPO = Path(__file__).resolve().parents[3]


def _nft_ruleset_here() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                          check=True).stdout


def test_host_boots_systemd_as_pid1(sandbox_host: SandboxHost) -> None:
    state = sandbox_host.exec("systemctl is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded"), state
    assert sandbox_host.exec("cat /proc/1/comm").stdout.strip() == "systemd"
    assert sandbox_host.exec("hostname").stdout.strip() == sandbox_host.name
    assert sandbox_host.exec("systemctl is-active ssh.service").stdout.strip() == "active"


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


def test_pyinfra_run_counts_changes(fresh_sandbox_host: SandboxHost, tmp_path: Path) -> None:
    inventory = fresh_sandbox_host.write_inventory(tmp_path / "inv.py", groups=["pbs"])
    deploy = DEPLOYS / "smoke.py"
    first = run_pyinfra(inventory, deploy).check()
    assert first.changed_ops == 5, first.changed
    assert fresh_sandbox_host.exec("systemctl is-active pf-listen").stdout.strip() == "active"
    second = run_pyinfra(inventory, deploy).check()
    assert (second.changed_ops, second.changed) == (0, [])
    fresh_sandbox_host.ssh("echo answer=0 > /etc/pf-harness.conf")
    third = run_pyinfra(inventory, deploy).check()
    assert third.changed == [("Marker setting", fresh_sandbox_host.name)]
    rc, _, _, changed = third  # the tuple form other helpers use
    assert (rc, changed) == (0, 1)


def test_pyinfra_run_reports_failure(fresh_sandbox_host: SandboxHost, tmp_path: Path) -> None:
    inventory = fresh_sandbox_host.write_inventory(tmp_path / "inv.py")
    fresh_sandbox_host.exec("rm /usr/bin/systemctl")
    result = run_pyinfra(inventory, DEPLOYS / "smoke.py")
    assert result.returncode == 1
    assert "systemctl: not found" in result.stderr
    with pytest.raises(AssertionError, match="pyinfra failed"):
        result.check()


def test_nftables_in_host_filters_by_source(
        fresh_sandbox_host: SandboxHost, client_allowed: NetClient,
        client_denied: NetClient) -> None:
    host = fresh_sandbox_host
    ruleset_here = _nft_ruleset_here()
    host.exec("systemd-run --unit=pf-probe python3 -m http.server 8007 --directory /var/empty")
    host.exec("for i in $(seq 50); do ss -ltn | grep -q ':8007 ' && exit 0; sleep 0.1; done;"
              " exit 1")
    assert client_allowed.can_connect(host.address, 8007)
    assert client_denied.can_connect(host.address, 8007)
    rules = ("table inet pf_probe {\n chain input {\n"
             "  type filter hook input priority 0; policy accept;\n"
             f"  ip saddr {client_denied.network} tcp dport 8007 counter drop\n }}\n}}\n")
    loaded = host.ssh("nft -f -", input=rules)  # over real SSH with the host's own nft
    assert loaded.returncode == 0, loaded.stderr
    assert client_allowed.can_connect(host.address, 8007)
    assert not client_denied.can_connect(host.address, 8007, timeout=1.0)
    counter = host.exec("nft list chain inet pf_probe input").stdout
    assert "packets 0 " not in counter
    assert host.ssh("true").returncode == 0  # SSH from this machine still works
    assert _nft_ruleset_here() == ruleset_here  # this machine's ruleset never changed


def test_kernel_wide_sysctls_stay_put(fresh_sandbox_host: SandboxHost,
                                      host_kernel_baseline: dict[str, str]) -> None:
    sandbox_host = fresh_sandbox_host
    before = host_kernel_snapshot()
    swappiness = int(before["vm.swappiness"])
    attempt = sandbox_host.ssh(
        f"sysctl -w vm.swappiness={swappiness + 7}; "
        f"echo {swappiness + 7} > /proc/sys/vm/swappiness; "
        "sysctl -w fs.file-max=424242; sysctl -w kernel.hostname=pf-evil; "
        "sysctl -w net.core.somaxconn=777; sysctl -n net.core.somaxconn")
    assert "vm.swappiness" in attempt.stderr  # refused, not silently ignored
    assert attempt.stdout.strip().splitlines()[-1] == "777"  # the host's own netns: allowed
    assert host_kernel_snapshot() == before == host_kernel_baseline
    assert sandbox_host.exec("findmnt -no OPTIONS /proc/sys").stdout.startswith("ro")


def test_apt_reaches_debian_through_the_cache(fresh_sandbox_host: SandboxHost) -> None:
    host = fresh_sandbox_host
    proxy = host.exec("cat /etc/apt/apt.conf.d/01proxy").stdout
    assert "3142" in proxy and 'Acquire::Retries "3"' in proxy
    assert "bookworm-security" in host.exec("cat /etc/apt/sources.list.d/debian.sources").stdout
    # No route off the sandbox LAN: only the proxy on this machine can reach the mirror.
    assert host.exec("ip route get 203.0.113.80", check=False).returncode != 0
    result = host.ssh("apt-get -q update && apt-get install -qy --no-install-recommends hello"
                      " && hello", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Hello, world!" in result.stdout


def test_fact_overrides_and_simulators(fresh_sandbox_host: SandboxHost,
                                       tmp_path: Path) -> None:
    sandbox_host = fresh_sandbox_host
    sandbox_host.install_fact_overrides({"cpu_flags": ["sse2"], "memory_bytes": 4 << 30})
    text = sandbox_host.ssh("cat /etc/pbs-fleet/fact-overrides.json").stdout
    assert json.loads(text) == {"cpu_flags": ["sse2"], "memory_bytes": 4 << 30}
    sandbox_host.remove_fact_overrides()
    assert sandbox_host.ssh("test -e /etc/pbs-fleet/fact-overrides.json").returncode == 1

    sim = tmp_path / "pf-sim-hello"
    sim.write_text("#!/usr/bin/python3\nimport sys\nprint('simulated', *sys.argv[1:])\n")
    sim.chmod(0o755)
    (tmp_path / "README").write_text("not executable, not copied\n")
    assert sandbox_host.install_simulators(tmp_path) == ["pf-sim-hello"]
    out = sandbox_host.ssh("command -v pf-sim-hello && pf-sim-hello a b").stdout.split()
    assert out == ["/usr/local/sbin/pf-sim-hello", "simulated", "a", "b"]
    shipped = sorted(p.name for p in (REPO / "lab/simulators").glob("*")
                     if p.is_file() and os.access(p, os.X_OK))
    assert {"proxmox-backup-manager", "proxmox-backup-proxy", "pvesm"} <= set(shipped)
    assert sandbox_host.install_simulators() == shipped
    for name in shipped:
        assert sandbox_host.ssh(f"command -v {name}").stdout.strip() == f"/usr/local/sbin/{name}"
    bad = tmp_path / "broken"
    bad.write_text("#!/usr/bin/python3\ndef (:\n")
    bad.chmod(0o755)
    with pytest.raises(HarnessError, match="broken"):
        sandbox_host.install_simulators(tmp_path)


def test_inventory_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not plain literals"):
        write_inventory(tmp_path / "a.py", [("h", {"x": object()})])
    with pytest.raises(HarnessError, match="not a Python identifier"):
        write_inventory(tmp_path / "b.py", [("h", {})], groups=["bad-name"])


def test_several_hosts_in_parallel(sandbox_hosts, sandbox: Sandbox) -> None:
    hosts = sandbox_hosts(3)
    try:
        assert len({h.address for h in hosts}) == 3
        # each host's systemd has a cgroup tree of its own (shared trees make units fail)
        cgroup_files = [Path(f"/proc/{h.leader_pid()}/cgroup").read_text() for h in hosts]
        assert all(f"/{h.name}/" in text for h, text in zip(hosts, cgroup_files, strict=True))
        assert [h.exec("systemctl --failed --no-legend").stdout for h in hosts] == [""] * 3
        for host in hosts:
            peer = hosts[0].address
            assert host.exec(f"ping -c1 -W2 {peer}").returncode == 0
            assert host.exec(f"ping -c1 -W2 {BRIDGE_ADDRESS}").returncode == 0
    finally:
        sandbox.stop_hosts(hosts)


def test_stopped_host_leaves_nothing(sandbox: Sandbox) -> None:
    host = sandbox.start_host()
    assert leftovers(sandbox.paths, host.name)  # sanity: the probe sees a live host
    sandbox.stop_host(host)
    assert leftovers(sandbox.paths, host.name) == []


def test_host_of_a_killed_session_is_swept(sandbox: Sandbox) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from lab.sandbox import Sandbox\n"
            "box = Sandbox().open(); host = box.start_host()\n"
            "print(host.name, flush=True); sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(REPO)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        assert name.startswith("pf-h") and leftovers(sandbox.paths, name)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    sandbox.sweep()
    assert leftovers(sandbox.paths, name) == []


def _nested_pytest(env: dict[str, str], *prefix: str) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsfE",
            "-q", f"{Path(__file__)}::test_ssh_with_paramiko"]
    return subprocess.run(argv, cwd="/", capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, check=False)


def test_skip_switch_skips_with_the_reason() -> None:
    result = _nested_pytest({"PBS_FLEET_SKIP_SANDBOX": "1"})
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout
    assert "PBS_FLEET_SKIP_SANDBOX=1" in result.stdout


def test_without_root_the_tests_fail_with_the_reason() -> None:
    result = _nested_pytest({"PBS_FLEET_SKIP_SANDBOX": "0"},
                            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    assert result.returncode != 0
    assert "sandbox unavailable: sandbox hosts need root (euid is 65534)" in result.stdout
