"""Facts on a PVE node: ``/etc/pve/storage.cfg`` sections and digests of storage passwords.

    >>> host.get_fact(PveStorageConfig)
    {"pbs-pbs1-store1": {"type": "pbs", "server": "192.0.2.10", "datastore": "store1", …}}
"""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra.api import FactBase

STORAGE_CFG = "/etc/pve/storage.cfg"
PRIV_DIR = "/etc/pve/priv/storage"


def parse_storage_cfg(lines: list[str]) -> dict[str, dict[str, Any]]:
    """PVE section config → {storage id: {"type": …, key: value}} (flags without value = 1)."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if current is not None:
                key, _, val = line.strip().partition(" ")
                current[key] = val.strip() or "1"
        else:
            stype, _, sid = line.partition(":")
            current = out.setdefault(sid.strip(), {"type": stype.strip()})
    return out


class PveStorageConfig(FactBase[dict[str, dict[str, Any]]]):
    """The parsed ``/etc/pve/storage.cfg`` ({} when absent).

    **Example:**

    .. code:: python

        host.get_fact(PveStorageConfig)
        # {"pbs-pbs1-store1": {"type": "pbs", "server": "192.0.2.10", "datastore": "store1", …}}
    """

    @staticmethod
    def default() -> dict[str, dict[str, Any]]:
        return {}

    def command(self) -> str:
        return f"cat {STORAGE_CFG} 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        return parse_storage_cfg(output)


class PveSecretDigests(FactBase[dict[str, str]]):
    """sha256 of ``<id>.pw`` and ``<id>.enc`` (trailing newlines stripped) per storage id; the
    secrets themselves never leave the node.

    + storage_ids: the storage ids whose secrets to digest

    **Example:**

    .. code:: python

        host.get_fact(PveSecretDigests, storage_ids=["pbs-a"])
        # {"pbs-a": "9f86d08…", "pbs-a.enc": "1b4f0e9…"}
    """

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def command(self, storage_ids: list[str]) -> str:
        ids = " ".join(shlex.quote(i) for i in storage_ids) or "''"
        return (f"for i in {ids}; do for s in pw enc; do f={PRIV_DIR}/$i.$s; "
                "[ -r \"$f\" ] || continue; [ $s = pw ] && n=$i || n=$i.enc; "
                "printf '%s %s\\n' \"$n\" \"$(tr -d '\\n' < \"$f\" | sha256sum | "
                "cut -d' ' -f1)\"; done; done")

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in output if " " in line)
