"""nftables: rules from data, the own-SSH guard, and real `nft -c` on the rendered file."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.nftables import steps as nft
from deploys.node import pbs_node
from tests.deploys import fakehost

DATA = {"firewall_ssh_port": 22, "firewall_management_networks": ["192.0.2.0/24"],
        "firewall_backup_networks": ["198.51.100.0/24", "2001:db8::/64"],
        "firewall_pve_networks": ["203.0.113.0/28"],
        "firewall_prometheus_networks": ["192.0.2.50/32"]}


def test_rules_and_what_they_allow():
    rules = nft.rules(DATA, agent_port=9797)
    assert nft.allows(rules, "192.0.2.9", 22)
    assert not nft.allows(rules, "198.51.100.7", 22)
    assert nft.allows(rules, "198.51.100.7", 8007) and nft.allows(rules, "2001:db8::5", 8007)
    assert nft.allows(rules, "203.0.113.3", 8007)
    assert not nft.allows(rules, "203.0.113.30", 8007)
    assert nft.allows(rules, "192.0.2.50", 9100) and nft.allows(rules, "192.0.2.50", 9797)
    assert not nft.allows(rules, "192.0.2.51", 9797)
    assert nft.allows(rules, "::ffff:192.0.2.9", 22)


def test_extra_rules_for_other_roles():
    extra = [{"name": "corosync", "protocol": "udp", "ports": [5405, 5406],
              "networks": ["10.10.0.0/24"]}]
    rules = nft.rules({**DATA, "firewall_extra_rules": extra}, 9797)
    assert nft.allows(rules, "10.10.0.5", 5405, "udp")
    assert not nft.allows(rules, "10.10.0.5", 5405, "tcp")
    content, _ = nft.render(rules)
    assert 'ip saddr { 10.10.0.0/24 } udp dport { 5405, 5406 } accept comment "corosync"' \
        in content
    assert nft._extra_ok([{**extra[0], "protocol": "sctp"}]) == \
        "rule 'corosync': protocol must be tcp or udp"


def test_rendered_ruleset_content():
    content, comment = nft.render(nft.rules(DATA, agent_port=9797))
    assert comment.startswith("pbs-fleet sha256:") and f'comment "{comment}"' in content
    assert "policy drop;" in content and 'iif "lo" accept' in content
    assert "ct state established,related accept" in content
    assert 'ip saddr { 192.0.2.0/24 } tcp dport { 22 } accept comment "ssh"' in content
    assert "ip6 saddr { 2001:db8::/64 } tcp dport { 8007 }" in content
    assert "tcp dport { 9100, 9797 }" in content
    assert content.index("delete table inet pbs_fleet") < content.index("table inet pbs_fleet {")


def test_hash_follows_the_rules():
    a = nft.render(nft.rules(DATA, 9797))[1]
    b = nft.render(nft.rules({**DATA, "firewall_ssh_port": 2222}, 9797))[1]
    assert a != b and a == nft.render(nft.rules(DATA, 9797))[1]


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None,
                    reason="needs nft and unshare (Debian packages nftables, util-linux)")
def test_rendered_ruleset_passes_nft_check_and_loads_twice(tmp_path):
    content, comment = nft.render(nft.rules(DATA, 9797))
    path = tmp_path / "pbs-fleet.nft"
    path.write_text(content)
    # In a throwaway network namespace: check, load, reload (replace), list.
    script = (f"nft -c -f {path} && nft -f {path} && nft -f {path} && "
              "nft list table inet pbs_fleet")
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("unshare --net needs root")
    assert proc.returncode == 0, proc.stderr
    assert comment in proc.stdout and "policy drop" in proc.stdout


def test_guard_refuses_a_ruleset_that_cuts_the_deploys_ssh():
    rules = nft.rules({**DATA, "firewall_management_networks": ["10.0.0.0/8"]}, 9797)
    session = {"client": "192.0.2.9", "client_port": 40000, "server": "192.0.2.10", "port": 22}
    with pytest.raises(DeployError, match=r"would drop this deploy's own SSH connection from "
                                          r"192\.0\.2\.9 to port 22"):
        nft.guard_own_session(rules, session)
    nft.guard_own_session(nft.rules(DATA, 9797), session)  # allowed: no error
    nft.guard_own_session(rules, {})  # @local / non-SSH connectors: nothing to protect


def test_guard_checks_the_port_in_use():
    rules = nft.rules({**DATA, "firewall_ssh_port": 2222}, 9797)
    with pytest.raises(DeployError, match="to port 22"):
        nft.guard_own_session(rules, {"client": "192.0.2.9", "port": 22})


def test_deploy_refuses_lockout_before_anything_runs():
    data = fakehost.host_data(firewall_management_networks=["10.99.0.0/16"])
    run = fakehost.run(pbs_node, data, execute=True)
    assert isinstance(run.error, DeployError) and run.executed is False
    assert str(run.error).startswith("@fake/pbs1: nftables refused: the ruleset would drop "
                                     "this deploy's own SSH connection from 192.0.2.9")
    assert not any("nft -f" in c or "nft -c" in c for c in run.commands)


def test_ssh_connection_fact_is_read_without_sudo():
    data = fakehost.host_data(_sudo=True)
    run = fakehost.run(pbs_node, data)
    read = [c for c in run.commands if "SSH_CONNECTION" in c]
    assert read and all(not c.startswith("sudo") for c in read)


def test_ruleset_is_validated_before_it_is_loaded():
    run = fakehost.run(pbs_node, fakehost.host_data(), execute=True)
    assert run.error is None, run.error
    cmds = run.commands
    check = cmds.index("nft -c -f /etc/nftables.d/pbs-fleet.nft.new")
    load = cmds.index("nft -f /etc/nftables.d/pbs-fleet.nft")
    assert check < load
