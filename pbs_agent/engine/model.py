"""The report's data model: field names are the JSON keys of `pbs-agent report --json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ScanIssue


@dataclass(slots=True)
class DatastoreTotals:
    path: str
    snapshots: int = 0
    index_files: int = 0
    logical_bytes: int = 0
    chunks_referenced: int = 0
    physical_bytes: int = 0
    dedup_factor: float | None = None
    chunks_on_disk: int = 0
    garbage_chunks: int = 0
    garbage_bytes: int = 0
    missing_chunks: int = 0
    bad_chunks: int = 0


@dataclass(slots=True)
class GroupReport:
    namespace: str
    backup_type: str
    backup_id: str
    owner: str = ""
    snapshots: int = 0
    protected_snapshots: int = 0
    first_backup_time: int | None = None
    last_backup_time: int | None = None
    last_logical_bytes: int = 0
    referenced_bytes: int = 0
    exclusive_bytes: int = 0
    last_new_bytes: int = 0
    last_verify_state: str = "none"
    comment: str = ""
    missing_chunks: int = 0
    bad_chunks: int = 0
    index_files: int = 0
    logical_bytes: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.backup_type, self.backup_id)

    @property
    def name(self) -> str:
        """``ns/a/vm/100`` style display name (``vm/100`` in the root namespace)."""
        base = f"{self.backup_type}/{self.backup_id}"
        return f"{self.namespace}:{base}" if self.namespace else base


@dataclass(slots=True)
class ScanStats:
    """How the scan went (extra JSON keys): useful to see incremental work."""

    seconds: float = 0.0
    chunk_dirs_listed: int = 0
    index_files_read: int = 0
    result_cached: bool = False
    listing_processes: int = 1  # 2: a forked child shared the chunk listing
    # tracemalloc only: this process's peak so far when that child exited, the child's own
    listing_parent_peak_traced_bytes: int = 0
    listing_child_peak_traced_bytes: int = 0
    state_dir: str | None = None
    progress: bool = field(default=False, repr=False)


@dataclass(slots=True)
class DatastoreReport:
    datastore: DatastoreTotals
    groups: list[GroupReport] = field(default_factory=list)
    errors: list[ScanIssue] = field(default_factory=list)
    scan: ScanStats = field(default_factory=ScanStats)

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of issue 2 (plus the extra ``scan`` key)."""
        return {
            "datastore": asdict(self.datastore),
            "groups": [asdict(g) for g in self.groups],
            "errors": [e.as_dict() for e in self.errors],
            "scan": {k: v for k, v in asdict(self.scan).items() if k != "progress"},
        }

    def group(self, namespace: str, backup_type: str, backup_id: str) -> GroupReport | None:
        for g in self.groups:
            if g.key == (namespace, backup_type, backup_id):
                return g
        return None
