"""Retention of a whole datastore: each group's prune plan under the CLI's options or the
configured prune jobs (``prune.cfg``), as PBS's prune jobs would apply them.

A prune job prunes every group of its namespace and, within ``max-depth``, the namespaces
below (``src/server/prune_job.rs``). Jobs that are disabled or keep nothing are skipped by
PBS's scheduler (``schedule_datastore_prune_jobs``); a group no job covers is not pruned.
When several jobs cover a group they run one after the other, each on what the previous
one left (PBS gives them no order; here they run in ``prune.cfg`` order and the plan says
which jobs applied).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from .assurance.prune import KEEP_ALL, Decision, KeepOptions, Mark, SnapshotInfo, plan, shortfall
from .datastore import Group, Snapshot
from .host import PruneJob


@dataclass(slots=True)
class GroupPlan:
    """One group's fate: decisions newest first, the jobs that produced them."""

    namespace: str
    backup_type: str
    backup_id: str
    decisions: list[Decision]
    jobs: list[str] = field(default_factory=list)
    shortfall: dict[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    @property
    def name(self) -> str:
        base = f"{self.backup_type}/{self.backup_id}"
        return f"{self.namespace}:{base}" if self.namespace else base

    def oldest_kept_finished(self) -> int | None:
        """Backup time of the oldest finished snapshot the plan keeps (None: none)."""
        times = [d.snapshot.time for d in self.decisions if d.keep and d.snapshot.finished]
        return min(times) if times else None

    def as_dict(self) -> dict[str, Any]:
        """The ``prune-plan --json`` shape (times as epoch seconds, newest first)."""
        return {
            "namespace": self.namespace, "backup_type": self.backup_type,
            "backup_id": self.backup_id, "jobs": list(self.jobs),
            "keep": [{"time": d.snapshot.time, "rule": d.rule} for d in self.kept],
            "remove": [{"time": d.snapshot.time} for d in self.removed],
        }


def snapshot_infos(snapshots: Iterable[Snapshot]) -> list[SnapshotInfo]:
    return [SnapshotInfo(s.time, s.finished, s.protected) for s in snapshots]


def jobs_for(namespace: str, store: str, jobs: Sequence[PruneJob]) -> list[PruneJob]:
    """The jobs PBS would run on groups of *namespace* in datastore *store*."""
    return [j for j in jobs if j.store == store and not j.disable and j.keep.keeps_something()
            and j.covers(namespace)]


def _apply(infos: list[SnapshotInfo], jobs: list[PruneJob], tz: tzinfo | None
           ) -> tuple[list[Decision], dict[str, int]]:
    if not jobs:
        return plan(infos, KeepOptions(), tz), {}
    removed: list[Decision] = []
    short: dict[str, int] = {}
    survivors = infos
    decisions: list[Decision] = []
    for job in jobs:
        decisions = plan(survivors, job.keep, tz)
        for rule, n in shortfall(decisions, job.keep).items():
            short[rule] = max(short.get(rule, 0), n)
        removed += [d for d in decisions if not d.keep]
        survivors = [d.snapshot for d in decisions if d.keep]
    kept = [d for d in decisions if d.keep]
    return sorted(kept + removed, key=lambda d: -d.snapshot.time), short


def plan_group(group: Group, *, options: KeepOptions | None = None,
               jobs: Sequence[PruneJob] = (), store: str = "",
               tz: tzinfo | None = None) -> GroupPlan:
    """*options* given: that policy (keep-all if it keeps nothing); else the jobs of *store*."""
    infos = snapshot_infos(group.snapshots)
    if options is not None:
        decisions = plan(infos, options, tz)
        out = GroupPlan(*group.key, decisions, [], shortfall(decisions, options))
    else:
        matched = jobs_for(group.namespace, store, jobs)
        decisions, short = _apply(infos, matched, tz)
        out = GroupPlan(*group.key, decisions, [j.id for j in matched], short)
    return out


def describe_rule(d: Decision) -> str:
    """What kept a snapshot, for humans (``keep-all`` reads as "not pruned")."""
    if d.mark is Mark.REMOVE:
        return "remove"
    return "not pruned" if d.rule == KEEP_ALL else str(d.rule)
