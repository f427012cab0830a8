"""Every ``proxmox-backup-manager`` command line the deploy runs, in one place.

Syntax follows the reference (pbs-internals.md §6): positional ids first, then ``--key value``
options in a stable (sorted) order, repeated ``--delete <prop>`` for removed properties.
Builders return argument lists; a secret argument is a :class:`pyinfra.api.HiddenValue` so that
pyinfra prints ``*MASKED*`` instead of it. :func:`to_command` turns a list into a quoted
``StringCommand``.

    >>> prune_job_create("store1-prune", {"store": "store1", "schedule": "daily", "keep-daily": 7})
    ['proxmox-backup-manager', 'prune-job', 'create', 'store1-prune', '--keep-daily', '7', ...]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyinfra.api import HiddenValue, QuoteString, StringCommand

PBM = "proxmox-backup-manager"
Arg = str | HiddenValue
#: Job kinds and their CLI subcommand names.
JOB_KINDS = ("prune-job", "verify-job", "sync-job")


def render_value(value: Any) -> str:
    """A value as PBS's CLI expects it: booleans ``true``/``false``, property strings as-is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return property_string(value)
    return str(value)


def property_string(values: Mapping[str, Any]) -> str:
    """``{"chunk-order": "none", "sync-level": "file"}`` -> ``chunk-order=none,sync-level=file``.

    A ``type`` key (the default key of maintenance-mode) goes first; the rest sorted.
    """
    keys = sorted(values, key=lambda k: (k != "type", k))
    return ",".join(f"{k}={render_value(values[k])}" for k in keys)


def options(opts: Mapping[str, Any]) -> list[Arg]:
    """``--key value`` pairs in sorted key order; lists repeat the option (``--group-filter``)."""
    out: list[Arg] = []
    for key in sorted(opts):
        value = opts[key]
        for item in value if isinstance(value, list) else [value]:
            out.append(f"--{key}")
            out.append(item if isinstance(item, HiddenValue) else render_value(item))
    return out


def deletes(props: Iterable[str]) -> list[Arg]:
    """``--delete a --delete b`` (sorted)."""
    out: list[Arg] = []
    for prop in sorted(props):
        out += ["--delete", prop]
    return out


def list_json(kind: str, *args: str) -> list[str]:
    """``proxmox-backup-manager <kind> list [args] --output-format json``."""
    return [PBM, kind, "list", *args, "--output-format", "json"]


# --- datastores (§6.2) -----------------------------------------------------------------------

def datastore_create(name: str, path: str, opts: Mapping[str, Any],
                     reuse_datastore: bool = False) -> list[Arg]:
    """``datastore create <name> <path> [opts] [--reuse-datastore true]`` (reuse: PBS 4 only)."""
    extra: list[Arg] = ["--reuse-datastore", "true"] if reuse_datastore else []
    return [PBM, "datastore", "create", name, path, *options(opts), *extra]


def datastore_update(name: str, opts: Mapping[str, Any], delete: Iterable[str] = ()) -> list[Arg]:
    """``datastore update <name> [opts] [--delete prop]…``."""
    return [PBM, "datastore", "update", name, *options(opts), *deletes(delete)]


def datastore_remove(name: str) -> list[Arg]:
    """``datastore remove <name>``: drops the config entry, never ``--destroy-data``."""
    return [PBM, "datastore", "remove", name]


# --- users, tokens, ACLs (§6.3) --------------------------------------------------------------

def user_create(userid: str, opts: Mapping[str, Any]) -> list[Arg]:
    """``user create <userid> [--comment …] [--email …] [--enable …]``."""
    return [PBM, "user", "create", userid, *options(opts)]


def user_update(userid: str, opts: Mapping[str, Any], delete: Iterable[str] = ()) -> list[Arg]:
    """``user update <userid> [opts] [--delete prop]…``."""
    return [PBM, "user", "update", userid, *options(opts), *deletes(delete)]


def token_list(userid: str) -> list[str]:
    """``user list-tokens <userid> --output-format json``."""
    return [PBM, "user", "list-tokens", userid, "--output-format", "json"]


