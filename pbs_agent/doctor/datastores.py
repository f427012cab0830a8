"""``datastore-config``: which datastores the other checks look at, and what datastore.cfg says.

The host's datastore resolver reads ``--datastore`` flags or ``datastore.cfg``. A broken
section is a failure (PBS refuses the whole file); S3-backed stores are checked by their local
cache; a removable store whose device is not mounted is reported and left out of the checks.
"""

from __future__ import annotations

from ..errors import PbsAgentError
from .model import Check, DoctorEnv, Verdict

ID = "datastore-config"


def check(env: DoctorEnv) -> Check:
    found = env.datastore_config()
    if isinstance(found, PbsAgentError):
        return Check(ID, Verdict.WARN, f"no datastore configured: {found}",
                     "create a datastore (proxmox-backup-manager datastore create NAME PATH) "
                     "or pass --datastore NAME=PATH")
    parts = []
    for d in found:
        if d.backend == "s3":
            parts.append(f"{d.name}: S3-backed, local cache {d.path}")
        elif d.removable and not d.mounted:
            parts.append(f"{d.name}: removable, unmounted (not checked)")
        else:
            parts.append(f"{d.name}: {d.path}" + (" (removable, mounted)" if d.removable else ""))
    if found.errors:
        first = found.errors[0]
        more = f" (+{len(found.errors) - 1} more)" if len(found.errors) > 1 else ""
        return Check(ID, Verdict.FAIL, "; ".join([f"{first}{more}", *parts]),
                     f"fix {first.path} (proxmox-backup-manager datastore update, or edit it), "
                     "then check it with proxmox-backup-manager datastore list")
    if not parts:
        return Check(ID, Verdict.WARN, "no datastore configured", "pass --datastore NAME=PATH")
    return Check(ID, Verdict.OK, "; ".join(parts))
