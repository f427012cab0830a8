"""deploys/node.py: the order of the steps, which hosts are PBS nodes, the hardening subset."""

from __future__ import annotations

from deploys.node import harden, pbs_node
from tests.deploys import fakehost


def _steps(run) -> list[str]:
    seen: list[str] = []
    for name in run.op_names():
        step = name.split(" | ")[0]
        if not seen or seen[-1] != step:
            seen.append(step)
    return seen


def test_steps_run_in_order():
    pool = {"name": "tank", "layout": "mirror", "datastores": ["store1"],
            "disks": ["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]}
    disks = "\n".join(f"disk\t{d}\t/dev/sd{d[-1].lower()}" for d in pool["disks"])
    data = fakehost.host_data(zfs_pools=[pool], responses={"zfs-disks": disks})
    run = fakehost.run(pbs_node, data)
    assert run.error is None, run.error
    assert _steps(run) == ["Apt", "ZFS", "Sysctl", "nftables", "SSH", "Baseline", "Agent",
                           "Config backup"]


def test_hosts_outside_pbs_groups_are_left_alone():
    run = fakehost.run(pbs_node, fakehost.host_data(), groups=("pve",), execute=True)
    assert run.error is None and run.op_names() == []
    assert run.commands == []  # not even surveyed


def test_offsite_group_is_a_pbs_node():
    run = fakehost.run(pbs_node, fakehost.host_data(), groups=("pbs_offsite",))
    assert run.error is None and "Apt" in _steps(run)


def test_harden_is_sysctl_nftables_sshd_baseline_then_report():
    run = fakehost.run(harden, fakehost.host_data(), groups=("pve",))
    assert run.error is None, run.error
    assert _steps(run) == ["Sysctl", "nftables", "SSH", "Baseline", "Hardening report"]