def token_generate(userid: str, token: str, opts: Mapping[str, Any]) -> list[Arg]:
    """``user generate-token <userid> <token-name> [--comment …]``.

    PBS prints ``Result: {"tokenid": …, "value": "<secret>"}`` once (see :func:`parse_result`).
    """
    return [PBM, "user", "generate-token", userid, token, *options(opts)]


def token_delete(userid: str, token: str) -> list[Arg]:
    """``user delete-token <userid> <token-name>``."""
    return [PBM, "user", "delete-token", userid, token]


def acl_update(path: str, role: str, auth_id: str, propagate: bool = True,
               delete: bool = False) -> list[Arg]:
    """``acl update <path> <role> --auth-id <id> [--propagate false] [--delete true]``."""
    out: list[Arg] = [PBM, "acl", "update", path, role, "--auth-id", auth_id]
    if not propagate:
        out += ["--propagate", "false"]
    if delete:
        out += ["--delete", "true"]
    return out


# --- jobs (§6.4) -----------------------------------------------------------------------------

def _job_kind(kind: str) -> str:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r} (one of {', '.join(JOB_KINDS)})")
    return kind


def job_create(kind: str, job_id: str, opts: Mapping[str, Any]) -> list[Arg]:
    """``<kind> create <id> [opts]`` for prune-job, verify-job or sync-job."""
    return [PBM, _job_kind(kind), "create", job_id, *options(opts)]


def job_update(kind: str, job_id: str, opts: Mapping[str, Any],
               delete: Iterable[str] = ()) -> list[Arg]:
    """``<kind> update <id> [opts] [--delete prop]…``."""
    return [PBM, _job_kind(kind), "update", job_id, *options(opts), *deletes(delete)]


def job_remove(kind: str, job_id: str) -> list[Arg]:
    """``<kind> remove <id>``."""
    return [PBM, _job_kind(kind), "remove", job_id]


def prune_job_create(job_id: str, opts: Mapping[str, Any]) -> list[Arg]:
    """``prune-job create <id> --store <s> --schedule <e> [--keep-*] [--ns] [--max-depth]``."""
    return job_create("prune-job", job_id, opts)


# --- remotes (§6.4) --------------------------------------------------------------------------

def remote_create(name: str, opts: Mapping[str, Any], password: HiddenValue | str) -> list[Arg]:
    """``remote create <name> --host … --auth-id … --password <secret> [--fingerprint …]``.

    *password* is the secret, or a :mod:`~deploys.pbs.secretcmd` placeholder filled in when
    the command runs.

    The CLI/API property is ``auth-id`` (the docs' ``--userid`` is stale).
    """
    return [PBM, "remote", "create", name, *options({**opts, "password": password})]


def remote_update(name: str, opts: Mapping[str, Any], delete: Iterable[str] = (),
                  password: HiddenValue | str | None = None) -> list[Arg]:
    """``remote update <name> [opts] [--password <secret or placeholder>] [--delete prop]…``."""
    full = dict(opts)
    if password is not None:
        full["password"] = password
    return [PBM, "remote", "update", name, *options(full), *deletes(delete)]


def remote_remove(name: str) -> list[Arg]:
    """``remote remove <name>``."""
    return [PBM, "remote", "remove", name]


# --- node config and certificate (§6.5, §6.6) -------------------------------------------------

def node_show() -> list[str]:
    """``node show --output-format json``."""
    return [PBM, "node", "show", "--output-format", "json"]


def node_update(opts: Mapping[str, Any], delete: Iterable[str] = ()) -> list[Arg]:
    """``node update [--ciphers-tls-1.2 …] [--ciphers-tls-1.3 …] [--delete prop]…``."""
    return [PBM, "node", "update", *options(opts), *deletes(delete)]


def cert_info() -> list[str]:
    """``cert info`` (text; the ``Fingerprint (sha256):`` line is what we read)."""
    return [PBM, "cert", "info"]


