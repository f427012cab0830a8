"""The PBS configuration step: TLS, datastores, namespaces, identities, remotes, jobs.

``pbs_config_step(pbs_major)`` is called by ``deploys/node.py`` after apt/zfs/nftables; the
PVE hand-off (``deploys/pve_link.py``) reuses :func:`pbs_access`. Order matters across hosts:
tokens are generated (and their secrets stored) before any remote or PVE storage that needs
them, because pyinfra runs operations in code order on all hosts.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import LinuxDistribution, Which
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys import schema, secrets
from deploys.pbs import commands, context, desired, operations, plan, secretcmd, tls
from deploys.pbs.desired import (
    PRUNE_MANAGED,
    SYNC_MANAGED,
    VERIFY_MANAGED,
    PbsObjects,
)
from deploys.pbs.facts import (
    BlockDeviceByUuid,
    DatastorePaths,
    PbsList,
    PbsNode,
    PbsNotifications,
    PbsS3Endpoints,
    PbsTokens,
    RemotePasswordDigests,
    SectionSecretDigests,
)
from deploys.pbs.report import hardening_report

CONF = "/etc/proxmox-backup"


def objects() -> PbsObjects:
    """Desired objects of the current host (an inventory inconsistency stops the run)."""
    try:
        return desired.pbs_objects(context.fleet(), host.name,
                                   context.peer_fingerprint_later)
    except desired.DesiredError as exc:
        raise DeployError(str(exc)) from None


def pbs_major_version() -> int:
    """``pbs_version`` or, from Debian: 12 → 3, 13 → 4."""
    configured = schema.value(host, "pbs_version")
    if configured:
        return int(configured)
    major = host.get_fact(LinuxDistribution).get("major") or 12
    return 4 if int(major) >= 13 else 3


def _tls() -> list[Any]:
    """Certificate upload, node ciphers (+ optional OPENSSL_CONF drop-in); changed ops."""
    changed = []
    cert = schema.value(host, "pbs_certificate")
    if cert:
        changed.append(files.put(name="PBS proxy certificate", src=cert["cert"],
                                 dest=f"{CONF}/proxy.pem", user="root", group="backup",
                                 mode="640"))
        changed.append(files.put(name="PBS proxy key", src=cert["key"],
                                 dest=f"{CONF}/proxy.key", user="root", group="backup",
                                 mode="640"))
    wanted, policy = desired.node_options(context.view(host.name))
    current = host.get_fact(PbsNode)
    sets = {k: v for k, v in wanted.items() if v is not None and current.get(k) != v}
    deletes = sorted(k for k, v in wanted.items() if v is None and k in current)
    changed.append(operations.node_config(name=f"Node TLS policy {policy} (+ ACME settings)",
                                          sets=sets, deletes=deletes))
    use_conf = policy == "tls13" and schema.value(host, "pbs_tls_openssl_conf")
    if use_conf:
        changed.append(files.put(name="OpenSSL config: TLS 1.3 minimum for the proxy",
                                 src=StringIO(tls.openssl_conf_text()),
                                 dest=tls.OPENSSL_CONF_PATH, mode="644"))
        files.directory(name="proxy drop-in directory", path=tls.DROPIN_DIR, mode="755")
        changed.append(files.put(name="proxy drop-in OPENSSL_CONF",
                                 src=StringIO(tls.dropin_text()), dest=tls.DROPIN_PATH,
                                 mode="644"))
    else:
        changed.append(files.file(name="No proxy OpenSSL override",
                                  path=tls.OPENSSL_CONF_PATH, present=False))
        changed.append(files.file(name="No proxy drop-in", path=tls.DROPIN_PATH,
                                  present=False))
    return changed


def _listed(kind: str, key: str) -> dict[str, dict[str, Any]]:
    """The PBS objects of *kind* as they are now, by their *key* (``name``, ``id``, …)."""
    rows = host.get_fact(PbsList, kind=kind)
    return plan.by_id(rows, key)


def _datastores(objs: PbsObjects, pbs_major: int) -> None:
    """Create or update the datastores; a removable one whose device is not attached is left
    for a later run (with its jobs and namespaces), with one warning line."""
    current = _listed("datastore", "name")
    local = [d for d in objs.datastores.values() if "backing-device" not in d.options]
    paths = host.get_fact(DatastorePaths, paths=[d.path for d in local])
    for ds in objs.datastores.values():
        chunk_store = bool(paths.get(ds.path, {}).get("chunks"))
        refusal = operations.datastore_refusal(ds.name, ds.path, current.get(ds.name),
                                               chunk_store, ds.reuse_existing, pbs_major,
                                               ds.options)
        if refusal:
            raise DeployError(f"{host.name}: {refusal}")
    for ds in list(objs.datastores.values()):
        device = ds.options.get("backing-device")
        if device and ds.name not in current:
            if not host.get_fact(BlockDeviceByUuid, uuid=device):
                # an absent removable device is a state, not a fault: PBS could not mount it
                logger.warning(f"{host.name}: removable datastore {ds.name} not created: its "
                               f"device {device} is not attached; plug it in and re-run")
                _forget(objs, ds.name)
                continue
        elif ds.name not in current:
            files.directory(name=f"Datastore directory {ds.path} (backup:backup)", path=ds.path,
                            user="backup", group="backup", mode="755")
        operations.datastore(name=f"Datastore {ds.name}", ds_name=ds.name, path=ds.path,
                             options=ds.options, current=current.get(ds.name),
                             reuse_chunk_store=bool(paths.get(ds.path, {}).get("chunks")))


def _forget(objs: PbsObjects, store: str) -> None:
    """Drop a datastore that is not created in this run, and everything that needs it."""
    del objs.datastores[store]
    objs.namespaces[:] = [(s, ns) for s, ns in objs.namespaces if s != store]
    for jobs in (objs.prune_jobs, objs.verify_jobs, objs.sync_jobs):
        for job_id in [j for j, opts in jobs.items() if opts.get("store") == store]:
            del jobs[job_id]


def s3_endpoints(objs: PbsObjects) -> None:
    """PBS 4 S3 endpoints (before the datastores that use them); secret keys from the store."""
    if not objs.s3_endpoints:
        return
    endpoints = host.get_fact(PbsS3Endpoints)
    current = plan.by_id(endpoints, "id")
    digests = host.get_fact(SectionSecretDigests, path=f"{CONF}/s3.cfg", key="secret-key")
    path, store = context.store_path(host.name), context.store(host.name)
    for endpoint_id, opts in sorted(objs.s3_endpoints.items()):
        key = f"s3:{host.name}:{endpoint_id}"
        secret = store.get(key)
        if secret is None:
            raise DeployError(f"{host.name}: no secret key for S3 endpoint {endpoint_id} in "
                              f"{path}; add it with: python3 -m deploys.secrets set {key}")
        push = endpoint_id in current and digests.get(endpoint_id) != secretcmd.digest(secret)
        operations.s3_endpoint(name=f"S3 endpoint {endpoint_id} (secret key from the store)",
                               endpoint_id=endpoint_id, options=opts,
                               current=current.get(endpoint_id), push_secret=push,
                               store_path=path, store_key=key)


def notifications(objs: PbsObjects) -> None:
    """Notification targets (secrets from the store), then the matchers that use them."""
    if not objs.targets and not objs.matchers:
        return
    path, store = context.store_path(host.name), context.store(host.name)
    priv = f"{CONF}/notifications-priv.cfg"
    for name, target in sorted(objs.targets.items()):
        targets = host.get_fact(PbsNotifications, what=target.type)
        current = plan.by_id(targets, "name")
        push, key = False, f"notify:{host.name}:{name}"
        if target.secret_key:
            secret = store.get(key)
            if secret is None and target.type != "smtp":
                raise DeployError(f"{host.name}: no secret for notification target {name} in "
                                  f"{path}; add it with: python3 -m deploys.secrets set {key}")
            if secret is not None:
                digests = host.get_fact(SectionSecretDigests, path=priv, key=target.secret_key)
                push = name in current and digests.get(name) != secretcmd.secret_digest(
                    target.secret_key, secret)
        operations.notification_entry(
            name=f"Notification target {name} ({target.type})", kind=target.type,
            entry_name=name, options=target.options, current=current.get(name),
            managed=desired.TARGET_MANAGED[target.type],
            secret_option=target.secret_key if store.get(key) is not None else None,
            push_secret=push, store_path=path, store_key=key)
    matchers = host.get_fact(PbsNotifications, what="matcher")
    current = plan.by_id(matchers, "name")
    for name, opts in sorted(objs.matchers.items()):
        operations.notification_entry(name=f"Notification matcher {name}", kind="matcher",
                                      entry_name=name, options=opts, current=current.get(name),
                                      managed=desired.MATCHER_MANAGED)


def namespaces(objs: PbsObjects) -> None:
    """Namespace directories ``<datastore>/ns/<a>[/ns/<b>…]`` owned backup:backup, the way
    PBS creates them (a namespace is only a directory, pbs-internals.md §1.3)."""
    for store, ns in objs.namespaces:
        base = objs.datastores[store].path
        parts = ns.split("/")
        for depth in range(1, len(parts) + 1):
            path = base + "".join(f"/ns/{p}" for p in parts[:depth])
            files.directory(name=f"Namespace {store}:{'/'.join(parts[:depth])}", path=path,
                            user="backup", group="backup", mode="755")


def pbs_access(objs: PbsObjects) -> None:
    """Users, tokens (secrets captured to the controller) and least-privilege ACLs."""
    users = _listed("user", "userid")
    for userid, opts in sorted(objs.users.items()):
        operations.user(name=f"User {userid}", userid=userid, options=opts,
                        current=users.get(userid))
    regenerate = set(schema.value(host, "pbs_regenerate_tokens"))
    path = context.store_path(host.name)
    store = context.store(host.name)
    existing: set[str] = set()
    for userid in sorted({t.split("!")[0] for t in objs.tokens} & set(users)):
        existing |= {t["tokenid"] for t in host.get_fact(PbsTokens, userid=userid)}
    for token_id, opts in sorted(objs.tokens.items()):
        key = secrets.token_key(host.name, token_id)
        operations.token(name=f"Token {token_id}", token_id=token_id, options=opts,
                         exists=token_id in existing, secret_known=store.get(key) is not None,
                         regenerate=token_id in regenerate, store_path=path, store_key=key)
    current = [e for e in host.get_fact(PbsList, kind="acl")
               if not (e["ugid"] in regenerate and e["ugid"] in existing)]
    managed = set(objs.users) | set(objs.tokens)
    add, remove = plan.acl_changes(current, objs.acls, managed)
    operations.acls(name="ACLs (least privilege, user and token)", add=add, remove_=remove)


def _remotes_and_sync(objs: PbsObjects) -> None:
    current = _listed("remote", "name")
    digests = host.get_fact(RemotePasswordDigests) if current else {}
    for remote in objs.remotes.values():
        peer = remote.secret.pbs_host
        key = secrets.token_key(peer, remote.secret.token_id)
        secret = context.store(peer).get(key)
        regenerating = remote.secret.token_id in context.view(peer).value(
            "pbs_regenerate_tokens")
        push = remote.name in current and (
            regenerating or (secret is not None
                             and digests.get(remote.name) != secretcmd.digest(secret)))
        operations.remote(name=f"Remote {remote.name} (fingerprint pinned)",
                          remote_name=remote.name, options=remote.options,
                          current=current.get(remote.name), push_password=push,
                          store_path=context.store_path(peer), store_key=key,
                          pin_from=peer if remote.pin_later else None)
    _jobs("sync-job", objs.sync_jobs, SYNC_MANAGED)


def _jobs(kind: str, wanted: dict[str, dict[str, Any]], managed: tuple[str, ...]) -> None:
    current = _listed(kind, "id")
    for job_id, opts in sorted(wanted.items()):
        operations.job(name=f"{kind} {job_id}", kind=kind, job_id=job_id, options=opts,
                       current=current.get(job_id), managed=managed)


def _present(kind: str, ids: list[str]) -> set[str]:
    """Which of *ids* of *kind* exist on PBS now."""
    if kind == "token":
        users = {i.split("!")[0] for i in ids}
        return {t["tokenid"] for u in sorted(users) for t in host.get_fact(PbsTokens, userid=u)}
    id_key = "name" if kind in ("datastore", "remote") else "id"
    return {row[id_key] for row in host.get_fact(PbsList, kind=kind)}


def _removals() -> None:
    for kind, ids in sorted(schema.value(host, "pbs_remove").items()):
        present = _present(kind, ids)
        for object_id in ids:
            operations.remove(name=f"Remove {kind} {object_id} (asked in pbs_remove)",
                              kind=kind, object_id=object_id, exists=object_id in present)


@deploy("PBS configuration")
def pbs_config(pbs_major: int | None = None) -> None:
    """Everything PBS-side, then the hardening report."""
    major = pbs_major or pbs_major_version()
    objs = objects()
    tls_changes = _tls()
    s3_endpoints(objs)
    _datastores(objs, major)
    namespaces(objs)
    notifications(objs)
    pbs_access(objs)
    operations.sync_point(name="All PBS tokens issued", what="tokens issued")
    _remotes_and_sync(objs)
    _jobs("prune-job", objs.prune_jobs, PRUNE_MANAGED)
    _jobs("verify-job", objs.verify_jobs, VERIFY_MANAGED)
    _removals()
    systemd.daemon_reload(name="systemd daemon-reload (proxy drop-in)",
                          _if=any_changed(*tls_changes[-2:]))
    systemd.service(name="Restart proxmox-backup-proxy (TLS settings changed)",
                    service=tls.PROXY_UNIT, restarted=True, _if=any_changed(*tls_changes))
    hardening_report(policy=schema.value(host, "pbs_tls_policy"))


def pbs_config_step(pbs_major: int | None = None) -> None:
    """Entry for ``deploys/node.py``: the PBS configuration of a PBS node.

    Skipped (with a warning) only when PBS is absent AND the TEST-ONLY switch
    ``test_only_skip_packages`` says it will not be installed in this run.
    """
    skipped = "proxmox-backup-server" in (host.data.get("test_only_skip_packages") or [])
    if skipped and not host.get_fact(Which, command=commands.PBM):
        logger.warning(f"{host.name}: PBS configuration skipped: proxmox-backup-server is not "
                       "installed and test_only_skip_packages skips it")
        return
    pbs_config(pbs_major=pbs_major)
