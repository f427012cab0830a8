"""The report's data model: field names are the JSON keys of `pbs-agent report --json`.

:meth:`DatastoreReport.from_dict` turns that JSON back into these types (the dedup collector
reads reports from a child process) and fails loudly, with a FormatError naming the field,
on a missing, unknown or wrongly typed key: a renamed field breaks a test, not a dashboard.
"""

from __future__ import annotations

import types
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar, get_args, get_type_hints

from ..errors import FormatError, ScanIssue

T = TypeVar("T")


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
    # what a GC starting at the scan would remove / keep, and when the kept garbage is due
    garbage_reclaimable_bytes: int | None = None  # None: atimes unknown (S3)
    garbage_pending_bytes: int | None = None
    garbage_pending_until: int | None = None


@dataclass(slots=True)
class GcCheck:
    """PBS's pending figures in ``.gc-status`` beside the agent's recount from atimes."""

    upid: str
    start: int
    pbs_pending_chunks: int
    pbs_pending_bytes: int
    pending_chunks: int
    pending_bytes: int


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
    last_restorable_time: int | None = None
    last_verified_ok_time: int | None = None

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
    manifests_read: int = 0  # the others came unchanged from the state
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
    gc_check: GcCheck | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of issue 2 (plus the extra ``scan`` and ``gc_check`` keys)."""
        return {
            "datastore": asdict(self.datastore),
            "groups": [asdict(g) for g in self.groups],
            "errors": [e.as_dict() for e in self.errors],
            "scan": {k: v for k, v in asdict(self.scan).items() if k != "progress"},
            "gc_check": asdict(self.gc_check) if self.gc_check is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any, what: str = "report") -> DatastoreReport:
        """The inverse of :meth:`as_dict`; FormatError naming any missing, unknown or
        wrongly typed field."""
        top = _object(data, what)
        _same_keys(top, {"datastore", "groups", "errors", "scan", "gc_check"}, what)
        check = top["gc_check"]
        return cls(
            datastore=decode(DatastoreTotals, top["datastore"], f"{what}: datastore"),
            groups=[decode(GroupReport, g, f"{what}: groups[{i}]")
                    for i, g in enumerate(_array(top["groups"], f"{what}: groups"))],
            errors=[decode(ScanIssue, e, f"{what}: errors[{i}]")
                    for i, e in enumerate(_array(top["errors"], f"{what}: errors"))],
            scan=decode(ScanStats, top["scan"], f"{what}: scan", absent=("progress",)),
            gc_check=None if check is None else decode(GcCheck, check, f"{what}: gc_check"),
        )

    def group(self, namespace: str, backup_type: str, backup_id: str) -> GroupReport | None:
        for g in self.groups:
            if g.key == (namespace, backup_type, backup_id):
                return g
        return None


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise FormatError(what, f"expected an object, got {type(data).__name__}")
    return data


def _array(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise FormatError(what, f"expected a list, got {type(data).__name__}")
    return data


def _same_keys(data: dict[str, Any], expected: Collection[str], what: str) -> None:
    missing = sorted(set(expected) - set(data))
    unknown = sorted(set(data) - set(expected))
    if missing or unknown:
        parts = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
        raise FormatError(what, "; ".join(parts))


def _accepts(hint: Any, value: Any) -> bool:
    """Whether a JSON scalar fits a field annotation (int, float, str, bool, X | None)."""
    if isinstance(hint, types.UnionType):
        return any(_accepts(h, value) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool or isinstance(value, bool):
        return hint is bool and isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(hint, type) and isinstance(value, hint)


def decode(cls: type[T], data: Any, what: str, absent: Collection[str] = ()) -> T:
    """An instance of the scalar-field dataclass *cls* from a JSON object: every field but
    those in *absent* present, none unknown, each of its annotated type; else FormatError."""
    obj = _object(data, what)
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init and f.name not in absent]  # type: ignore[arg-type]
    _same_keys(obj, names, what)
    for name in names:
        if not _accepts(hints[name], obj[name]):
            raise FormatError(what, f"field {name}: {obj[name]!r} is not {hints[name]}")
    return cls(**obj)
