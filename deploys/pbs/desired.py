"""Inventory data → the PBS and PVE objects each host should have (pure, no I/O).

The whole inventory is an input, because access is derived across hosts: a PVE node's storage
needs a user, token, namespace and ACL on its PBS host; an offsite PBS pulling from a local one
needs a reader token on the source and a remote with the source's pinned fingerprint.

    >>> fleet = [HostView("pbs1", ("pbs",), {"pbs_datastores": {"store1": {}}}),
    ...          HostView("pve1", ("pve",), {"pve_pbs_storages": [{"pbs": "pbs1",
    ...                                                           "datastore": "store1"}]})]
    >>> pbs_objects(fleet, "pbs1", fingerprint_of=lambda h: "aa:…").acls
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deploys import schema
from deploys.conventions import PBS_PORT, datastore_path, is_pbs, is_pve
from deploys.pbs import settings, tls

SYNC_USER = "sync@pbs"
PVE_TOKEN = "pve"
#: datastore.cfg keys this deploy owns (absent from inventory = deleted on PBS).
DATASTORE_MANAGED = ("comment", "gc-schedule", "notify", "notify-user", "notification-mode",
                     "tuning", "maintenance-mode", "verify-new", "prune-schedule",
                     "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly",
                     "keep-yearly", "gc-on-unmount")
#: datastore.cfg keys PBS sets only at creation (``#[updater(skip)]``): a change is refused.
DATASTORE_CREATE_ONLY = ("backend", "backing-device")
PROPERTY_STRINGS = ("notify", "tuning", "maintenance-mode", "backend")
#: Options of notification targets a deploy may delete when the inventory drops them: the
#: ``Deleteable*Property`` enums of proxmox-notify (the others can only be changed).
TARGET_MANAGED = {
    "sendmail": ("author", "comment", "disable", "from-address", "mailto", "mailto-user"),
    "smtp": ("author", "comment", "disable", "mailto", "mailto-user", "port", "username"),
    "gotify": ("comment", "disable"),
    "webhook": ("body", "comment", "disable", "header"),
}
MATCHER_MANAGED = ("match-field", "match-severity", "match-calendar", "mode", "invert-match",
                   "target", "comment", "disable")
#: Every managed datastore notifies through the notification system (targets + matchers);
#: PBS 4 defaults to it, and its postinst writes legacy-sendmail into 3.x datastores.
NOTIFICATION_MODE = "notification-system"
S3_MANAGED = ("port", "region", "fingerprint", "path-style", "rate-in", "burst-in", "rate-out",
              "burst-out", "provider-quirks", "endpoint", "access-key", "put-rate-limit")
PRUNE_MANAGED = ("store", "schedule", "ns", "max-depth", "disable", "comment", "keep-last",
                 "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
VERIFY_MANAGED = ("store", "schedule", "ns", "max-depth", "comment", "outdated-after",
                  "ignore-verified")
SYNC_MANAGED = ("store", "remote", "remote-store", "schedule", "ns", "remote-ns", "max-depth",
                "remove-vanished", "owner", "rate-in", "burst-in", "rate-out", "burst-out",
                "group-filter", "transfer-last", "comment")


class DesiredError(ValueError):
    """The inventory asks for something inconsistent; the message names host and object."""


@dataclass(frozen=True)
class HostView:
    """What this module needs to know of an inventory host."""

    name: str
    groups: tuple[str, ...]
    data: Mapping[str, Any]

    def value(self, key: str) -> Any:
        """Inventory value or the registered default."""
        if key in self.data:
            return self.data[key]
        return schema.REGISTRY[key].default

    @property
    def is_pbs(self) -> bool:
        return is_pbs(self.groups)

    @property
    def is_pve(self) -> bool:
        return is_pve(self.groups)

    @property
    def address(self) -> str:
        """Where peers reach this host's PBS API (port :data:`PBS_PORT`)."""
        return (self.value("pbs_api_address") or self.data.get("ssh_hostname") or self.name)


@dataclass(frozen=True)
class SecretRef:
    """A token secret kept in the controller store: issued by *pbs_host* for *token_id*."""

    pbs_host: str
    token_id: str


@dataclass(frozen=True)
class Acl:
    path: str
    auth_id: str
    role: str
    propagate: bool = True


@dataclass
class Datastore:
    name: str
    path: str
    options: dict[str, Any]
    reuse_existing: bool = True


@dataclass
class Remote:
    name: str
    options: dict[str, Any]
    secret: SecretRef
    pin_later: bool = False  # peer certificate unknown at planning: read it when executing


@dataclass
class Target:
    """A notification target: its section type, options and whether a secret goes with it."""

    type: str
    options: dict[str, Any]
    secret_key: str | None  # PBS option name of the secret (password/token/secret)


