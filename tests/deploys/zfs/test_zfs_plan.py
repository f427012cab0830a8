"""ZFS planning: topologies, the safety matrix (allow-list the only way through), drift."""

from __future__ import annotations

import shlex

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.node import pbs_node
from deploys.zfs import plan as zfsplan
from deploys.zfs.facts import ZfsDisks, parse_disks
from tests.deploys import fakehost

D = [f"/dev/disk/by-id/ata-DISK{i}" for i in range(8)]
S = ["/dev/disk/by-id/nvme-SSD0", "/dev/disk/by-id/nvme-SSD1"]


def blank(path, device=None):
    return {"path": path, "device": device or "/dev/sd" + path[-1], "exists": True,
            "partitions": [], "signatures": [], "mounts": []}


def disks(*paths, **special):
    out = {p: blank(p) for p in paths}
    for path, state in special.items():
        out[path] = {**blank(path), **state}
    return out


def create_argv(plan):
    return shlex.split(plan.commands[-1])


@pytest.mark.parametrize(("layout", "n", "vdevs"), [
    ("mirror", 2, ["mirror", D[0], D[1]]),
    ("raidz1", 3, ["raidz1", D[0], D[1], D[2]]),
    ("raidz2", 4, ["raidz2", D[0], D[1], D[2], D[3]]),
    ("striped-mirror", 4, ["mirror", D[0], D[1], "mirror", D[2], D[3]]),
    ("single", 1, [D[0]]),
])
def test_topologies(layout, n, vdevs):
    pool = {"name": "tank", "layout": layout, "disks": D[:n]}
    assert zfsplan.pool_spec_problem(pool) is None
    plan = zfsplan.plan_pool(pool, disks(*D[:n]), {}, [])
    argv = create_argv(plan)
    assert plan.action == "create" and len(plan.commands) == 1
    assert argv[:2] == ["zpool", "create"] and "-f" not in argv
    assert argv[argv.index("tank") + 1:] == vdevs
    assert "ashift=12" in argv and "compression=lz4" in argv and "atime=on" in argv
    assert "relatime=on" in argv and argv[argv.index("-m") + 1] == "none"


def test_special_mirror_log_and_small_blocks():
    pool = {"name": "tank", "layout": "mirror", "disks": D[:2], "special": S,
            "special_small_blocks": "16K", "log": [D[2]], "ashift": 13}
    plan = zfsplan.plan_pool(pool, disks(*D[:3], *S), {}, [])
    argv = create_argv(plan)
    tail = argv[argv.index("tank") + 1:]
    assert tail == ["mirror", D[0], D[1], "special", "mirror", *S, "log", D[2]]
    assert "special_small_blocks=16K" in argv and "ashift=13" in argv


@pytest.mark.parametrize(("state", "reason"), [
    ({"partitions": ["/dev/sda1"]}, "has partitions (/dev/sda1)"),
    ({"signatures": ["ext4"]}, "has signatures (ext4)"),
    ({"signatures": ["zfs_member"]}, "carries a ZFS label"),
])
def test_used_disk_refused_unless_allow_listed(state, reason):
    pool = {"name": "tank", "layout": "mirror", "disks": D[:2]}
    facts = disks(D[1], **{D[0]: state})
    refused = zfsplan.plan_pool(pool, facts, {}, [])
    assert refused.action == "refuse" and refused.commands == []
    assert reason in refused.problems[0] and "zfs_wipe_allow" in refused.problems[0]
    allowed = zfsplan.plan_pool(pool, facts, {}, [D[0]])
    assert allowed.action == "create"
    assert create_argv(allowed)[:3] == ["zpool", "create", "-f"]
    wipes = allowed.commands[:-1]
    assert f"wipefs -a {D[0]}" in wipes and all(D[1] not in c for c in wipes)
    if "zfs_member" in state.get("signatures", []):
        assert f"zpool labelclear -f {D[0]}" in wipes


