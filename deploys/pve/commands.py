"""``pvesm`` command lines for PBS storages (pbs-internals.md §9).

    >>> pvesm_add("pbs-pbs1-store1", {"server": "192.0.2.10", "datastore": "store1"})
    ['pvesm', 'add', 'pbs', 'pbs-pbs1-store1', '--datastore', 'store1', '--server', '192.0.2.10']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deploys.pbs.commands import Arg, options

PVESM = "pvesm"


def pvesm_add(storage_id: str, opts: Mapping[str, Any]) -> list[Arg]:
    """``pvesm add pbs <id> --server … --datastore … [--username] [--password] …``."""
    return [PVESM, "add", "pbs", storage_id, *options(opts)]


def pvesm_set(storage_id: str, opts: Mapping[str, Any], delete: Iterable[str] = ()
              ) -> list[Arg]:
    """``pvesm set <id> [opts] [--delete a,b]`` (PVE takes one comma-separated list)."""
    gone = sorted(delete)
    return [PVESM, "set", storage_id, *options(opts),
            *(["--delete", ",".join(gone)] if gone else [])]


def pvesm_remove(storage_id: str) -> list[Arg]:
    """``pvesm remove <id>``."""
    return [PVESM, "remove", storage_id]