@dataclass
class PbsObjects:
    """Everything one PBS host should have."""

    datastores: dict[str, Datastore] = field(default_factory=dict)
    s3_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    matchers: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespaces: list[tuple[str, str]] = field(default_factory=list)  # (datastore, ns)
    prune_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sync_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    remotes: dict[str, Remote] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token id -> options
    acls: set[Acl] = field(default_factory=set)

    def user(self, userid: str, comment: str) -> None:
        self.users.setdefault(userid, {"comment": comment})

    def token(self, userid: str, name: str, comment: str) -> str:
        self.user(userid, comment)
        token_id = f"{userid}!{name}"
        self.tokens.setdefault(token_id, {"comment": comment})
        return token_id

    def grant(self, path: str, role: str, *auth_ids: str, propagate: bool = True) -> None:
        """Grant *role* on *path* to every id (user and token: rights intersect)."""
        for auth_id in auth_ids:
            self.acls.add(Acl(path, auth_id, role, propagate))


@dataclass
class PveStorage:
    """One ``pvesm add pbs`` entry on a PVE node."""

    storage_id: str
    options: dict[str, Any]
    secret: SecretRef
    encryption: bool


def safe_id(text: str, limit: int = 32) -> str:
    """*text* as a PBS safe id: invalid characters become '-', at most *limit* characters."""
    out = re.sub(r"[^A-Za-z0-9._\-]", "-", text).lstrip(".-")[:limit]
    return out if len(out) >= 3 else (out + "-id")[:3]


def ns_path(store: str, ns: str | None) -> str:
    """ACL path of a datastore or a namespace in it."""
    return f"/datastore/{store}" + (f"/{ns}" if ns else "")


