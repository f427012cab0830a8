"""``prune-owners``: one namespace pruned both by PVE and by a PBS prune job.

A PVE storage of type ``pbs`` with a ``prune-backups`` that keeps something (any ``keep-*`` > 0,
not ``keep-all``) makes PVE prune each group right after its backup
(``proxmox-backup-client prune`` with those options; pve-storage ``PBSPlugin.pm``); a vzdump
job's own ``prune-backups`` in ``jobs.cfg`` overrides its storage's. A PBS prune job of the same
datastore whose namespace (and max-depth) covers the storage's namespace prunes the same groups
with its own policy: two owners of one retention, and the stricter one silently wins. Sources:
``<pve-config-dir>/storage.cfg`` and ``jobs.cfg`` (``/etc/pve`` on a PVE node; a copy can be
pointed at with ``--pve.config-dir``), and the prune jobs of ``prune.cfg``. The storage's
``server`` is shown, not checked: a PVE cluster may back up to several PBS hosts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..assurance.prune import RULES
from ..errors import PbsAgentError
from ..host import PruneJob
from ..pbsconfig import parse_section_config, property_string
from .model import Check, DoctorEnv, Verdict

ID = "prune-owners"


@dataclass(frozen=True)
class PveSide:
    """A PBS storage of PVE that prunes: storage id, server, datastore, namespace, policy."""

    storage: str
    server: str
    datastore: str
    namespace: str
    policy: str  # the prune-backups value that prunes
    via: str  # "storage.cfg" or "jobs.cfg job <id>"


def prunes(value: str) -> bool:
    """Whether a PVE ``prune-backups`` value removes anything.

    >>> prunes("keep-daily=7,keep-weekly=4"), prunes("keep-all=1"), prunes("keep-last=0")
    (True, False, False)
    """
    props = property_string(value)
    if props.get("keep-all", "0") not in ("0", ""):
        return False
    return any(props.get(rule, "0").isdigit() and int(props.get(rule, "0")) > 0
               for rule in RULES)


def pve_pruning(storage_text: str, jobs_text: str) -> list[PveSide]:
    """The PBS storages whose backups PVE prunes, from storage.cfg and jobs.cfg texts."""
    storages = {s.id: s.props for s in parse_section_config(storage_text, "storage.cfg", [])
                if s.type == "pbs"}
    out = []

    def side(sid: str, value: str, via: str) -> PveSide:
        p = storages[sid]
        return PveSide(sid, p.get("server", "?"), p.get("datastore", ""),
                       p.get("namespace", "").strip("/"), value, via)

    for sid, props in storages.items():
        value = props.get("prune-backups", "")
        if value and prunes(value):
            out.append(side(sid, value, "storage.cfg"))
    for job in parse_section_config(jobs_text, "jobs.cfg", []):
        sid, value = job.props.get("storage", ""), job.props.get("prune-backups", "")
        if job.type == "vzdump" and sid in storages and value and prunes(value):
            out.append(side(sid, value, f"jobs.cfg job {job.id}"))
    return out


def _pbs_jobs(env: DoctorEnv) -> list[PruneJob] | str:
    try:
        jobs, _ = env.host.prune_jobs()
    except PbsAgentError as exc:
        return str(exc)
    return [j for j in jobs if not j.disable and j.keep.keeps_something()]


def check(env: DoctorEnv) -> Check:
    cfg_dir = env.pve_config_dir
    storage_text = env.read(cfg_dir / "storage.cfg")
    if storage_text is None:
        return Check(ID, Verdict.OK, f"no PVE storage config at {cfg_dir / 'storage.cfg'} "
                     "(on a PBS-only host pass --pve.config-dir with a copy of a PVE node's "
                     "/etc/pve to compare its prune settings)")
    pve = pve_pruning(storage_text, env.read(cfg_dir / "jobs.cfg") or "")
    jobs = _pbs_jobs(env)
    if isinstance(jobs, str):
        return Check(ID, Verdict.WARN, f"prune jobs unreadable: {jobs}",
                     "check /etc/proxmox-backup/prune.cfg (proxmox-backup-manager prune-job list)")
    clashes = [(p, j) for p in pve for j in jobs
               if j.store == p.datastore and j.covers(p.namespace)]
    if not clashes:
        what = f"{len(pve)} PVE storage setting(s) prune, {len(jobs)} PBS prune job(s)"
        return Check(ID, Verdict.OK, f"{what}; no namespace has both")
    p, j = clashes[0]
    ns = f"namespace '{p.namespace}'" if p.namespace else "the root namespace"
    more = f" (+{len(clashes) - 1} more)" if len(clashes) > 1 else ""
    evidence = (f"datastore {p.datastore}, {ns}: PVE storage {p.storage} (server {p.server}, "
                f"{p.via}) prunes with {p.policy}, and PBS prune job {j.id} prunes with "
                f"{j.keep} ({j.where()}): two owners of one retention policy{more}")
    fix = (f"pvesm set {p.storage} --prune-backups keep-all=1" if p.via == "storage.cfg" else
           f"remove prune-backups from {p.via} (Datacenter > Backup)") + \
        f"  # or: proxmox-backup-manager prune-job remove {j.id}"
    return Check(ID, Verdict.WARN, evidence, fix)

