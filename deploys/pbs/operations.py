"""Operations on PBS objects: create when missing, update what differs, remove only when asked.

Each operation receives the current state (read once by the step from the facts) and the
desired state, and yields nothing on a converged host. Every PBS command is wrapped by
:func:`deploys.pbs.commands.checked`, so PBS's own error text surfaces as one line.

    >>> job(name="Prune job store1-prune", kind="prune-job", job_id="store1-prune",
    ...     options={"store": "store1", "schedule": "daily", "keep-daily": 7},
    ...     current=None, managed=PRUNE_MANAGED)
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.command import PyinfraCommand

from deploys.pbs import commands, plan, secretcmd
from deploys.pbs.desired import DATASTORE_CREATE_ONLY, DATASTORE_MANAGED, S3_MANAGED, Acl


@operation()
def datastore(ds_name: str, path: str, options: Mapping[str, Any],
              current: Mapping[str, Any] | None,
              reuse_chunk_store: bool) -> Generator[str | PyinfraCommand, None, None]:
    """Create (re-attaching an existing chunk store with PBS 4's ``--reuse-datastore``) or
    update one datastore. Refusals are decided before, in :func:`datastore_refusal`.

    + ds_name: the datastore name
    + path: its directory
    + options: the managed options (``gc-schedule``, ``notify``, ``tuning``, …)
    + current: the datastore as PBS lists it now, None if absent
    + reuse_chunk_store: re-attach the chunk store already at *path* (PBS 4)

    **Example:**

    .. code:: python

        datastore(name="Datastore store1", ds_name="store1", path="/mnt/datastore/store1",
                  options={"gc-schedule": "daily"}, current=None, reuse_chunk_store=False)
    """
    if current is None:
        yield commands.checked(commands.datastore_create(ds_name, path, options,
                                                         reuse_datastore=reuse_chunk_store),
                               f"datastore create {ds_name}")
        return
    sets, deletes = plan.diff_options(current, options, DATASTORE_MANAGED)
    if sets or deletes:
        yield commands.checked(commands.datastore_update(ds_name, sets, deletes),
                               f"datastore update {ds_name}")
    else:
        host.noop(f"datastore {ds_name} is up to date")


def datastore_refusal(ds_name: str, path: str, current: Mapping[str, Any] | None,
                      chunk_store: bool, reuse_existing: bool, pbs_major: int,
                      options: Mapping[str, Any] | None = None) -> str | None:
    """Why this datastore must not be touched (one line), or None. Data is never wiped; the
    create-only ``backend`` and ``backing-device`` are never changed behind PBS's back."""
    if current is not None:
        if current.get("path") != path:
            return (f"datastore {ds_name} is at {current.get('path')} on PBS, the inventory "
                    f"says {path}; move it by hand")
        for key in DATASTORE_CREATE_ONLY:
            have, want = current.get(key), (options or {}).get(key)
            if (have is not None or want is not None) \
                    and _as_created(key, have) != _as_created(key, want):
                return (f"datastore {ds_name}: {key} is {have or 'unset'} on PBS, the "
                        f"inventory says {commands.render_value(want) if want else 'unset'}; "
                        f"PBS sets {key} only at creation: remove the datastore (data stays) "
                        "and create it again")
        return None
    if chunk_store and not reuse_existing:
        return f"{path} already holds a chunk store; set reuse_existing to re-attach it"
    if chunk_store and pbs_major < 4:
        return (f"{path} already holds a chunk store and PBS {pbs_major} has no "
                "--reuse-datastore; re-attach it by hand (docs/pbs-config.md, 'Datastores: "
                "paths, ownership, re-attaching') and rerun")
    return None


def _as_created(key: str, value: Any) -> Any:
    """A create-only value as PBS would have it: ``type=filesystem`` is the same as unset."""
    normal = plan.normalize(key, value if value is not None else "")
    return "" if normal in ({}, {"type": "filesystem"}) else normal


@operation()
def job(kind: str, job_id: str, options: Mapping[str, Any], current: Mapping[str, Any] | None,
        managed: Iterable[str]) -> Generator[str | PyinfraCommand, None, None]:
    """Create or update one prune/verify/sync job.

    + kind: ``prune-job``, ``verify-job`` or ``sync-job``
    + job_id: the job's id
    + options: the desired options
    + current: the job as PBS lists it now, None if absent
    + managed: the options this deploy owns (others are left alone)

    **Example:**

    .. code:: python

        job(name="Prune job store1-prune", kind="prune-job", job_id="store1-prune",
            options={"store": "store1", "schedule": "daily", "keep-daily": 7},
            current=None, managed=PRUNE_MANAGED)
    """
    if current is None:
        yield commands.checked(commands.job_create(kind, job_id, options),
                               f"{kind} create {job_id}")
        return
    sets, deletes = plan.diff_options(current, options, managed)
    if sets or deletes:
        yield commands.checked(commands.job_update(kind, job_id, sets, deletes),
                               f"{kind} update {job_id}")
    else:
        host.noop(f"{kind} {job_id} is up to date")


@operation()
def remove(kind: str, object_id: str, exists: bool) -> Generator[str | PyinfraCommand, None, None]:
    """Remove one object listed in ``pbs_remove`` (datastores keep their data).

    + kind: ``datastore``, ``remote``, ``token`` or a job kind
    + object_id: its id (``user@realm!name`` for a token)
    + exists: whether PBS has it now

    **Example:**

    .. code:: python

        remove(name="Remove verify-job old", kind="verify-job", object_id="old", exists=True)
    """
    if not exists:
        host.noop(f"{kind} {object_id} is already absent")
        return
    if kind == "token":
        argv = commands.token_delete(*object_id.split("!", 1))
    elif kind == "datastore":
        argv = commands.datastore_remove(object_id)
    elif kind == "remote":
        argv = commands.remote_remove(object_id)
    else:
        argv = commands.job_remove(kind, object_id)
    yield commands.checked(argv, f"{kind} remove {object_id}")


@operation()
def user(userid: str, options: Mapping[str, Any],
         current: Mapping[str, Any] | None) -> Generator[str | PyinfraCommand, None, None]:
    """Create a PBS user (realm pbs, no password: it authenticates with tokens) or update it.

    + userid: ``name@pbs``
    + options: ``comment`` and ``email``
    + current: the user as PBS lists it now, None if absent

    **Example:**

    .. code:: python

        user(name="User pve-a@pbs", userid="pve-a@pbs", options={"comment": "PVE a"},
             current=None)
    """
    if current is None:
        yield commands.checked(commands.user_create(userid, options), f"user create {userid}")
        return
    sets, deletes = plan.diff_options(current, options, ("comment", "email"))
    if sets or deletes:
        yield commands.checked(commands.user_update(userid, sets, deletes),
                               f"user update {userid}")
    else:
        host.noop(f"user {userid} is up to date")


@operation()
def token(token_id: str, options: Mapping[str, Any], exists: bool, secret_known: bool,
          regenerate: bool, store_path: str,
          store_key: str) -> Generator[str | PyinfraCommand, None, None]:
    """Generate an API token, capturing its one-time secret into the controller store.

    An existing token whose secret the store lacks is reported, not replaced, unless
    *regenerate* (``pbs_regenerate_tokens``) asks for it.

    + token_id: ``user@realm!name``
    + options: token options (``comment``)
    + exists: whether PBS has the token now
    + secret_known: whether the controller store holds its secret
    + regenerate: delete and reissue an existing token
    + store_path: the controller's secret store file
    + store_key: the token secret's key in that store

    **Example:**

    .. code:: python

        token(name="Token pve-a@pbs!pve", token_id="pve-a@pbs!pve", options={},
              exists=False, secret_known=False, regenerate=False,
              store_path="~/.config/pbs-fleet/secrets.json",
              store_key="token:pbs1:pve-a@pbs!pve")
    """
    userid, name = token_id.split("!", 1)
    if exists and not regenerate:
        if not secret_known:
            host.noop(f"token {token_id} exists but its secret is not in {store_path}; "
                      "list it in pbs_regenerate_tokens to issue a new one")
        else:
            host.noop(f"token {token_id} exists, secret on file")
        return
    yield FunctionCommand(secretcmd.generate_token,
                          (userid, name, dict(options), store_path, store_key,
                           exists and regenerate), {})


@operation()
def acls(add: list[Acl], remove_: list[Acl]) -> Generator[str | PyinfraCommand, None, None]:
    """Grant missing ACL entries and revoke stale ones of identities this deploy manages.

    + add: entries to grant
    + remove_: entries to revoke

    **Example:**

    .. code:: python

        acls(name="ACLs", add=[Acl("/datastore/store1", "pve-a@pbs!pve", "DatastoreBackup")],
             remove_=[])
    """
    for entry in add:
        yield commands.checked(commands.acl_update(entry.path, entry.role, entry.auth_id,
                                                   propagate=entry.propagate),
                               f"acl update {entry.path} {entry.role} {entry.auth_id}")
    for entry in remove_:
        yield commands.checked(commands.acl_update(entry.path, entry.role, entry.auth_id,
                                                   delete=True),
                               f"acl delete {entry.path} {entry.role} {entry.auth_id}")
    if not add and not remove_:
        host.noop("ACLs are up to date")


@operation()
def remote(remote_name: str, options: Mapping[str, Any], current: Mapping[str, Any] | None,
           push_password: bool, store_path: str, store_key: str,
           pin_from: str | None = None) -> Generator[str | PyinfraCommand, None, None]:
    """A remote with its pinned fingerprint; the password (a token secret) is filled in at
    execution time from the controller store and never printed. With *pin_from* (the peer had
    no certificate when planning) the fingerprint is read from that peer when executing.

    + remote_name: the remote's name
    + options: ``host``, ``port``, ``auth-id``, ``fingerprint``, ``comment``
    + current: the remote as PBS lists it now, None if absent
    + push_password: (re)send the password (the token secret changed)
    + store_path: the controller's secret store file
    + store_key: the password's key in that store
    + pin_from: inventory name of the peer whose certificate to pin at execution time

    **Example:**

    .. code:: python

        remote(name="Remote pbs1", remote_name="pbs1", current=None, push_password=True,
               options={"host": "10.0.0.11", "auth-id": "sync@pbs!pbs2"},
               store_path="~/.config/pbs-fleet/secrets.json",
               store_key="token:pbs1:sync@pbs!pbs2")
    """
    what = f"remote {'create' if current is None else 'update'} {remote_name}"
    if current is None:
        if pin_from:
            options = {**options, "fingerprint": secretcmd.FINGERPRINT}
        template = commands.remote_create(remote_name, options, secretcmd.SECRET)
        yield FunctionCommand(secretcmd.run_with_secrets,
                              (template, store_path, [store_key], what), {"pin_from": pin_from})
        return
    managed = ("port", "comment") if pin_from else ("port", "fingerprint", "comment")
    sets, deletes = plan.diff_options(current, options, managed)
    if push_password:
        template = commands.remote_update(remote_name, sets, deletes, secretcmd.SECRET)
        yield FunctionCommand(secretcmd.run_with_secrets,
                              (template, store_path, [store_key], what), {})
    elif sets or deletes:
        yield commands.checked(commands.remote_update(remote_name, sets, deletes), what)
    else:
        host.noop(f"remote {remote_name} is up to date")


@operation()
def node_config(sets: Mapping[str, str],
                deletes: list[str]) -> Generator[str | PyinfraCommand, None, None]:
    """``node update`` for the TLS ciphers / ACME settings.

    + sets: node.cfg keys to set
    + deletes: node.cfg keys to delete

    **Example:**

    .. code:: python

        node_config(name="TLS policy", sets={"ciphers-tls-1.3": "TLS_AES_256_GCM_SHA384"},
                    deletes=[])
    """
    if sets or deletes:
        yield commands.checked(commands.node_update(sets, deletes), "node update")
    else:
        host.noop("node config is up to date")


@operation()
def sync_point(what: str) -> Generator[str | PyinfraCommand, None, None]:
    """A no-op every host of the run passes at the same place in the code.

    pyinfra orders operations as a graph of each host's own sequence; an operation shared by
    all hosts is a single node, so everything before it (e.g. tokens issued on the local PBS)
    runs before anything after it on any host (the offsite remote, the PVE storage).

    + what: what is done by then (shown in the no-op message)

    **Example:**

    .. code:: python

        sync_point(name="All PBS tokens issued", what="tokens issued")
    """
    host.noop(f"sync point: {what}")
    yield from ()


@operation()
def s3_endpoint(endpoint_id: str, options: Mapping[str, Any], current: Mapping[str, Any] | None,
                push_secret: bool, store_path: str,
                store_key: str) -> Generator[str | PyinfraCommand, None, None]:
    """A PBS 4 S3 endpoint; its secret key is filled in at execution time from the controller
    store and never printed (PBS keeps it in ``s3.cfg``, 0640 root:backup, and never lists it).

    + endpoint_id: the endpoint's id (``client`` in a datastore's ``backend``)
    + options: ``endpoint``, ``access-key``, ``port``, ``region``, ``fingerprint``, …
    + current: the endpoint as PBS lists it now, None if absent
    + push_secret: (re)send the secret key (it differs from what the host stores)
    + store_path: the controller's secret store file
    + store_key: the secret key's key in that store (``s3:<host>:<id>``)

    **Example:**

    .. code:: python

        s3_endpoint(name="S3 endpoint ceph", endpoint_id="ceph", current=None,
                    options={"endpoint": "10.0.0.5", "port": 7480, "access-key": "AK…"},
                    push_secret=True, store_path="~/.config/pbs-fleet/secrets.json",
                    store_key="s3:pbs1:ceph")
    """
    what = f"s3 endpoint {'create' if current is None else 'update'} {endpoint_id}"
    if current is None:
        template = commands.s3_endpoint_create(endpoint_id, options, secretcmd.SECRET)
        yield FunctionCommand(secretcmd.run_with_secrets, (template, store_path, [store_key],
                                                           what), {})
        return
    sets, deletes = plan.diff_options(current, options, S3_MANAGED)
    deletes = [d for d in deletes if d != "put-rate-limit"]  # PBS cannot delete it
    if push_secret:
        template = commands.s3_endpoint_update(endpoint_id, sets, deletes, secretcmd.SECRET)
        yield FunctionCommand(secretcmd.run_with_secrets, (template, store_path, [store_key],
                                                           what), {})
    elif sets or deletes:
        yield commands.checked(commands.s3_endpoint_update(endpoint_id, sets, deletes), what)
    else:
        host.noop(f"s3 endpoint {endpoint_id} is up to date")


@operation()
def notification_entry(kind: str, entry_name: str, options: Mapping[str, Any],
                       current: Mapping[str, Any] | None, managed: Iterable[str],
                       secret_option: str | None = None, push_secret: bool = False,
                       store_path: str = "",
                       store_key: str = "") -> Generator[str | PyinfraCommand, None, None]:
    """A notification target (``sendmail``/``smtp``/``gotify``/``webhook``) or matcher. A
    target's secret (smtp ``password``, gotify ``token``, webhook ``secret``s) comes from the
    controller store at execution time, never printed; PBS keeps it in
    ``notifications-priv.cfg`` (0600 root:root).

    + kind: the target type, or ``matcher``
    + entry_name: the target's or matcher's name
    + options: the desired options (CLI names)
    + current: the entry as PBS lists it now, None if absent
    + managed: the options this deploy owns (others are left alone)
    + secret_option: ``password``, ``token`` or ``secret`` for targets that have one
    + push_secret: (re)send the secret (it differs from what the host stores)
    + store_path: the controller's secret store file
    + store_key: the secret's key in that store (``notify:<host>:<name>``)

    **Example:**

    .. code:: python

        notification_entry(name="Notification target relay", kind="smtp",
                           entry_name="relay", current=None, managed=("server",),
                           options={"server": "mail.example.org", "mode": "starttls",
                                    "from-address": "pbs@example.org",
                                    "mailto": ["ops@example.org"], "username": "pbs"},
                           secret_option="password", push_secret=True,
                           store_path="~/.config/pbs-fleet/secrets.json",
                           store_key="notify:pbs1:relay")
    """
    label = "matcher" if kind == "matcher" else f"endpoint {kind}"
    what = f"notification {label} {'create' if current is None else 'update'} {entry_name}"
    if current is None:
        template = commands.notification_create(kind, entry_name, options)
    else:
        sets, deletes = plan.diff_options(current, options, managed)
        if not (sets or deletes or push_secret):
            host.noop(f"notification {label} {entry_name} is up to date")
            return
        template = commands.notification_update(kind, entry_name, sets, deletes)
    if secret_option and (current is None or push_secret):
        yield FunctionCommand(secretcmd.run_with_target_secret,
                              (template, store_path, store_key, secret_option, what), {})
    else:
        yield commands.checked(template, what)