def _items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _kebab(spec: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    return {k.replace("_", "-"): v for k, v in spec.items() if k not in skip}


def _job_id(host: str, explicit: str | None, *parts: str) -> str:
    job_id = explicit or "-".join(p.replace("/", "-") for p in parts if p)
    if not settings.SAFE_ID.match(job_id) or not 3 <= len(job_id) <= 32:
        raise DesiredError(f"{host}: job id {job_id!r} is not a PBS id (3-32 characters of "
                           "[A-Za-z0-9_.-]); set 'id' in the job settings")
    return job_id


def datastore_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """datastore.cfg options of one inventory datastore (gc-schedule defaults to daily)."""
    opts: dict[str, Any] = {"gc-schedule": spec.get("gc_schedule", "daily"),
                            "notification-mode": NOTIFICATION_MODE}
    for key in ("comment", "notify_user", "notification_mode", "verify_new", "backing_device",
                "gc_on_unmount"):
        if key in spec:
            opts[key.replace("_", "-")] = spec[key]
    if spec.get("backend"):
        opts["backend"] = _kebab(spec["backend"])
    if spec.get("notify"):
        opts["notify"] = dict(spec["notify"])
    if spec.get("tuning"):
        opts["tuning"] = _kebab(spec["tuning"])
    mode = spec.get("maintenance_mode")
    if mode is not None:
        opts["maintenance-mode"] = {"type": mode} if isinstance(mode, str) else dict(mode)
    opts.update(spec.get("extra", {}))
    return opts


def _datastores(hv: HostView, out: PbsObjects) -> None:
    for name, spec in hv.value("pbs_datastores").items():
        default_path = name if spec.get("backing_device") else datastore_path(name)
        out.datastores[name] = Datastore(name, spec.get("path", default_path),
                                         datastore_options(spec),
                                         spec.get("reuse_existing", True))
        client = (spec.get("backend") or {}).get("client")
        if client is not None and client not in hv.value("pbs_s3_endpoints"):
            raise DesiredError(f"{hv.name}: datastore {name!r} uses S3 endpoint {client!r}, "
                               "which is not in pbs_s3_endpoints")
        for ns in spec.get("namespaces", []):
            out.namespaces.append((name, ns))
        prune = spec.get("prune", settings.DEFAULT_PRUNE)
        for job in _items(prune):
            job = {**({} if "schedule" in job else {"schedule": "daily"}), **job}
            job_id = _job_id(hv.name, job.get("id"), name, job.get("ns", ""), "prune")
            out.prune_jobs[job_id] = {"store": name, **_kebab(job, skip=("id",))}
        verify = spec.get("verify", settings.DEFAULT_VERIFY)
        for job in _items(verify):
            job_id = _job_id(hv.name, job.get("id"), name, job.get("ns", ""), "verify")
            out.verify_jobs[job_id] = {"store": name, **_kebab(job, skip=("id",))}


def _s3_and_notifications(hv: HostView, out: PbsObjects) -> None:
    for endpoint_id, spec in hv.value("pbs_s3_endpoints").items():
        out.s3_endpoints[endpoint_id] = _kebab(spec)
    for name, spec in hv.value("pbs_notification_targets").items():
        ttype = spec["type"]
        opts = _kebab(spec, skip=("type", "header"))
        if ttype == "webhook":
            opts.setdefault("method", "post")
            if "body" in opts:
                opts["body"] = b64(opts["body"])
            if spec.get("header"):
                opts["header"] = [f"name={k},value={b64(v)}"
                                  for k, v in sorted(spec["header"].items())]
        out.targets[name] = Target(ttype, opts, settings.TARGET_SECRET.get(ttype))
    for name, spec in hv.value("pbs_notification_matchers").items():
        out.matchers[name] = _kebab(spec)
        for target in spec.get("target", []):
            if target not in out.targets and target != "mail-to-root":
                raise DesiredError(f"{hv.name}: notification matcher {name!r} sends to "
                                   f"{target!r}, which is not in pbs_notification_targets")


def b64(text: str) -> str:
    """PBS keeps webhook bodies, header values and secrets base64-encoded."""
    return base64.b64encode(text.encode()).decode()


def _agent(hv: HostView, out: PbsObjects) -> None:
    ident = hv.value("pbs_agent_identity")
    if not ident:
        return
    user = ident.get("user", "pbs-agent@pbs")
    token = out.token(user, ident.get("token", "metrics"), "pbs-fleet monitoring agent")
    out.grant("/datastore", "DatastoreAudit", user, token)
    for path in ("/system/status", "/system/tasks"):
        out.grant(path, "Audit", user, token)


def _extra_users(hv: HostView, out: PbsObjects) -> None:
    for userid, spec in hv.value("pbs_users").items():
        out.users[userid] = {k: v for k, v in spec.items() if k in ("comment", "email")}
        roles = spec.get("roles", [])
        for role in roles:
            out.grant(role["path"], role["role"], userid, propagate=role.get("propagate", True))
        for name, tspec in spec.get("tokens", {}).items():
            token_id = f"{userid}!{name}"
            out.tokens[token_id] = {"comment": tspec.get("comment", "")} \
                if tspec.get("comment") else {}
            for role in tspec.get("roles", roles):
                out.grant(role["path"], role["role"], token_id,
                          propagate=role.get("propagate", True))
                out.grant(role["path"], role["role"], userid,
                          propagate=role.get("propagate", True))


def pve_cluster(hv: HostView) -> str:
    return hv.value("pve_cluster") or hv.name


def pve_user(cluster: str) -> str:
    return f"pve-{safe_id(cluster, 24)}@pbs"


def _storage_namespace(hv: HostView, storage: Mapping[str, Any]) -> str | None:
    return storage["namespace"] if "namespace" in storage else safe_id(pve_cluster(hv))


def _pve_access(fleet: list[HostView], me: HostView, out: PbsObjects) -> None:
    """Users/tokens/namespaces/ACLs on *me* for every PVE storage that points at it."""
    for hv in fleet:
        if not hv.is_pve:
            continue
        for storage in hv.value("pve_pbs_storages"):
            if storage["pbs"] != me.name:
                continue
            store = storage["datastore"]
            if store not in out.datastores:
                raise DesiredError(f"{hv.name}: PVE storage points at datastore {store!r} that "
                                   f"{me.name} does not define in pbs_datastores")
            user = pve_user(pve_cluster(hv))
            token = out.token(user, PVE_TOKEN, f"PVE cluster {pve_cluster(hv)}")
            ns = _storage_namespace(hv, storage)
            if ns and (store, ns) not in out.namespaces:
                out.namespaces.append((store, ns))
            out.grant(ns_path(store, ns), "DatastoreBackup", user, token)


def _sync_source(fleet: list[HostView], me: HostView, out: PbsObjects) -> None:
    """A reader token on *me* for every host that pulls from it."""
    for hv in fleet:
        if not hv.is_pbs:
            continue
        for job in hv.value("pbs_sync_jobs"):
            if job["remote"] != me.name:
                continue
            store = job["remote_store"]
            if store not in out.datastores:
                raise DesiredError(f"{hv.name}: sync job pulls datastore {store!r} that "
                                   f"{me.name} does not define in pbs_datastores")
            token = out.token(SYNC_USER, safe_id(hv.name), f"pulled by {hv.name}")
            out.grant(ns_path(store, job.get("remote_ns")), "DatastoreReader",
                      SYNC_USER, token)


def _sync_target(fleet: list[HostView], me: HostView, out: PbsObjects,
                 fingerprint_of: Callable[[str], str | None]) -> None:
    names = {hv.name: hv for hv in fleet}
    for job in me.value("pbs_sync_jobs"):
        peer = names.get(job["remote"])
        if peer is None or not peer.is_pbs:
            raise DesiredError(f"{me.name}: sync job remote {job['remote']!r} is not a PBS host "
                               "of this inventory")
        remote = safe_id(peer.name)
        token_id = f"{SYNC_USER}!{safe_id(me.name)}"
        fingerprint = job.get("fingerprint") or fingerprint_of(peer.name)
        options = {"host": peer.address, "port": PBS_PORT, "auth-id": token_id}
        if fingerprint:
            options["fingerprint"] = fingerprint
        out.remotes[remote] = Remote(remote, options, SecretRef(peer.name, token_id),
                                     pin_later=not fingerprint)
        store = job["store"]
        if store not in out.datastores:
            raise DesiredError(f"{me.name}: sync job writes to datastore {store!r} that is not "
                               "in pbs_datastores")
        job_id = _job_id(me.name, job.get("id"), store, "from", remote)
        opts: dict[str, Any] = {"store": store, "remote": remote,
                                "remote-store": job["remote_store"],
                                "schedule": job.get("schedule", "hourly"),
                                "remove-vanished": job.get("remove_vanished", False),
                                "owner": SYNC_USER}
        for key in ("ns", "remote_ns", "max_depth", "rate_in", "burst_in", "rate_out",
                    "burst_out", "group_filter", "transfer_last", "comment"):
            if key in job:
                opts[key.replace("_", "-")] = job[key]
        opts.update(job.get("extra", {}))
        out.sync_jobs[job_id] = opts
        out.user(SYNC_USER, "owner of pulled backups")
        out.grant(f"/remote/{remote}", "RemoteSyncOperator", SYNC_USER)
        role = "DatastorePowerUser" if opts["remove-vanished"] else "DatastoreBackup"
        out.grant(ns_path(store, job.get("ns")), role, SYNC_USER)
        if job.get("ns"):
            out.namespaces.append((store, job["ns"]))


def pbs_objects(fleet: list[HostView], name: str,
                fingerprint_of: Callable[[str], str | None]) -> PbsObjects:
    """Everything PBS host *name* should have, given the whole *fleet*."""
    me = next(hv for hv in fleet if hv.name == name)
    out = PbsObjects()
    _datastores(me, out)
    _s3_and_notifications(me, out)
    _agent(me, out)
    _extra_users(me, out)
    _pve_access(fleet, me, out)
    _sync_source(fleet, me, out)
    _sync_target(fleet, me, out, fingerprint_of)
    return out


def pve_storages(fleet: list[HostView], name: str,
                 fingerprint_of: Callable[[str], str]) -> list[PveStorage]:
    """The PBS storages PVE node *name* should have."""
    me = next(hv for hv in fleet if hv.name == name)
    names = {hv.name: hv for hv in fleet}
    out = []
    for storage in me.value("pve_pbs_storages"):
        pbs = names.get(storage["pbs"])
        if pbs is None or not pbs.is_pbs:
            raise DesiredError(f"{name}: PVE storage points at {storage['pbs']!r}, which is not "
                               "a PBS host of this inventory")
        storage_id = storage.get("id") or pve_storage_id(pbs.name, storage["datastore"])
        token_id = f"{pve_user(pve_cluster(me))}!{PVE_TOKEN}"
        opts: dict[str, Any] = {"server": storage.get("server", pbs.address),
                                "datastore": storage["datastore"], "username": token_id,
                                "fingerprint": fingerprint_of(pbs.name),
                                "content": storage.get("content", "backup")}
        ns = _storage_namespace(me, storage)
        if ns:
            opts["namespace"] = ns
        if storage.get("port", PBS_PORT) != PBS_PORT:
            opts["port"] = storage["port"]
        if "prune_backups" in storage:
            opts["prune-backups"] = storage["prune_backups"]
        out.append(PveStorage(storage_id, opts, SecretRef(pbs.name, token_id),
                              storage.get("encryption", False)))
    return out


def pve_storage_id(pbs: str, datastore: str) -> str:
    """A PVE storage id (``[a-z][a-z0-9._-]*[a-z0-9]``) for a PBS datastore."""
    text = re.sub(r"[^a-z0-9._\-]+", "-", f"pbs-{pbs}-{datastore}".lower())
    return re.sub(r"-{2,}", "-", text).strip("-._")


def node_options(hv: HostView) -> tuple[dict[str, str | None], str]:
    """(node.cfg options this deploy manages → wanted value or None, TLS policy)."""
    policy = hv.value("pbs_tls_policy")
    wanted: dict[str, str | None] = dict(tls.POLICIES[policy])
    acme = hv.value("pbs_acme")
    if acme:
        wanted["acme"] = f"account={acme.get('account', 'default')}"
        for i, domain in enumerate(acme["domains"]):
            wanted[f"acmedomain{i}"] = f"domain={domain}"
    return wanted, policy
