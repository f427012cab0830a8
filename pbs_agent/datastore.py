"""Walk a PBS datastore tree, read-only: namespaces, groups, snapshots and their files.

Layout (pbs-internals §1): ``<root>/[ns/<a>/[ns/<b>/...]]<vm|ct|host>/<id>/<RFC 3339>/``.
The walk never opens a chunk, never takes a lock and never writes; every problem becomes a
:class:`ScanIssue` and the walk goes on.
"""

from __future__ import annotations

import calendar
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import FormatError, ScanIssue, SourceError, os_reason
from .formats import (
    BACKUP_TYPES,
    MANIFEST_NAME,
    MAX_NAMESPACE_DEPTH,
    SAFE_ID_RE,
    SNAPSHOT_NAME_RE,
    read_bytes,
)

INDEX_SUFFIXES = (".fidx", ".didx")
TMP_INDEX_SUFFIXES = (".tmp_fidx", ".tmp_didx")
PROTECTED_MARKER = ".protected"
GROUP_FILES = frozenset({"owner", "notes"})


@dataclass(frozen=True, slots=True)
class FileKey:
    """What identifies one version of a file: if all four match, its content is unchanged."""

    size: int
    mtime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.size, self.mtime_ns, self.ino, self.dev)


@dataclass(slots=True)
class IndexRef:
    """An index file found in a snapshot directory (``tmp`` for ``*.tmp_[fd]idx``)."""

    name: str
    path: str
    key: FileKey
    tmp: bool = False


@dataclass(slots=True)
class Snapshot:
    name: str
    time: int
    path: str
    finished: bool = False
    protected: bool = False
    indexes: list[IndexRef] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    namespace: str  # "a/b", root is ""
    backup_type: str
    backup_id: str
    path: str
    owner: str = ""
    snapshots: list[Snapshot] = field(default_factory=list)  # oldest first

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.backup_type, self.backup_id)

    @property
    def finished(self) -> list[Snapshot]:
        return [s for s in self.snapshots if s.finished]


@dataclass(slots=True)
class Walk:
    root: str
    groups: list[Group] = field(default_factory=list)
    issues: list[ScanIssue] = field(default_factory=list)


def snapshot_time(name: str) -> int | None:
    """Epoch seconds of a snapshot dir name, or None if it is not one.

    >>> snapshot_time("2024-06-05T10:00:00Z")
    1717581600
    >>> snapshot_time("2024-13-05T10:00:00Z") is None
    True
    """
    if not SNAPSHOT_NAME_RE.match(name):
        return None
    y, mo, d = int(name[0:4]), int(name[5:7]), int(name[8:10])
    h, mi, s = int(name[11:13]), int(name[14:16]), int(name[17:19])
    if y < 1 or not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]):
        return None
    if h > 23 or mi > 59 or s > 59:
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def _scandir(path: str, issues: list[ScanIssue]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        issues.append(ScanIssue(path, os_reason(exc)))
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def walk_datastore(root: str) -> Walk:
    """Walk the whole tree below *root* (which must be a readable directory)."""
    result = Walk(root)
    _walk_namespace(root, "", 0, result)
    return result


def _walk_namespace(path: str, ns: str, depth: int, out: Walk) -> None:
    for entry in _scandir(path, out.issues):
        if entry.name.startswith(".") or not _is_dir(entry):
            continue
        if entry.name in BACKUP_TYPES:
            for gentry in _scandir(entry.path, out.issues):
                if _is_dir(gentry):
                    _add_group(gentry, ns, entry.name, out)
        elif entry.name == "ns":
            _walk_children(entry.path, ns, depth, out)


def _walk_children(path: str, ns: str, depth: int, out: Walk) -> None:
    for child in _scandir(path, out.issues):
        if child.name.startswith(".") or not _is_dir(child):
            continue
        if not SAFE_ID_RE.match(child.name):
            out.issues.append(ScanIssue(child.path, "not a valid namespace name: skipped"))
        elif depth + 1 > MAX_NAMESPACE_DEPTH:
            out.issues.append(ScanIssue(child.path, "namespace deeper than 7 levels: skipped"))
        else:
            _walk_namespace(child.path, f"{ns}/{child.name}" if ns else child.name, depth + 1, out)


def _add_group(entry: os.DirEntry[str], ns: str, btype: str, out: Walk) -> None:
    if not SAFE_ID_RE.match(entry.name):
        out.issues.append(ScanIssue(entry.path, "not a valid backup id: skipped"))
        return
    group = Group(ns, btype, entry.name, entry.path)
    for sentry in _scandir(entry.path, out.issues):
        if sentry.name.startswith(".") or sentry.name in GROUP_FILES:
            continue
        btime = snapshot_time(sentry.name)
        if btime is None or not _is_dir(sentry):
            out.issues.append(ScanIssue(sentry.path, "not a snapshot directory: skipped"))
            continue
        snap = _read_snapshot(sentry.path, sentry.name, btime, out.issues)
        if snap is not None:
            group.snapshots.append(snap)
    group.owner = read_owner(os.path.join(entry.path, "owner"), out.issues)
    out.groups.append(group)


def _read_snapshot(path: str, name: str, btime: int, issues: list[ScanIssue]) -> Snapshot | None:
    try:
        it = os.scandir(path)
    except OSError as exc:
        issues.append(ScanIssue(path, os_reason(exc)))
        return None
    snap = Snapshot(name, btime, path)
    with it:
        for e in sorted(it, key=lambda e: e.name):
            n = e.name
            if n == MANIFEST_NAME:
                snap.finished = True
            elif n == PROTECTED_MARKER:
                snap.protected = True
            elif n.endswith(INDEX_SUFFIXES) or n.endswith(TMP_INDEX_SUFFIXES):
                ref = _index_ref(e, n.endswith(TMP_INDEX_SUFFIXES), issues)
                if ref is not None:
                    snap.indexes.append(ref)
    return snap


def _index_ref(e: os.DirEntry[str], tmp: bool, issues: list[ScanIssue]) -> IndexRef | None:
    try:
        st = e.stat(follow_symlinks=False)
    except OSError as exc:
        issues.append(ScanIssue(e.path, os_reason(exc)))
        return None
    if not stat.S_ISREG(st.st_mode):
        issues.append(ScanIssue(e.path, "index name but not a regular file: skipped"))
        return None
    return IndexRef(e.name, e.path, FileKey.of(st), tmp)


def read_owner(path: str, issues: list[ScanIssue]) -> str:
    """The group's owner (first line of ``owner``); "" when absent."""
    try:
        data = read_bytes(path, limit=4096)
    except (SourceError, FormatError) as exc:
        if not exc.reason.startswith("vanished"):
            issues.append(ScanIssue.from_exc(exc))
        return ""
    return data.decode("utf-8", "replace").split("\n", 1)[0].strip()


def iter_index_refs(walk: Walk) -> Iterator[tuple[Group, Snapshot, IndexRef]]:
    for g in walk.groups:
        for s in g.snapshots:
            for r in s.indexes:
                yield g, s, r
