"""deploys/pbs_host.py end to end on sandbox hosts: converge, idempotence, firewall, secrets.

Real: SSH (paramiko), apt (Debian mirror through the cache), systemd units, nftables in the
host's network namespace. Test-only: the Proxmox sources are written disabled, PBS/ZFS
packages are skipped, hardware facts come from the override file (docs/deploy.md).
"""

from __future__ import annotations

import hashlib

import pytest

from lab.deploy_data import HEALTHY_OVERRIDES, KEYRING, keyring_server, pbs_host_data
from lab.sandbox import host_kernel_snapshot, run_pyinfra

DEPLOY = "deploys/pbs_host.py"
SECRET = "pbsfleet-TOKEN-5f0c9d2a-never-print-me"


@pytest.fixture(scope="module")
def keyring_url():
    with keyring_server() as url:
        yield url


@pytest.fixture(scope="module")
def converged(sandbox_host, keyring_url, agent_deb, tmp_path_factory):
    """The session host after two runs: (first result, second result, inventory)."""
    inventory = tmp_path_factory.mktemp("inv") / "sandbox_pbs.py"
    sandbox_host.install_fact_overrides(HEALTHY_OVERRIDES)
    sandbox_host.exec("systemd-run --unit pf-listen-8007 --property=Restart=always "
                      "python3 -m http.server 8007 --bind 0.0.0.0 --directory /srv "
                      "|| systemctl restart pf-listen-8007")
    sandbox_host.write_inventory(inventory, pbs_host_data(keyring_url, agent_api_token=SECRET,
                                                 agent_deb=str(agent_deb[0])),
                                 groups=["pbs"])
    first = run_pyinfra(inventory, DEPLOY, "-vv", "--diff")
    second = run_pyinfra(inventory, DEPLOY, "-vv", "--diff")
    return first, second, inventory


def test_first_run_converges_and_second_changes_nothing(converged):
    first, second, _ = converged
    first.check()
    assert first.changed_ops and first.changed_ops > 20, first.changed
    second.check()
    assert second.changed_ops == 0, second.changed


def test_keyring_verified_and_sources_written(converged, sandbox_host):
    got = sandbox_host.exec("sha512sum /etc/apt/keyrings/proxmox-release-bookworm.gpg").stdout
    assert got.split()[0] == hashlib.sha512(KEYRING.read_bytes()).hexdigest()
    nosub = sandbox_host.exec("cat /etc/apt/sources.list.d/pbs-no-subscription.sources").stdout
    assert "Suites: bookworm" in nosub and "Components: pbs-no-subscription" in nosub
    assert "Enabled: no" in nosub and "TEST-ONLY" in nosub
    enterprise = sandbox_host.exec("cat /etc/apt/sources.list.d/pbs-enterprise.sources").stdout
    assert "Components: pbs-enterprise" in enterprise and "Enabled: no" in enterprise


def test_services_run_with_their_config(converged, sandbox_host):
    for unit in ("prometheus-node-exporter", "pbs-agent", "pbs-config-backup.timer",
                 "nftables"):
        state = sandbox_host.exec(f"systemctl is-enabled {unit}", check=False).stdout.strip()
        assert state == "enabled", (unit, state)
    for unit in ("prometheus-node-exporter", "pbs-agent", "pbs-config-backup.timer"):
        active = sandbox_host.exec(f"systemctl is-active {unit}", check=False).stdout.strip()
        assert active == "active", (unit, active)
    metrics = sandbox_host.exec("curl -fsS http://127.0.0.1:9100/metrics").stdout
    assert "node_textfile_scrape_error" in metrics
    agent = sandbox_host.exec("curl -fsS http://127.0.0.1:9797/metrics").stdout
    assert "pbs_agent_collector_success" in agent
    token = sandbox_host.exec("stat -c '%U:%G %a' /etc/pbs-agent/api-token").stdout.strip()
    assert token == "root:pbs-agent 640"
    groups = sandbox_host.exec("id -nG pbs-agent").stdout.split()
    assert "backup" in groups


def test_config_backup_archives_and_rotates(converged, sandbox_host):
    sandbox_host.exec("mkdir -p /etc/proxmox-backup && echo 'datastore: x' "
                      "> /etc/proxmox-backup/datastore.cfg")
    for _ in range(3):
        sandbox_host.exec("systemctl start pbs-config-backup.service && sleep 1.1")
    listing = sandbox_host.exec("ls /var/backups/pbs-config").stdout.split()
    assert len(listing) == 3 and all(n.startswith("pbs-config-") for n in listing)
    content = sandbox_host.exec(f"tar -tzf /var/backups/pbs-config/{listing[0]}").stdout
    assert "etc/proxmox-backup/datastore.cfg" in content


def test_firewall_allows_backup_clients_and_drops_the_rest(converged, sandbox_host,
                                                           client_allowed, client_denied):
    assert client_allowed.can_connect(sandbox_host.address, 8007)
    assert not client_denied.can_connect(sandbox_host.address, 8007)
    # SSH only from the management network: the deploy's own connection keeps working.
    assert not client_allowed.can_connect(sandbox_host.address, 22)
    assert sandbox_host.ssh("true").returncode == 0
    rules = sandbox_host.exec("nft list table inet pbs_fleet").stdout
    assert "policy drop" in rules


def test_no_secret_in_output_and_token_written(converged, sandbox_host):
    first, second, _ = converged
    for result in (first, second):
        assert SECRET not in result.output
    assert sandbox_host.exec("cat /etc/pbs-agent/api-token").stdout.strip() == SECRET
    # Nor in the host's logs or any leftover upload.
    assert SECRET not in sandbox_host.exec("journalctl --no-pager -o cat").stdout
    leftovers = sandbox_host.exec(f"grep -rl -- {SECRET} /tmp /var/tmp /root /var/log "
                                  "2>/dev/null; true").stdout.split()
    assert leftovers == []


def test_unsettable_sysctls_are_reported_not_faked(converged, sandbox_host):
    first, _, _ = converged
    assert "net.core.rmem_max not settable on this host" in first.stderr
    assert sandbox_host.exec("sysctl -n net.core.somaxconn").stdout.strip() == "4096"
    dropin = sandbox_host.exec("cat /etc/sysctl.d/90-pbs-fleet.conf").stdout
    assert "net.core.rmem_max = 16777216" in dropin


def test_host_kernel_settings_unchanged(converged, host_kernel_baseline):
    assert host_kernel_snapshot() == host_kernel_baseline


def test_sshd_hardened_and_still_reachable_with_the_key(converged, sandbox_host):
    effective = sandbox_host.exec("sshd -T").stdout
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective  # sshd -T's name for prohibit-password
    assert "x11forwarding no" in effective
    assert sandbox_host.ssh("true").returncode == 0