def test_allow_listing_a_different_disk_does_not_help():
    pool = {"name": "tank", "layout": "mirror", "disks": D[:2]}
    facts = disks(D[1], **{D[0]: {"signatures": ["xfs"]}})
    assert zfsplan.plan_pool(pool, facts, {}, [D[1], D[5]]).action == "refuse"


@pytest.mark.parametrize(("state", "existing", "reason"), [
    ({"mounts": ["/srv"]}, {}, "is mounted at /srv"),
    ({}, {"other": zfsplan.Topology([zfsplan.Vdev("disk", (D[0],))])},
     "is in imported pool other"),
    ({"exists": False}, {}, "does not exist"),
])
def test_mounted_live_pool_and_missing_disks_refused_even_when_allow_listed(state, existing,
                                                                            reason):
    pool = {"name": "tank", "layout": "mirror", "disks": D[:2]}
    plan = zfsplan.plan_pool(pool, disks(D[1], **{D[0]: state}), existing, [D[0]])
    assert plan.action == "refuse" and reason in plan.problems[0]


ZPOOL_STATUS = f"""  pool: tank
 state: ONLINE
config:

\tNAME                                STATE     READ WRITE CKSUM
\ttank                                ONLINE       0     0     0
\t  mirror-0                          ONLINE       0     0     0
\t    {D[0]}-part1  ONLINE       0     0     0
\t    {D[1]}-part1  ONLINE       0     0     0
\t  mirror-1                          ONLINE       0     0     0
\t    {D[2]}-part1  ONLINE       0     0     0
\t    {D[3]}-part1  ONLINE       0     0     0
\tspecial
\t  mirror-2                          ONLINE       0     0     0
\t    {S[0]}-part1  ONLINE       0     0     0
\t    {S[1]}-part1  ONLINE       0     0     0
\tlogs
\t  {D[4]}-part1    ONLINE       0     0     0

errors: No known data errors
""".splitlines()


def test_parse_zpool_status():
    topo = zfsplan.parse_zpool_status(ZPOOL_STATUS)["tank"]
    assert topo.data == [zfsplan.Vdev("mirror", (D[0], D[1])),
                         zfsplan.Vdev("mirror", (D[2], D[3]))]
    assert topo.special == [zfsplan.Vdev("mirror", tuple(S))]
    assert topo.log == [zfsplan.Vdev("disk", (D[4],))]


def test_existing_pool_with_same_topology_is_a_noop():
    pool = {"name": "tank", "layout": "striped-mirror", "disks": D[:4], "special": S,
            "log": [D[4]]}
    used = {p: {**blank(p), "partitions": [p + "-part1"], "signatures": ["zfs_member"]}
            for p in [*D[:5], *S]}
    plan = zfsplan.plan_pool(pool, used, zfsplan.parse_zpool_status(ZPOOL_STATUS), [])
    assert plan.action == "noop" and plan.commands == []


def test_existing_pool_with_other_topology_is_drift_never_rebuilt():
    pool = {"name": "tank", "layout": "raidz2", "disks": D[:4]}
    plan = zfsplan.plan_pool(pool, {}, zfsplan.parse_zpool_status(ZPOOL_STATUS), D[:8])
    assert plan.action == "drift" and plan.commands == []
    assert "has mirror(" in plan.problems[0] and "wants raidz2(" in plan.problems[0]


def test_dataset_created_then_properties_fixed():
    create = zfsplan.dataset_commands("tank", "store1", {})
    assert create == ["zfs create -o mountpoint=/mnt/datastore/store1 -o recordsize=1048576 "
                      "tank/store1"]
    good = {"tank/store1": {"mountpoint": "/mnt/datastore/store1", "atime": "on",
                            "relatime": "on", "compression": "lz4", "recordsize": "1048576"}}
    assert zfsplan.dataset_commands("tank", "store1", good) == []
    bad = {"tank/store1": {**good["tank/store1"], "atime": "off"}}
    assert zfsplan.dataset_commands("tank", "store1", bad) == ["zfs set atime=on tank/store1"]


