"""Facts: the current PBS configuration, read from ``proxmox-backup-manager … --output-format
json`` (pbs-internals.md §6). A host without PBS yields the empty default.

    >>> host.get_fact(PbsList, kind="prune-job")
    [{"id": "store1-prune", "store": "store1", "schedule": "daily", "keep-daily": 7}]
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from deploys.pbs import commands

LIST_KINDS = ("datastore", "prune-job", "verify-job", "sync-job", "remote", "user", "acl")


def _json(output: list[str], what: str) -> Any:
    text = "\n".join(output).strip()
    try:
        return json.loads(text) if text else None
    except ValueError as exc:
        raise FactProcessError(f"{what}: unparseable JSON from proxmox-backup-manager: "
                               f"{exc}") from exc


class PbsList(FactBase[list[dict[str, Any]]]):
    """``proxmox-backup-manager <kind> list --output-format json`` as a list of dicts.

    + kind: one of :data:`LIST_KINDS` (``datastore``, ``prune-job``, ``remote``, ``acl``, …)

    **Example:**

    .. code:: python

        host.get_fact(PbsList, kind="datastore")
        # [{"name": "store1", "path": "/mnt/datastore/store1", "gc-schedule": "daily"}]
    """

    @staticmethod
    def default() -> list[dict[str, Any]]:
        return []

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self, kind: str) -> str:
        if kind not in LIST_KINDS:
            raise ValueError(f"PbsList: unknown kind {kind!r}")
        return shlex.join(commands.list_json(kind))

    def process(self, output: list[str]) -> list[dict[str, Any]]:
        data = _json(output, "list")
        return data if isinstance(data, list) else []


class PbsTokens(FactBase[list[dict[str, Any]]]):
    """``user list-tokens <userid> --output-format json``; [] when the user does not exist.

    + userid: the user whose tokens to list (``name@realm``)

    **Example:**

    .. code:: python

        host.get_fact(PbsTokens, userid="pve-a@pbs")
        # [{"tokenid": "pve-a@pbs!pve", "comment": "PVE cluster a"}]
    """

    @staticmethod
    def default() -> list[dict[str, Any]]:
        return []

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self, userid: str) -> str:
        return shlex.join(commands.token_list(userid)) + " 2>/dev/null || echo '[]'"

    def process(self, output: list[str]) -> list[dict[str, Any]]:
        data = _json(output, "list-tokens")
        return data if isinstance(data, list) else []


class PbsNode(FactBase[dict[str, Any]]):
    """``node show --output-format json`` (node.cfg).

    **Example:**

    .. code:: python

        host.get_fact(PbsNode)
        # {"ciphers-tls-1.2": "PSK-AES256-GCM-SHA384", "ciphers-tls-1.3": "TLS_AES_256_GCM_SHA384"}
    """

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self) -> str:
        return shlex.join(commands.node_show())

    def process(self, output: list[str]) -> dict[str, Any]:
        data = _json(output, "node show")
        return data if isinstance(data, dict) else {}


class PbsCertFingerprint(FactBase[str | None]):
    """SHA-256 fingerprint of the proxy certificate from ``cert info`` (None: no cert).

    **Example:**

    .. code:: python

        host.get_fact(PbsCertFingerprint)  # "64:d3:…:fe"
    """

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self) -> str:
        return (shlex.join(commands.cert_info())
                + " 2>/dev/null | sed -n 's/^Fingerprint (sha256): *//p' || true")

    def process(self, output: list[str]) -> str | None:
        value = "".join(output).strip().lower()
        return value or None


class DatastorePaths(FactBase[dict[str, dict[str, Any]]]):
    """Owner and chunk-store presence of datastore directories.

    + paths: the datastore directories

    **Example:**

    .. code:: python

        host.get_fact(DatastorePaths, paths=["/mnt/datastore/store1"])
        # {"/mnt/datastore/store1": {"exists": True, "owner": "backup:backup", "chunks": True}}
    """

    @staticmethod
    def default() -> dict[str, dict[str, Any]]:
        return {}

    def command(self, paths: list[str]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths) or "''"
        return (f"for p in {quoted}; do "
                "if [ -d \"$p\" ]; then o=$(stat -c %U:%G \"$p\"); else o=-; fi; "
                "if [ -d \"$p/.chunks\" ]; then c=chunks; else c=none; fi; "
                "printf '%s\\t%s\\t%s\\n' \"$o\" \"$c\" \"$p\"; done")

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for line in output:
            owner, chunks, path = line.split("\t", 2)
            out[path] = {"exists": owner != "-", "owner": None if owner == "-" else owner,
                         "chunks": chunks == "chunks"}
        return out


class RemotePasswordDigests(FactBase[dict[str, str]]):
    """sha256 of each remote's stored password (remote.cfg keeps it base64-encoded), so the
    controller can tell whether a token secret changed without the secret leaving the host.

    **Example:**

    .. code:: python

        host.get_fact(RemotePasswordDigests)  # {"pbs1": "9f86d08…"}
    """

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def command(self) -> str:
        return ("f=/etc/proxmox-backup/remote.cfg; [ -r $f ] || exit 0; "
                "awk '/^remote:/ {n=$2} /^[ \\t]+password[ \\t]/ {print n, $2}' $f | "
                "while read -r n p; do "
                "printf '%s %s\\n' \"$n\" \"$(printf '%s' \"$p\" | base64 -d | sha256sum | "
                "cut -d' ' -f1)\"; done")

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in output if " " in line)


class PbsS3Endpoints(FactBase[list[dict[str, Any]]]):
    """``proxmox-backup-manager s3 endpoint list`` (PBS 4; no secret key) as a list of dicts.

    **Example:**

    .. code:: python

        host.get_fact(PbsS3Endpoints)
        # [{"id": "ceph", "endpoint": "10.0.0.5", "port": 7480, "path-style": True, …}]
    """

    @staticmethod
    def default() -> list[dict[str, Any]]:
        return []

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self) -> str:
        return shlex.join(commands.s3_endpoint_list())

    def process(self, output: list[str]) -> list[dict[str, Any]]:
        data = _json(output, "s3 endpoint list")
        return data if isinstance(data, list) else []


class PbsNotifications(FactBase[list[dict[str, Any]]]):
    """``notification endpoint <type> list`` or ``notification matcher list`` as dicts.

    + what: a target type (``sendmail``, ``smtp``, ``gotify``, ``webhook``) or ``matcher``

    **Example:**

    .. code:: python

        host.get_fact(PbsNotifications, what="smtp")
        # [{"name": "relay", "server": "mail.example.org", "mode": "starttls", …}]
    """

    @staticmethod
    def default() -> list[dict[str, Any]]:
        return []

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return commands.PBM

    def command(self, what: str) -> str:
        return shlex.join(commands.notification_list(commands.notification_path(what)))

    def process(self, output: list[str]) -> list[dict[str, Any]]:
        data = _json(output, "notification list")
        return data if isinstance(data, list) else []


class SectionSecretDigests(FactBase[dict[str, str]]):
    """sha256 of the values of property *key* per section of a PBS config file (lines joined
    by newlines), so the controller can tell a changed secret (S3 ``secret-key``,
    notification ``password``/``token``/``secret``) without the secret leaving the host.

    + path: the section-config file (``/etc/proxmox-backup/s3.cfg`` …)
    + key: the property holding the secret

    **Example:**

    .. code:: python

        host.get_fact(SectionSecretDigests, path="/etc/proxmox-backup/s3.cfg",
                      key="secret-key")  # {"ceph": "9f86d08…"}
    """

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def command(self, path: str, key: str) -> str:
        awk = ("/^[^ \\t#][^:]*:[ \\t]/ {sub(/^[^:]*:[ \\t]*/, \"\"); n=$1; next} "
               "n != \"\" && $1 == k {sub(/^[ \\t]+[^ \\t]+[ \\t]+/, \"\"); "
               "if (n in v) v[n] = v[n] \"\\037\" $0; else v[n] = $0} "
               "END {for (n in v) print n \"\\t\" v[n]}")
        return (f"f={shlex.quote(path)}; [ -r \"$f\" ] || exit 0; "
                f"awk -v k={shlex.quote(key)} {shlex.quote(awk)} \"$f\" | "
                "while IFS='\t' read -r n v; do "
                "printf '%s %s\\n' \"$n\" \"$(printf '%s' \"$v\" | tr '\\037' '\\n' | "
                "sha256sum | cut -d' ' -f1)\"; done")

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in output if " " in line)


class BlockDeviceByUuid(FactBase[bool]):
    """Whether ``/dev/disk/by-uuid/<uuid>`` is a block device now (a removable datastore's
    device is attached).

    + uuid: the filesystem UUID

    **Example:**

    .. code:: python

        host.get_fact(BlockDeviceByUuid, uuid="0a1b2c3d-…")  # True
    """

    @staticmethod
    def default() -> bool:
        return False

    def command(self, uuid: str) -> str:
        return f"test -b {shlex.quote('/dev/disk/by-uuid/' + uuid)} && echo attached || true"

    def process(self, output: list[str]) -> bool:
        return "attached" in output
