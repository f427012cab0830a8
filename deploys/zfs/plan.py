"""ZFS pool planning, pure: desired topology + disk facts in, commands or refusals out.

Nothing here touches a host, so every rule (which disk is refused, when ``-f`` is used, what
counts as drift) is tested directly with fixture data.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from deploys.conventions import datastore_path

LAYOUTS = ("mirror", "raidz1", "raidz2", "striped-mirror", "single")
_MIN_DISKS = {"mirror": 2, "raidz1": 3, "raidz2": 4, "striped-mirror": 4, "single": 1}
BY_ID = "/dev/disk/by-id/"
CLASSES = ("special", "logs", "cache", "spares", "dedup")
#: Pool-wide properties (inherited by every datastore dataset). atime stays on with relatime:
#: see docs/deploy.md "Why atime=on + relatime=on".
POOL_PROPERTIES = {"compression": "lz4", "atime": "on", "relatime": "on", "xattr": "sa",
                   "dnodesize": "auto"}
DATASET_PROPERTIES = {"recordsize": "1048576"}


@dataclass(frozen=True)
class Vdev:
    """One top-level vdev: ``kind`` is mirror, raidz1, raidz2 or disk (a plain stripe)."""

    kind: str
    disks: tuple[str, ...]

    def key(self) -> tuple[str, frozenset[str]]:
        return self.kind, frozenset(self.disks)


#: A class's vdevs, compared regardless of order: {(kind, {disks})}.
VdevSet = frozenset[tuple[str, frozenset[str]]]


@dataclass
class Topology:
    """Data vdevs plus the special and log classes."""

    data: list[Vdev] = field(default_factory=list)
    special: list[Vdev] = field(default_factory=list)
    log: list[Vdev] = field(default_factory=list)

    def signature(self) -> tuple[VdevSet, VdevSet, VdevSet]:
        data, special, log = (frozenset(v.key() for v in vs)
                              for vs in (self.data, self.special, self.log))
        return data, special, log

    def disks(self) -> list[str]:
        return [d for vs in (self.data, self.special, self.log) for v in vs for d in v.disks]

    def describe(self) -> str:
        def one(vs: list[Vdev]) -> str:
            return " ".join(f"{v.kind}({','.join(sorted(short(d) for d in v.disks))})"
                            for v in sorted(vs, key=lambda v: sorted(v.disks)))
        parts = [one(self.data)]
        if self.special:
            parts.append("special " + one(self.special))
        if self.log:
            parts.append("log " + one(self.log))
        return " ".join(parts)


def short(path: str) -> str:
    """``/dev/disk/by-id/ata-X`` → ``ata-X``."""
    return path.removeprefix(BY_ID)


def pool_spec_problem(pool: Any) -> str | None:
    """Why a ``zfs_pools`` entry is invalid, or None (used by the inventory schema)."""
    if not isinstance(pool, dict):
        return "each pool must be a dict"
    name = pool.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_.:-]*$", name):
        return f"pool name {name!r} is not a valid ZFS pool name"
    allowed = {"name", "layout", "disks", "special", "special_small_blocks", "log", "ashift",
               "datastores"}
    unknown = sorted(set(pool) - allowed)
    if unknown:
        return f"pool {name}: unknown field(s) {unknown}; allowed: {sorted(allowed)}"
    layout = pool.get("layout")
    if layout not in LAYOUTS:
        return f"pool {name}: layout {layout!r} must be one of {', '.join(LAYOUTS)}"
    disks = pool.get("disks")
    if not isinstance(disks, list) or len(disks) < _MIN_DISKS[layout]:
        return f"pool {name}: layout {layout} needs at least {_MIN_DISKS[layout]} disks"
    if layout == "striped-mirror" and len(disks) % 2:
        return f"pool {name}: striped-mirror needs an even number of disks"
    for key in ("special", "log"):
        extra = pool.get(key, [])
        if not isinstance(extra, list):
            return f"pool {name}: {key} must be a list of disks"
        disks = disks + extra
    if pool.get("special") is not None and len(pool["special"]) < 2:
        return f"pool {name}: special vdev must be a mirror of at least 2 disks"
    bad = [d for d in disks if not isinstance(d, str) or not d.startswith(BY_ID)]
    if bad:
        return f"pool {name}: disks must be named by {BY_ID}…, not {bad[0]!r}"
    if len(set(disks)) != len(disks):
        return f"pool {name}: a disk is listed twice"
    ashift = pool.get("ashift", 12)
    if not isinstance(ashift, int) or isinstance(ashift, bool) or not 9 <= ashift <= 16:
        return f"pool {name}: ashift must be an int in 9..16"
    stores = pool.get("datastores", [])
    if not isinstance(stores, list) or not all(
            isinstance(s, str) and re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{2,31}$", s)
            for s in stores):
        return f"pool {name}: datastores must be a list of 3-32 character safe ids"
    return None


def desired(pool: dict[str, Any]) -> Topology:
    """The topology an inventory pool entry asks for."""
    disks, layout = list(pool["disks"]), pool["layout"]
    if layout == "single":
        data = [Vdev("disk", (d,)) for d in disks]
    elif layout == "striped-mirror":
        data = [Vdev("mirror", tuple(disks[i:i + 2])) for i in range(0, len(disks), 2)]
    else:
        data = [Vdev(layout, tuple(disks))]
    special = [Vdev("mirror", tuple(pool["special"]))] if pool.get("special") else []
    log = pool.get("log") or []
    logs = [Vdev("mirror", tuple(log))] if len(log) > 1 else [Vdev("disk", (log[0],))] if log \
        else []
    return Topology(data, special, logs)


def _leaf(path: str) -> str:
    """Strip the partition suffix zpool adds to whole disks: ``…-part1`` → ``…``."""
    return re.sub(r"-part\d+$", "", path)


def _vdev_kind(name: str) -> str | None:
    match = re.match(r"^(mirror|raidz1|raidz2|raidz3|draid\S*)-\d+$", name)
    return match.group(1) if match else None


def parse_zpool_status(lines: list[str]) -> dict[str, Topology]:
    """``zpool status -P`` → {pool: Topology}; indentation gives the tree."""
    pools: dict[str, Topology] = {}
    current: Topology | None = None
    section, in_config = "data", False
    for raw in lines:
        if raw.strip().startswith("pool:"):
            current, in_config = None, False
            continue
        if raw.strip().startswith("config:"):
            in_config = True
            continue
        if raw.strip().startswith("errors:"):
            in_config = False
            continue
        if not in_config or not raw.strip() or raw.strip().startswith("NAME"):
            continue
        body = raw.lstrip("\t")
        depth = (len(body) - len(body.lstrip(" "))) // 2
        name = body.split()[0]
        if depth == 0:
            if current is not None and name in CLASSES:
                section = name
            else:
                current, section = Topology(), "data"
                pools[name] = current
            continue
        if current is None or section in ("cache", "spares", "dedup"):
            continue
        target = {"data": current.data, "special": current.special, "logs": current.log}[section]
        kind = _vdev_kind(name)
        if depth == 1:
            target.append(Vdev(kind, ()) if kind else Vdev("disk", (_leaf(name),)))
        elif depth == 2 and target:
            last = target[-1]
            target[-1] = Vdev(last.kind, (*last.disks, _leaf(name)))
    return pools


@dataclass
class PoolPlan:
    """What to do for one pool: ``action`` create / noop / drift / refuse."""

    name: str
    action: str
    commands: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def disk_problems(state: dict[str, Any], pool_of: dict[str, str]) -> tuple[list[str], bool]:
    """(reasons the disk is in use, whether a wipe could clear them).

    Imported-pool membership and mounts are never wipeable: the deploy does not destroy a
    live pool or a mounted filesystem. Partitions, filesystem signatures and ZFS labels
    (exported or destroyed pools) are, if the disk is on the wipe allow-list.
    """
    path = state["path"]
    if not state.get("exists"):
        return [f"{path} does not exist"], False
    reasons, wipeable = [], True
    member = pool_of.get(path) or pool_of.get(state.get("device") or "")
    if member:
        reasons.append(f"is in imported pool {member}")
        wipeable = False
    if state.get("mounts"):
        reasons.append(f"is mounted at {', '.join(state['mounts'])}")
        wipeable = False
    if state.get("partitions"):
        reasons.append(f"has partitions ({', '.join(state['partitions'])})")
    sigs = state.get("signatures") or []
    if "zfs_member" in sigs:
        reasons.append("carries a ZFS label")
    others = [s for s in sigs if s != "zfs_member"]
    if others:
        reasons.append(f"has signatures ({', '.join(others)})")
    return reasons, wipeable


def _create_command(pool: dict[str, Any], topo: Topology, force: bool) -> str:
    argv = ["zpool", "create"]
    if force:
        argv.append("-f")
    argv += ["-o", f"ashift={pool.get('ashift', 12)}", "-m", "none"]
    props = dict(POOL_PROPERTIES)
    if pool.get("special_small_blocks") is not None:
        props["special_small_blocks"] = str(pool["special_small_blocks"])
    for key, val in props.items():
        argv += ["-O", f"{key}={val}"]
    argv.append(pool["name"])
    for label, vdevs in (("", topo.data), ("special", topo.special), ("log", topo.log)):
        if vdevs and label:
            argv.append(label)
        for v in vdevs:
            argv += ([] if v.kind == "disk" else [v.kind]) + list(v.disks)
    return shlex.join(argv)


def plan_pool(pool: dict[str, Any], disks: dict[str, dict[str, Any]],
              existing: dict[str, Topology], wipe_allow: list[str]) -> PoolPlan:
    """Plan one pool. Same topology → noop; other topology → drift (never rebuilt)."""
    name, want = pool["name"], desired(pool)
    if name in existing:
        have = existing[name]
        if have.signature() == want.signature():
            return PoolPlan(name, "noop")
        return PoolPlan(name, "drift", problems=[
            f"pool {name} exists with a different layout: has {have.describe()}, "
            f"inventory wants {want.describe()}; not rebuilt"])
    pool_of = {d: p for p, t in existing.items() for d in t.disks()}
    plan, wipes = PoolPlan(name, "create"), []
    for path in want.disks():
        state = disks.get(path) or {"path": path, "exists": False}
        reasons, wipeable = disk_problems(state, pool_of)
        if not reasons:
            continue
        if wipeable and path in wipe_allow:
            wipes.append(state)
            continue
        hint = ("; add it to zfs_wipe_allow to let the deploy wipe it" if wipeable
                else "; the deploy never wipes a mounted disk or a member of an imported pool")
        plan.problems.append(f"disk {path} {' and '.join(reasons)}{hint}")
    if plan.problems:
        plan.action = "refuse"
        return plan
    for state in wipes:
        for part in state.get("partitions", []):
            plan.commands.append(shlex.join(["wipefs", "-a", part]))
        if "zfs_member" in (state.get("signatures") or []):
            plan.commands.append(shlex.join(["zpool", "labelclear", "-f", state["path"]]))
        plan.commands.append(shlex.join(["wipefs", "-a", state["path"]]))
    plan.commands.append(_create_command(pool, want, force=bool(wipes)))
    return plan


def dataset_commands(pool: str, store: str, have: dict[str, dict[str, str]]) -> list[str]:
    """Create ``<pool>/<store>`` at /mnt/datastore/<store>, or fix its properties."""
    dataset, mountpoint = f"{pool}/{store}", datastore_path(store)
    wanted = {"mountpoint": mountpoint, **DATASET_PROPERTIES}
    current = have.get(dataset)
    if current is None:
        argv = ["zfs", "create"]
        for key, val in wanted.items():
            argv += ["-o", f"{key}={val}"]
        return [shlex.join([*argv, dataset])]
    inherited = {**POOL_PROPERTIES, **wanted}
    return [shlex.join(["zfs", "set", f"{k}={v}", dataset]) for k, v in inherited.items()
            if k in current and current[k] != v]