@pytest.mark.parametrize(("pool", "problem"), [
    ({"name": "tank", "layout": "mirror", "disks": ["/dev/sda", "/dev/sdb"]},
     "disks must be named by /dev/disk/by-id/"),
    ({"name": "tank", "layout": "raidz2", "disks": D[:3]}, "needs at least 4 disks"),
    ({"name": "tank", "layout": "striped-mirror", "disks": D[:5]}, "even number of disks"),
    ({"name": "tank", "layout": "mirror", "disks": D[:2], "special": S[:1]},
     "special vdev must be a mirror"),
    ({"name": "tank", "layout": "mirror", "disks": [D[0], D[0]]}, "listed twice"),
    ({"name": "tank", "layout": "mirror", "disks": D[:2], "ashift": 20}, "ashift"),
    ({"name": "tank", "layout": "mirror", "disks": D[:2], "compress": "zstd"}, "unknown field"),
])
def test_pool_spec_problems(pool, problem):
    assert problem in (zfsplan.pool_spec_problem(pool) or "")


def test_disk_fact_parses_lsblk_and_wipefs():
    lines = [f"disk\t{D[0]}\t/dev/sda",
             f'blk\t{D[0]}\tNAME="/dev/sda" TYPE="disk" FSTYPE="" MOUNTPOINT=""',
             f'blk\t{D[0]}\tNAME="/dev/sda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/srv"',
             f"sig\t{D[0]}\tgpt", f"sig\t{D[0]}\tPMBR", f"missing\t{D[1]}"]
    parsed = parse_disks(lines)
    assert parsed[D[0]]["partitions"] == ["/dev/sda1"]
    assert parsed[D[0]]["mounts"] == ["/srv"]
    assert parsed[D[0]]["signatures"] == ["PMBR", "gpt"]
    assert parsed[D[1]]["exists"] is False
    override = ZfsDisks().process([f'fact-overrides={{"disks": {{"{D[2]}": {{"exists": true}}}}}}'])
    assert override[D[2]]["exists"] is True and override[D[2]]["partitions"] == []


def _pool_data(**extra):
    pool = {"name": "tank", "layout": "mirror", "disks": D[:2], "datastores": ["store1"]}
    return fakehost.host_data(zfs_pools=[pool], **extra)


def _disk_lines(used: dict[str, str]) -> str:
    lines = []
    for path in D[:2]:
        lines.append(f"disk\t{path}\t/dev/sd{path[-1]}")
        if path in used:
            lines.append(f"sig\t{path}\t{used[path]}")
    return "\n".join(lines)


def test_deploy_refuses_used_disk_before_any_change():
    data = _pool_data()
    data["fake_responses"]["zfs-disks"] = _disk_lines({D[1]: "ext4"})
    run = fakehost.run(pbs_node, data, execute=True)
    assert isinstance(run.error, DeployError)
    assert str(run.error).startswith(f"@fake/pbs1: zfs pool tank refused: disk {D[1]} has "
                                     "signatures (ext4)")
    assert not any("zpool create" in c or "wipefs -a" in c for c in run.commands)
    assert run.executed is False  # refused while planning: no operation ran on the host


def test_deploy_creates_pool_and_dataset_on_blank_disks():
    data = _pool_data()
    data["fake_responses"]["zfs-disks"] = _disk_lines({})
    run = fakehost.run(pbs_node, data, execute=True)
    assert run.error is None, run.error
    creates = [c for c in run.commands if "zpool create" in c]
    assert creates == [f"zpool create -o ashift=12 -m none -O compression=lz4 -O atime=on "
                       f"-O relatime=on -O xattr=sa -O dnodesize=auto tank mirror {D[0]} {D[1]}"]
    assert any("zfs create -o mountpoint=/mnt/datastore/store1" in c for c in run.commands)
    names = run.op_names()
    assert names.index("ZFS | ZFS pool tank") > names.index("Apt | Install PBS node packages")
