"""The PBS storage entry on a PVE node, idempotent; secrets filled in at execution time.

    >>> pbs_storage(name="PBS storage pbs-pbs1-store1", storage=…, current=None, …)
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.command import PyinfraCommand

from deploys.pbs import commands as pbs_commands
from deploys.pbs import plan, secretcmd
from deploys.pbs.desired import PveStorage
from deploys.pve import commands

#: storage.cfg keys this deploy owns (besides the fixed server/datastore).
MANAGED = ("username", "fingerprint", "namespace", "port", "content", "prune-backups",
           "encryption-key")
FIXED = ("server", "datastore")


def storage_refusal(storage: PveStorage, current: Mapping[str, Any] | None) -> str | None:
    """Why an existing storage entry cannot be brought to the inventory (one line), or None."""
    if current is None:
        return None
    sid = storage.storage_id
    if current.get("type") != "pbs":
        return f"storage {sid} exists with type {current.get('type')}, not pbs"
    for key in FIXED:
        if str(current.get(key)) != str(storage.options[key]):
            return (f"storage {sid} has {key} {current.get(key)}, the inventory says "
                    f"{storage.options[key]}; PVE cannot change a fixed option: remove the "
                    "storage or give it a new id")
    return None


@operation()
def pbs_storage(storage: PveStorage, current: Mapping[str, Any] | None, push_password: bool,
                key_fingerprint: str | None, store_path: str,
                store_keys: Sequence[str]) -> Generator[str | PyinfraCommand, None, None]:
    """``pvesm add pbs`` when missing; ``pvesm set`` for a changed fingerprint, namespace,
    token, password (a regenerated secret) or encryption key. Secrets are filled in at
    execution time from the controller store and never printed.

    + storage: the desired storage entry
    + current: the entry in ``storage.cfg`` now, None if absent
    + push_password: (re)send the token secret
    + key_fingerprint: fingerprint of the encryption key to set, None without encryption
    + store_path: the controller's secret store file
    + store_keys: the token secret's key, then the encryption key's key, in that store

    **Example:**

    .. code:: python

        pbs_storage(name="PBS storage pbs-pbs1-store1", storage=storage, current=None,
                    push_password=True, key_fingerprint=None,
                    store_path="~/.config/pbs-fleet/secrets.json",
                    store_keys=["token:pbs1:pve-a@pbs!pve"])
    """
    sid = storage.storage_id
    token_key = store_keys[0]
    if current is None:
        opts: dict[str, Any] = {**storage.options, "password": secretcmd.placeholder(0)}
        if key_fingerprint:
            opts["encryption-key"] = secretcmd.placeholder(1)
        yield FunctionCommand(secretcmd.run_with_secrets,
                              (commands.pvesm_add(sid, opts), store_path, list(store_keys),
                               f"pvesm add pbs {sid}", "PVE"), {})
        return
    wanted = {k: v for k, v in storage.options.items() if k not in FIXED}
    if key_fingerprint:
        wanted["encryption-key"] = key_fingerprint
    sets, deletes = plan.diff_options({k: v for k, v in current.items() if k != "type"},
                                      wanted, MANAGED)
    secret_opts: dict[str, Any] = {}
    keys = [token_key]
    if "encryption-key" in sets:
        secret_opts["encryption-key"] = secretcmd.placeholder(1)
        keys.append(store_keys[1])
        sets.pop("encryption-key")
    if push_password:
        secret_opts["password"] = secretcmd.placeholder(0)
    if secret_opts:
        yield FunctionCommand(secretcmd.run_with_secrets,
                              (commands.pvesm_set(sid, {**sets, **secret_opts}, deletes),
                               store_path, keys, f"pvesm set {sid}", "PVE"), {})
    elif sets or deletes:
        yield pbs_commands.checked(commands.pvesm_set(sid, sets, deletes), f"pvesm set {sid}",
                                   "PVE")
    else:
        host.noop(f"PBS storage {sid} is up to date")
