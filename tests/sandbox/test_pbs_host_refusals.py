"""Refusals on a real sandbox host: one clear line, and nothing changed on the host."""

from __future__ import annotations

import pytest

from lab.deploy_data import HEALTHY_OVERRIDES, keyring_server, pbs_host_data
from lab.sandbox import run_pyinfra

DEPLOY = "deploys/pbs_host.py"
#: Paths the deploy would create first; none may exist after a refusal.
FIRST_CHANGES = ("/etc/apt/keyrings/proxmox-release-bookworm.gpg",
                 "/etc/apt/sources.list.d/pbs-no-subscription.sources",
                 "/etc/sysctl.d/90-pbs-fleet.conf", "/etc/nftables.d/pbs-fleet.nft")


@pytest.fixture(scope="module")
def refusal_host(sandbox_hosts):
    return sandbox_hosts(1)[0]


@pytest.fixture(scope="module")
def keyring_url():
    with keyring_server() as url:
        yield url


def assert_untouched(host):
    present = host.exec("for p in " + " ".join(FIRST_CHANGES)
                        + '; do [ -e "$p" ] && echo "$p"; done; true').stdout.split()
    assert present == []
    assert host.exec("nft list tables").stdout.strip() == ""


def error_lines(result):
    return [line for line in result.stderr.splitlines() if "refused" in line]


@pytest.mark.parametrize(("overrides", "words"), [
    ({"aes_ni": False}, "CPU lacks AES-NI"),
    ({"storage_drivers": ["megaraid_sas"]}, "RAID controller driver megaraid_sas found"),
    ({"mem_total_bytes": 4 * 1024**3}, "RAM 4.0 GiB is below 8 GiB"),
])
def test_preflight_refuses_with_one_line(refusal_host, keyring_url, tmp_path, overrides, words):
    refusal_host.install_fact_overrides({**HEALTHY_OVERRIDES, **overrides})
    inventory = refusal_host.write_inventory(tmp_path / "inv.py", pbs_host_data(keyring_url),
                                             groups=["pbs"])
    result = run_pyinfra(inventory, DEPLOY)
    assert result.returncode == 1 and result.changed_ops is None
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr[-2000:]
    assert f"{refusal_host.name}: preflight refused: {words}" in lines[0]
    assert_untouched(refusal_host)


def test_ruleset_cutting_the_deploys_ssh_is_refused_before_loading(refusal_host, keyring_url,
                                                                   tmp_path):
    refusal_host.install_fact_overrides(HEALTHY_OVERRIDES)
    data = pbs_host_data(keyring_url, firewall_management_networks=["10.99.0.0/24"])
    inventory = refusal_host.write_inventory(tmp_path / "inv.py", data, groups=["pbs"])
    result = run_pyinfra(inventory, DEPLOY)
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1 and (f"{refusal_host.name}: nftables refused: the ruleset would drop "
                                "this deploy's own SSH connection from 10.231.0.1 to port 22"
                                in lines[0]), result.stderr[-2000:]
    assert_untouched(refusal_host)
    assert refusal_host.ssh("true").returncode == 0


def test_inventory_error_names_host_and_key(refusal_host, keyring_url, tmp_path):
    data = pbs_host_data(keyring_url, zfs_pool=[])
    inventory = refusal_host.write_inventory(tmp_path / "inv.py", data, groups=["pbs"])
    result = run_pyinfra(inventory, DEPLOY)
    assert result.returncode == 1
    assert (f"{refusal_host.name}: unknown inventory key 'zfs_pool' (see docs/deploy.md)"
            in result.stderr)
    assert_untouched(refusal_host)


def test_used_disk_is_refused_over_ssh_and_nothing_changes(refusal_host, keyring_url, tmp_path):
    disk = "/dev/disk/by-id/ata-TEST_DISK_A"
    clean = "/dev/disk/by-id/ata-TEST_DISK_B"
    refusal_host.install_fact_overrides({**HEALTHY_OVERRIDES, "disks": {
        disk: {"exists": True, "device": "/dev/sdx", "partitions": ["/dev/sdx1"],
               "signatures": ["gpt"]},
        clean: {"exists": True, "device": "/dev/sdy"}}})
    pool = {"name": "tank", "layout": "mirror", "disks": [disk, clean], "datastores": ["store1"]}
    data = pbs_host_data(keyring_url, zfs_pools=[pool])
    inventory = refusal_host.write_inventory(tmp_path / "inv.py", data, groups=["pbs"])
    result = run_pyinfra(inventory, DEPLOY)
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1 and (f"{refusal_host.name}: zfs pool tank refused: disk {disk} has "
                                "partitions (/dev/sdx1) and has signatures (gpt); add it to "
                                "zfs_wipe_allow" in lines[0]), result.stderr[-2000:]
    assert_untouched(refusal_host)


def test_keyring_checksum_mismatch_stops_the_host(refusal_host, keyring_url, tmp_path):
    refusal_host.install_fact_overrides(HEALTHY_OVERRIDES)
    wrong = "ab" * 64
    data = pbs_host_data(keyring_url, apt_proxmox_keyring_sha512=wrong)
    inventory = refusal_host.write_inventory(tmp_path / "inv.py", data, groups=["pbs"])
    result = run_pyinfra(inventory, DEPLOY)
    assert result.returncode == 1  # the only host failed: "No hosts remaining!"
    assert f"keyring checksum mismatch for {keyring_url}/" in result.stderr
    assert f"expected sha512 {wrong}, got " in result.stderr
    # Stopped there: no keyring, no sources, nothing after it.
    assert_untouched(refusal_host)
    leftovers = refusal_host.exec("ls /etc/apt/keyrings/ 2>/dev/null; true").stdout.split()
    assert leftovers == []
