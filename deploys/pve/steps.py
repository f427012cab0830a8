"""PVE side of the hand-off: one ``pvesm`` PBS storage per inventory entry.

The token secret comes from the controller store (written when PBS issued the token earlier
in the same run); the optional client-side encryption key is generated on the controller,
kept there as the master copy (``<secrets dir>/keys/<cluster>-<storage>.json``, 0600) and
handed to PVE with ``--encryption-key``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from deploys import secrets
from deploys.pbs import context, desired, keyfile, secretcmd
from deploys.pve.facts import PveSecretDigests, PveStorageConfig
from deploys.pve.operations import pbs_storage, storage_refusal


def encryption_key(cluster: str, storage_id: str, store_path: str) -> tuple[str, str, str]:
    """(store key, key fingerprint, key-file digest) of the storage's key, generated once on
    the controller."""
    store = secrets.SecretStore(Path(store_path))
    key = f"enckey:{cluster}:{storage_id}"
    text = store.get(key)
    if text is None:
        text = keyfile.dumps(keyfile.key_config(keyfile.generate_key())).strip()
        store.put(key, text)
        master = Path(store_path).parent / "keys" / f"{cluster}-{storage_id}.json"
        secrets.write_private_file(master, text + "\n")
    return key, json.loads(text)["fingerprint"], secretcmd.digest(text.replace("\n", ""))


@deploy("PVE: PBS storages")
def pve_storages() -> None:
    """Add or update every PBS storage of this PVE node."""
    try:
        wanted = desired.pve_storages(context.fleet(), host.name, context.fingerprint_of)
    except desired.DesiredError as exc:
        raise DeployError(str(exc)) from None
    if not wanted:
        host.noop("no pve_pbs_storages for this node")
        return
    cfg = host.get_fact(PveStorageConfig)
    digests = host.get_fact(PveSecretDigests, storage_ids=[s.storage_id for s in wanted])
    cluster = desired.pve_cluster(context.view(host.name))
    for storage in wanted:
        refusal = storage_refusal(storage, cfg.get(storage.storage_id))
        if refusal:
            raise DeployError(f"{host.name}: {refusal}")
    for storage in wanted:
        pbs = storage.secret.pbs_host
        path = context.store_path(pbs)
        token_key = secrets.token_key(pbs, storage.secret.token_id)
        secret = context.store(pbs).get(token_key)
        regenerating = storage.secret.token_id in context.view(pbs).value(
            "pbs_regenerate_tokens")
        current = cfg.get(storage.storage_id)
        push = current is not None and (regenerating or (
            secret is not None and digests.get(storage.storage_id) != secretcmd.digest(secret)))
        keys = [token_key]
        fingerprint = None
        if storage.encryption:
            enc_key, fingerprint, key_digest = encryption_key(cluster, storage.storage_id, path)
            keys.append(enc_key)
            if current and digests.get(f"{storage.storage_id}.enc") == key_digest:
                # PVE holds exactly our key file; storage.cfg may show it as "1"
                fingerprint = current.get("encryption-key", fingerprint)
        pbs_storage(name=f"PBS storage {storage.storage_id} on {pbs}", storage=storage,
                    current=current, push_password=push, key_fingerprint=fingerprint,
                    store_path=path, store_keys=keys)
