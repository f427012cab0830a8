"""Inventory keys of the PBS configuration and the PVE hand-off (registered with deploys.schema).

Nested settings (a datastore, a sync job, a PVE storage) are checked here too, so a typo stops
the run with one line naming host, key and problem before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deploys import schema
from deploys.conventions import datastore_path

SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")
NS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*(?:/[A-Za-z0-9_][A-Za-z0-9._\-]*){0,6}$")
USERID_RE = re.compile(r"^[^\s:/@!]+@(?:pbs|pam)$")
TOKEN_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")
ROLES = ("Admin", "Audit", "DatastoreAdmin", "DatastoreReader", "DatastoreBackup",
         "DatastorePowerUser", "DatastoreAudit", "RemoteAudit", "RemoteAdmin",
         "RemoteSyncOperator", "NoAccess")
TLS_POLICIES = ("tls13", "modern", "default")
JOB_SPEC = {"id": str, "schedule": str, "ns": str, "max_depth": int, "comment": str,
            "disable": bool}
KEEP_SPEC = {f"keep_{k}": int for k in ("last", "hourly", "daily", "weekly", "monthly",
                                        "yearly")}
PRUNE_SPEC = {**JOB_SPEC, **KEEP_SPEC}
VERIFY_SPEC = {**JOB_SPEC, "outdated_after": int, "ignore_verified": bool}
DATASTORE_SPEC: dict[str, Any] = {
    "path": str, "comment": str, "gc_schedule": str, "notify": dict, "notify_user": str,
    "notification_mode": str, "tuning": dict, "maintenance_mode": (str, dict, type(None)),
    "verify_new": bool, "reuse_existing": bool, "namespaces": list,
    "prune": (list, dict, type(None)), "verify": (list, dict, type(None)), "extra": dict,
    "backend": dict, "backing_device": str, "gc_on_unmount": bool,
}
#: PBS 4.2 ``DatastoreTuning`` (pbs-api-types datastore.rs): key → allowed values or (min, max).
TUNING: dict[str, Any] = {
    "chunk_order": ("none", "inode"), "sync_level": ("none", "file", "filesystem"),
    "gc_atime_safety_check": (True, False), "gc_atime_cutoff": (1, 2880),
    "gc_cache_capacity": (0, 8388608), "default_verification_workers": (1, 32),
    "default_verification_readers": (1, 32),
}
UUID_RE = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
BUCKET_RE = re.compile(r"^[a-z0-9]([a-z0-9\-]*[a-z0-9])?$")
BACKEND_SPEC: dict[str, Any] = {"type": str, "client": str, "bucket": str,
                                "max_cache_size": str}
S3_SPEC: dict[str, Any] = {
    "endpoint": str, "port": int, "region": str, "fingerprint": str, "access_key": str,
    "path_style": bool, "provider_quirks": list, "put_rate_limit": int, "rate_in": str,
    "burst_in": str, "rate_out": str, "burst_out": str,
}
#: Notification target types and their settings (proxmox-notify endpoints, 4.2-era); the
#: secret of each type (smtp password, gotify token, webhook secrets) is in the secret store.
TARGET_SPECS: dict[str, dict[str, Any]] = {
    "sendmail": {"mailto": list, "mailto_user": list, "from_address": str, "author": str},
    "smtp": {"server": str, "port": int, "mode": str, "username": str, "mailto": list,
             "mailto_user": list, "from_address": str, "author": str},
    "gotify": {"server": str},
    "webhook": {"url": str, "method": str, "header": dict, "body": str},
}
TARGET_REQUIRED = {"sendmail": (), "smtp": ("server", "from_address"), "gotify": ("server",),
                   "webhook": ("url",)}
TARGET_SECRET = {"smtp": "password", "gotify": "token", "webhook": "secret"}
MATCHER_SPEC: dict[str, Any] = {
    "match_field": list, "match_severity": list, "match_calendar": list, "mode": str,
    "invert_match": bool, "target": list, "comment": str, "disable": bool,
}
SYNC_SPEC: dict[str, Any] = {
    "remote": str, "remote_store": str, "store": str, "id": str, "schedule": str, "ns": str,
    "remote_ns": str, "max_depth": int, "remove_vanished": bool, "rate_in": str,
    "burst_in": str, "rate_out": str, "burst_out": str, "group_filter": list,
    "transfer_last": int, "comment": str, "fingerprint": str, "extra": dict,
}
STORAGE_SPEC: dict[str, Any] = {
    "id": str, "pbs": str, "datastore": str, "namespace": (str, type(None)), "server": str,
    "port": int, "encryption": bool, "content": str, "prune_backups": str,
}
USER_SPEC: dict[str, Any] = {"comment": str, "email": str, "roles": list, "tokens": dict}
ROLE_SPEC: dict[str, Any] = {"path": str, "role": str, "propagate": bool}


def _type_name(t: Any) -> str:
    types = t if isinstance(t, tuple) else (t,)
    return " or ".join("None" if x is type(None) else x.__name__ for x in types)


def _is(value: Any, t: Any) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def spec_problem(where: str, value: Any, spec: Mapping[str, Any],
                 required: tuple[str, ...] = ()) -> str | None:
    """First problem of one nested settings dict, naming *where* and the key."""
    if not isinstance(value, dict):
        return f"{where}: expected dict, got {type(value).__name__}"
    for key in value:
        if key not in spec:
            return f"{where}: unknown setting {key!r} (known: {', '.join(sorted(spec))})"
        if not _is(value[key], spec[key]):
            return (f"{where}: setting {key!r} expected {_type_name(spec[key])}, "
                    f"got {type(value[key]).__name__}")
    for key in required:
        if key not in value:
            return f"{where}: setting {key!r} is required"
    return None


def _id_problem(where: str, text: str, what: str = "id") -> str | None:
    if not SAFE_ID.match(text) or not 3 <= len(text) <= 32:
        return f"{where}: {what} {text!r} must be 3-32 characters of [A-Za-z0-9_.-]"
    return None


def _jobs(where: str, value: Any, spec: Mapping[str, Any]) -> str | None:
    items = value if isinstance(value, list) else [] if value is None else [value]
    for i, item in enumerate(items):
        problem = spec_problem(f"{where}[{i}]", item, spec)
        if problem:
            return problem
        if "ns" in item and not NS_RE.match(item["ns"]):
            return f"{where}[{i}]: namespace {item['ns']!r} is not a valid PBS namespace"
    return None


def check_datastores(value: dict[str, Any]) -> str | None:
    for name, spec in value.items():
        where = f"datastore {name!r}"
        problem = (_id_problem(where, name, "name") or spec_problem(where, spec, DATASTORE_SPEC)
                   or _jobs(f"{where} prune", spec.get("prune"), PRUNE_SPEC)
                   or _jobs(f"{where} verify", spec.get("verify"), VERIFY_SPEC))
        if problem:
            return problem
        for ns in spec.get("namespaces", []):
            if not isinstance(ns, str) or not NS_RE.match(ns):
                return f"{where}: namespace {ns!r} is not a valid PBS namespace"
        problem = _pbs4_datastore_problem(where, name, spec)
        if problem:
            return problem
    return None


def _pbs4_datastore_problem(where: str, name: str, spec: Mapping[str, Any]) -> str | None:
    """Removable device, S3 backend and tuning keys of one datastore."""
    device = spec.get("backing_device")
    path = spec.get("path", name if device else datastore_path(name))
    if device is not None:
        if not UUID_RE.match(device):
            return (f"{where}: backing_device {device!r} must be a filesystem UUID in lower "
                    "case (blkid -s UUID -o value /dev/sdX1)")
        if path.startswith("/"):
            return (f"{where}: a removable datastore's path is relative to the device "
                    f"(got {path!r})")
    elif not path.startswith("/"):
        return f"{where}: path {path!r} must be absolute"
    if spec.get("gc_on_unmount") and device is None:
        return f"{where}: gc_on_unmount needs a backing_device (removable datastores only)"
    backend = spec.get("backend")
    if backend is not None:
        problem = spec_problem(f"{where} backend", backend, BACKEND_SPEC, required=("type",))
        if problem:
            return problem
        if backend["type"] not in ("filesystem", "s3"):
            return f"{where} backend: type {backend['type']!r} is not filesystem or s3"
        if backend["type"] == "s3":
            missing = [k for k in ("client", "bucket") if k not in backend]
            if missing:
                return f"{where} backend: {missing[0]!r} is required for type s3"
            if not BUCKET_RE.match(backend["bucket"]) or not 3 <= len(backend["bucket"]) <= 63:
                return f"{where} backend: bucket {backend['bucket']!r} is not an S3 bucket name"
            if device is not None:
                return f"{where}: an S3-backed datastore cannot be removable"
    for key, value in (spec.get("tuning") or {}).items():
        key = key.replace("-", "_")
        allowed = TUNING.get(key)
        if allowed is None:
            return (f"{where} tuning: unknown key {key!r} (known: "
                    f"{', '.join(sorted(TUNING))})")
        if isinstance(allowed[0], int) and not isinstance(allowed[0], bool):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not allowed[0] <= value <= allowed[1]:
                return f"{where} tuning: {key} must be {allowed[0]}..{allowed[1]}, got {value!r}"
        elif value not in allowed:
            return f"{where} tuning: {key} must be one of {allowed}, got {value!r}"
    return None


def check_s3_endpoints(value: dict[str, Any]) -> str | None:
    for name, spec in value.items():
        where = f"S3 endpoint {name!r}"
        problem = (_id_problem(where, name) or spec_problem(where, spec, S3_SPEC,
                                                            required=("endpoint", "access_key")))
        if problem:
            return problem
        if "://" in spec["endpoint"] or ":" in spec["endpoint"].split("]")[-1]:
            return f"{where}: endpoint is a host name or address, without scheme or port"
    return None


def check_targets(value: dict[str, Any]) -> str | None:
    for name, spec in value.items():
        where = f"notification target {name!r}"
        if not isinstance(spec, dict) or spec.get("type") not in TARGET_SPECS:
            return f"{where}: type must be one of {', '.join(TARGET_SPECS)}"
        ttype = spec["type"]
        rest = {k: v for k, v in spec.items() if k not in ("type", "comment", "disable")}
        problem = (_id_problem(where, name, "name")
                   or spec_problem(where, rest, TARGET_SPECS[ttype],
                                   required=TARGET_REQUIRED[ttype]))
        if problem:
            return problem
        if ttype in ("sendmail", "smtp") and not (spec.get("mailto") or spec.get("mailto_user")):
            return f"{where}: needs mailto or mailto_user (PBS refuses a target without)"
        if ttype == "smtp" and spec.get("mode", "tls") not in ("insecure", "starttls", "tls"):
            return f"{where}: mode must be insecure, starttls or tls"
    return None


def check_matchers(value: dict[str, Any]) -> str | None:
    for name, spec in value.items():
        where = f"notification matcher {name!r}"
        problem = _id_problem(where, name, "name") or spec_problem(where, spec, MATCHER_SPEC)
        if problem:
            return problem
    return None


def check_sync_jobs(value: list[Any]) -> str | None:
    for i, job in enumerate(value):
        problem = spec_problem(f"sync job {i}", job, SYNC_SPEC,
                               required=("remote", "remote_store", "store"))
        if problem:
            return problem
    return None


def check_users(value: dict[str, Any]) -> str | None:
    for userid, spec in value.items():
        where = f"user {userid!r}"
        if not USERID_RE.match(userid):
            return f"{where}: user ids look like name@pbs or name@pam"
        problem = spec_problem(where, spec, USER_SPEC)
        if problem:
            return problem
        for i, role in enumerate(spec.get("roles", [])):
            problem = _role_problem(f"{where} roles[{i}]", role)
            if problem:
                return problem
        for token, tspec in spec.get("tokens", {}).items():
            if not TOKEN_NAME_RE.match(token):
                return f"{where}: token name {token!r} is not valid"
            problem = spec_problem(f"{where} token {token!r}", tspec,
                                   {"comment": str, "roles": list})
            if problem:
                return problem
    return None


def _role_problem(where: str, role: Any) -> str | None:
    problem = spec_problem(where, role, ROLE_SPEC, required=("path", "role"))
    if problem:
        return problem
    if role["role"] not in ROLES:
        return f"{where}: unknown role {role['role']!r} (known: {', '.join(ROLES)})"
    return None


def check_storages(value: list[Any]) -> str | None:
    for i, storage in enumerate(value):
        where = f"PVE storage {i}"
        problem = spec_problem(where, storage, STORAGE_SPEC, required=("pbs", "datastore"))
        if problem:
            return problem
        ns = storage.get("namespace")
        if ns is not None and not NS_RE.match(ns):
            return f"{where}: namespace {ns!r} is not a valid PBS namespace"
    return None


def _file_pair(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return spec_problem("pbs_certificate", value, {"cert": str, "key": str},
                        required=("cert", "key"))


def _acme(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    problem = spec_problem("pbs_acme", value, {"account": str, "domains": list},
                           required=("domains",))
    if problem is None and not 1 <= len(value["domains"]) <= 5:
        return "pbs_acme: 1 to 5 domains (acmedomain0..4)"
    return problem


def _removals(value: dict[str, Any]) -> str | None:
    kinds = ("datastore", "prune-job", "verify-job", "sync-job", "remote", "token")
    for kind, ids in value.items():
        if kind not in kinds:
            return f"unknown kind {kind!r} (one of {', '.join(kinds)})"
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return f"{kind}: expected a list of ids"
        if kind == "token" and not all("!" in i for i in ids):
            return "token: ids look like user@pbs!name"
    return None


DEFAULT_PRUNE = {"schedule": "daily", "keep_daily": 7, "keep_weekly": 4}
DEFAULT_VERIFY = {"schedule": "sat 03:00", "outdated_after": 30, "ignore_verified": True}

KEYS = schema.register(__name__, {
    "pbs_datastores": schema.Key(
        dict, default={}, check=check_datastores,
        doc="Datastores: name → {path (default /mnt/datastore/<name>), gc_schedule (daily), "
            "comment, notify {gc,verify,sync,prune: always|never|error}, notify_user, "
            "notification_mode (default notification-system), tuning {chunk_order, "
            "sync_level, gc_atime_safety_check, gc_atime_cutoff 1..2880 min, "
            "gc_cache_capacity, default_verification_workers/readers (4.0.22+)}, backend "
            "{type: s3, client: an pbs_s3_endpoints id, bucket, max_cache_size} (PBS 4; path "
            "is then the local cache), backing_device (filesystem UUID: removable, path "
            "relative to the device, default <name>), gc_on_unmount (4.1.8+), "
            "maintenance_mode ('read-only'|'offline'|{type, message}|None), verify_new, "
            "reuse_existing (True: re-attach an existing chunk store), namespaces [..], "
            "prune (job or list; default keep_daily 7, keep_weekly 4, daily), verify (job or "
            "list; default weekly, outdated_after 30), extra {raw PBS option: value}}."),
    "pbs_sync_jobs": schema.Key(
        list, default=[], item=dict, check=check_sync_jobs,
        doc="Sync (pull) jobs: [{remote: inventory name of the source PBS, remote_store, "
            "store, schedule (hourly), ns, remote_ns, max_depth, remove_vanished (False), "
            "rate_in, burst_in, rate_out, burst_out, group_filter [..], transfer_last, id, "
            "fingerprint (only when the source is not reachable in this run)}]. The remote, "
            "its pinned fingerprint and a least-privilege token on the source are managed."),
    "pbs_s3_endpoints": schema.Key(
        dict, default={}, check=check_s3_endpoints,
        doc="PBS 4 S3 endpoints: id → {endpoint (host or address, {{bucket}}/{{region}} "
            "templates), port, region, fingerprint (pin a self-signed certificate), "
            "access_key, path_style, provider_quirks [..], put_rate_limit, rate_in, burst_in, "
            "rate_out, burst_out}. The secret key is read from the secret store, key "
            "s3:<host>:<id> (python3 -m deploys.secrets set …); never in the inventory."),
    "pbs_notification_targets": schema.Key(
        dict, default={}, check=check_targets,
        doc="Notification targets: name → {type: sendmail|smtp|gotify|webhook, comment, "
            "disable, and per type: mailto [..], mailto_user [..], from_address, author; smtp: "
            "server, port, mode (tls), username; gotify: server; webhook: url, method (post), "
            "header {name: value}, body}. Secrets (smtp password, gotify token, webhook "
            "secrets as a JSON object) from the secret store, key notify:<host>:<name>."),
    "pbs_notification_matchers": schema.Key(
        dict, default={}, check=check_matchers,
        doc="Notification matchers: name → {match_field [..], match_severity [..], "
            "match_calendar [..], mode (all|any), invert_match, target [..], comment, "
            "disable}. The built-in mail-to-root and default-matcher are left alone."),
    "pbs_users": schema.Key(
        dict, default={}, check=check_users,
        doc="Extra identities: userid → {comment, email, roles [{path, role, propagate}], "
            "tokens {name: {comment, roles}}}. Token roles default to the user's roles "
            "(both are granted: a token's rights are the intersection)."),
    "pbs_agent_identity": schema.Key(
        (dict, type(None)), default={"user": "pbs-agent@pbs", "token": "metrics"},
        doc="User and token for the monitoring agent: DatastoreAudit on /datastore and Audit "
            "on /system/status and /system/tasks. None: no agent identity."),
    "pbs_tls_policy": schema.Key(
        str, default="tls13", check=schema.one_of(*TLS_POLICIES),
        doc="Port 8007: tls13 (TLS 1.3 only), modern (TLS 1.2 with ECDHE+AEAD only, and 1.3), "
            "default (PBS's defaults). See docs/pbs-config.md for the mechanism."),
    "pbs_tls_openssl_conf": schema.Key(
        bool, default=False,
        doc="With tls13: also give proxmox-backup-proxy an OPENSSL_CONF with MinProtocol "
            "TLSv1.3 (systemd drop-in). Also limits the proxy's outgoing TLS (sync, metrics)."),
    "pbs_certificate": schema.Key(
        (dict, type(None)), default=None, check=_file_pair,
        doc="Custom certificate: {cert: controller path (PEM chain), key: controller path}. "
            "Uploaded to proxy.pem/proxy.key; its fingerprint is pinned by peers and PVE."),
    "pbs_acme": schema.Key(
        (dict, type(None)), default=None, check=_acme,
        doc="ACME node settings: {account (default 'default'), domains [..]} → node acme / "
            "acmedomain0..4. Ordering the certificate stays a manual `cert` step."),
    "pbs_secrets_file": schema.Key(
        (str, type(None)), default=None,
        doc="Controller file (0600) for token secrets and encryption keys. Default: "
            "$PBS_FLEET_SECRETS or ~/.config/pbs-fleet/secrets.json."),
    "pbs_regenerate_tokens": schema.Key(
        list, default=[], item=str,
        doc="Token ids (user@realm!name) to regenerate on this run (a lost secret); the new "
            "secret replaces the stored one and is pushed to remotes and PVE storages."),
    "pbs_remove": schema.Key(
        dict, default={}, check=_removals,
        doc="Objects to remove, by kind: {datastore|prune-job|verify-job|sync-job|remote|"
            "token: [ids]}. Nothing is removed unless listed; datastore removal keeps the "
            "data; a token id is user@realm!name (its ACLs go with it)."),
    "pbs_version": schema.Key(
        (int, type(None)), default=None,
        doc="PBS major version (3 or 4). Default: from Debian (12 → 3, 13 → 4)."),
    "pbs_api_address": schema.Key(
        (str, type(None)), default=None,
        doc="Address peers and PVE use to reach this PBS on 8007. Default: ssh_hostname, "
            "else the inventory name."),
    "pbs_report_dir": schema.Key(
        str, default="reports",
        doc="Controller directory for the hardening report JSON (<dir>/hardening.json)."),
    "pve_cluster": schema.Key(
        (str, type(None)), default=None,
        doc="PVE cluster name (one PBS user and token per cluster). Default: host name."),
    "pve_pbs_storages": schema.Key(
        list, default=[], item=dict, check=check_storages,
        doc="PBS storages on this PVE node: [{pbs: inventory name of the PBS host, datastore, "
            "id (default pbs-<pbs>-<datastore>), namespace (default: the cluster name; None "
            "for the root), server, port, encryption (False; True: client-side key kept on "
            "the controller), content, prune_backups}]."),
})