def parse_result(lines: Iterable[str]) -> Any:
    """The JSON after ``Result:`` in a command's output (proxmox-router's CLI format)."""
    import json

    text = "\n".join(lines)
    start = text.find("Result:")
    if start < 0:
        raise ValueError("no 'Result:' in the command output")
    return json.loads(text[start + len("Result:"):])


# --- rendering -------------------------------------------------------------------------------

def to_command(argv: Sequence[Arg]) -> StringCommand:
    """A shell-quoted ``StringCommand``; HiddenValue bits stay masked in pyinfra's output."""
    return StringCommand(*(QuoteString(a) for a in argv))


#: awk program that squeezes a PBS error (``Error: …`` + blank line + details + usage) into one
#: line: drops the ``Error:`` prefix and everything from ``Usage:`` on, joins the rest with "; ".
_ONE_LINE = ('/^(Usage|USAGE):/ {exit} NF {sub(/^Error: /, ""); '
             'msg = msg (msg == "" ? "" : "; ") $0} END {print what ": " msg}')


def checked(argv: Sequence[Arg], what: str, refused_by: str = "PBS") -> StringCommand:
    """Run *argv*; on failure print ONE line ``PBS refused <what>: <PBS's error text>`` to
    stderr and keep the exit code. On success nothing is printed."""
    return StringCommand(
        "out=$(", to_command(argv), "2>&1)", "||", "{", "rc=$?;",
        "printf", "'%s\\n'", '"$out"', "|", "awk", "-v",
        QuoteString(f"what={refused_by} refused {what}"),
        QuoteString(_ONE_LINE), ">&2;", "exit", "$rc;", "}",
    )


def shell_line(argv: Sequence[Arg]) -> str:
    """The masked, quoted command line (what a log would show)."""
    return to_command(argv).get_masked_value()


# --- S3 endpoints (PBS 4) and notifications ---------------------------------------------------

def s3_endpoint_list() -> list[str]:
    """``s3 endpoint list --output-format json`` (PBS never lists the secret key)."""
    return [PBM, "s3", "endpoint", "list", "--output-format", "json"]


def s3_endpoint_create(endpoint_id: str, opts: Mapping[str, Any], secret_key: Arg) -> list[Arg]:
    """``s3 endpoint create <id> --access-key … --endpoint … --secret-key <secret>``."""
    return [PBM, "s3", "endpoint", "create", endpoint_id, *options(opts),
            "--secret-key", secret_key]


def s3_endpoint_update(endpoint_id: str, opts: Mapping[str, Any], delete: Iterable[str] = (),
                       secret_key: Arg | None = None) -> list[Arg]:
    """``s3 endpoint update <id> [opts] [--delete prop]… [--secret-key <secret>]``."""
    extra: list[Arg] = ["--secret-key", secret_key] if secret_key is not None else []
    return [PBM, "s3", "endpoint", "update", endpoint_id, *options(opts), *deletes(delete),
            *extra]


def notification_list(what: Sequence[str]) -> list[str]:
    """``notification endpoint <type> list`` / ``notification matcher list`` as JSON."""
    return [PBM, "notification", *what, "list", "--output-format", "json"]


def notification_path(ttype: str) -> list[str]:
    """``endpoint <type>`` for a target type, ``matcher`` for matchers."""
    return ["matcher"] if ttype == "matcher" else ["endpoint", ttype]


def notification_create(ttype: str, name: str, opts: Mapping[str, Any],
                        secret: Sequence[Arg] = ()) -> list[Arg]:
    """``notification endpoint <type> create <name> [opts] [secret options]`` (or matcher)."""
    return [PBM, "notification", *notification_path(ttype), "create", name, *options(opts),
            *secret]


def notification_update(ttype: str, name: str, opts: Mapping[str, Any],
                        delete: Iterable[str] = (), secret: Sequence[Arg] = ()) -> list[Arg]:
    """``notification endpoint <type> update <name> [opts] [--delete prop]… [secret]``."""
    return [PBM, "notification", *notification_path(ttype), "update", name, *options(opts),
            *deletes(delete), *secret]
