"""Disks and pools as ZFS planning needs them."""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand

from deploys import fact_overrides as overrides

_DISKS_SCRIPT = (
    'for p in "$@"; do '
    'if [ ! -e "$p" ]; then printf "missing\\t%s\\n" "$p"; continue; fi; '
    'd=$(readlink -f "$p"); printf "disk\\t%s\\t%s\\n" "$p" "$d"; '
    'lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT "$d" 2>/dev/null '
    '| while IFS= read -r l; do printf "blk\\t%s\\t%s\\n" "$p" "$l"; done; '
    'wipefs -i -O TYPE "$d" 2>/dev/null '
    '| while IFS= read -r l; do printf "sig\\t%s\\t%s\\n" "$p" "$l"; done; '
    'done; '
)


def _blank(path: str) -> dict[str, Any]:
    return {"path": path, "device": None, "exists": False, "partitions": [],
            "signatures": [], "mounts": []}


def parse_disks(lines: list[str]) -> dict[str, dict[str, Any]]:
    """Parse the tagged lines of :class:`ZfsDisks` into one state dict per by-id path."""
    disks: dict[str, dict[str, Any]] = {}
    for line in lines:
        tag, _, rest = line.partition("\t")
        path, _, value = rest.partition("\t")
        if tag not in ("missing", "disk", "blk", "sig"):
            continue
        state = disks.setdefault(path, _blank(path))
        if tag == "disk":
            state.update(device=value, exists=True)
        elif tag == "blk":
            row = dict(item.split("=", 1) for item in shlex.split(value) if "=" in item)
            if row.get("TYPE") == "part":
                state["partitions"].append(row.get("NAME", "?"))
            if row.get("MOUNTPOINT"):
                state["mounts"].append(row["MOUNTPOINT"])
            if row.get("FSTYPE") and row.get("TYPE") != "part":
                state["signatures"].append(row["FSTYPE"])
        elif tag == "sig" and value.strip():
            state["signatures"].append(value.strip())
    for state in disks.values():
        state["signatures"] = sorted(set(state["signatures"]))
    return disks


class ZfsDisks(FactBase[dict[str, dict[str, Any]]]):
    """Partitions, signatures and mounts of each disk named by ``/dev/disk/by-id`` path.

    The TEST-ONLY override file may replace a disk's state (key ``disks``).

    + paths: the disks, as ``/dev/disk/by-id`` paths

    **Example:**

    .. code:: python

        host.get_fact(ZfsDisks, paths=["/dev/disk/by-id/ata-A"])
        # {"/dev/disk/by-id/ata-A": {"path": "/dev/disk/by-id/ata-A", "device": "/dev/sda",
        #  "exists": True, "partitions": [], "signatures": [], "mounts": []}}
    """

    @staticmethod
    def default() -> dict[str, dict[str, Any]]:
        return {}

    def command(self, paths: list[str]) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(_DISKS_SCRIPT + overrides.shell_snippet()),
                             "zfs-disks", *(QuoteString(p) for p in paths))

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        lines, override = overrides.split(output)
        disks = parse_disks(lines)
        for path, state in (override.get("disks") or {}).items():
            disks[path] = {**_blank(path), **state, "path": path}
        return disks


class ZpoolStatus(FactBase[list[str]]):
    """``zpool status -P`` lines of every imported pool (empty without ZFS tools).

    The TEST-ONLY override file may supply them (key ``zpool_status``, a list of lines).
    Parse with :func:`deploys.zfs.plan.parse_zpool_status`.

    **Example:**

    .. code:: python

        host.get_fact(ZpoolStatus)
        # ["  pool: tank", " state: ONLINE", "config:", "", "\\ttank  ONLINE  0  0  0", …]
    """

    @staticmethod
    def default() -> list[str]:
        return []

    def command(self) -> str:
        return ("if command -v zpool >/dev/null; then zpool status -P 2>/dev/null; fi; "
                + overrides.shell_snippet())

    def process(self, output: list[str]) -> list[str]:
        lines, override = overrides.split(output)
        return list(override.get("zpool_status", lines))


class ZfsProperties(FactBase[dict[str, dict[str, str]]]):
    """Local properties of every ZFS filesystem: ``{dataset: {property: value}}``.

    **Example:**

    .. code:: python

        host.get_fact(ZfsProperties)
        # {"tank/store1": {"mountpoint": "/mnt/datastore/store1", "atime": "on"}}
    """

    @staticmethod
    def default() -> dict[str, dict[str, str]]:
        return {}

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return "zfs"

    def command(self) -> str:
        return ("zfs get -H -p -t filesystem -o name,property,value "
                "mountpoint,atime,relatime,compression,recordsize 2>/dev/null || true")

    def process(self, output: list[str]) -> dict[str, dict[str, str]]:
        props: dict[str, dict[str, str]] = {}
        for line in output:
            parts = line.split("\t")
            if len(parts) == 3:
                props.setdefault(parts[0], {})[parts[1]] = parts[2]
        return props
