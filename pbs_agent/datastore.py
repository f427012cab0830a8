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
    DIR_FLAGS,
    MANIFEST_NAME,
    MAX_NAMESPACE_DEPTH,
    SAFE_ID_RE,
    SNAPSHOT_NAME_RE,
    file_type,
    open_directory,
    open_noatime,
    read_bytes,
)

INDEX_SUFFIXES = (".fidx", ".didx")
TMP_INDEX_SUFFIXES = (".tmp_fidx", ".tmp_didx")
PROTECTED_MARKER = ".protected"
GROUP_FILES = frozenset({"owner", "notes"})


@dataclass(frozen=True, slots=True)
class FileKey:
    """What identifies one version of a file: if all five match, its content and access are
    unchanged. ctime is in because a chmod (or a content change with the mtime set back)
    changes only the ctime, and a cached result must never hide what a fresh read reports."""

    size: int
    mtime_ns: int
    ino: int
    dev: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.size, self.mtime_ns, self.ino, self.dev, self.ctime_ns)


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
    finished: bool = False  # index.json.blob exists (whatever it is: reading it tells)
    protected: bool = False
    indexes: list[IndexRef] = field(default_factory=list)
    manifest_key: FileKey | None = None  # None: not a regular file (reading it reports why)

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.path, MANIFEST_NAME)


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


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry as lstat sees it (``st`` None: it vanished before its lstat)."""

    name: str
    path: str
    st: os.stat_result | None

    @property
    def is_dir(self) -> bool:
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)

    @property
    def kind(self) -> str:
        return file_type(self.st.st_mode) if self.st is not None else "vanished"


def list_dir(path: str, issues: list[ScanIssue], *, follow: bool = False) -> list[Entry]:
    """The entries of a directory, sorted by name, each lstat'ed through the directory's
    descriptor (opened with O_NOATIME where permitted, never following a symlink unless
    *follow*); an unreadable directory becomes an issue and no entries."""
    try:
        fd = open_noatime(path, DIR_FLAGS & ~os.O_NOFOLLOW) if follow else open_directory(path)
    except OSError as exc:
        issues.append(ScanIssue(path, os_reason(exc)))
        return []
    out = []
    try:
        for name in sorted(os.listdir(fd)):
            try:
                st: os.stat_result | None = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            out.append(Entry(name, os.path.join(path, name), st))
    except OSError as exc:
        issues.append(ScanIssue(path, os_reason(exc)))
    finally:
        os.close(fd)
    return out


def walk_datastore(root: str) -> Walk:
    """Walk the whole tree below *root* (which must be a readable directory)."""
    result = Walk(root)
    _walk_namespace(root, "", 0, result, top=True)
    return result


def _not_dir(entry: Entry, out: Walk) -> None:
    if entry.st is not None:
        out.issues.append(ScanIssue(entry.path, f"not a directory ({entry.kind}): skipped"))


def _walk_namespace(path: str, ns: str, depth: int, out: Walk, top: bool = False) -> None:
    for entry in list_dir(path, out.issues, follow=top):
        if entry.name.startswith("."):
            continue
        if entry.name not in BACKUP_TYPES and entry.name != "ns":
            continue  # not PBS's: ignored
        if not entry.is_dir:
            _not_dir(entry, out)
        elif entry.name == "ns":
            _walk_children(entry.path, ns, depth, out)
        else:
            for gentry in list_dir(entry.path, out.issues):
                if gentry.is_dir:
                    _add_group(gentry, ns, entry.name, out)
                elif not gentry.name.startswith("."):
                    _not_dir(gentry, out)


def _walk_children(path: str, ns: str, depth: int, out: Walk) -> None:
    for child in list_dir(path, out.issues):
        if child.name.startswith("."):
            continue
        if not child.is_dir:
            _not_dir(child, out)
        elif not SAFE_ID_RE.match(child.name):
            out.issues.append(ScanIssue(child.path, "not a valid namespace name: skipped"))
        elif depth + 1 > MAX_NAMESPACE_DEPTH:
            out.issues.append(ScanIssue(child.path, "namespace deeper than 7 levels: skipped"))
        else:
            _walk_namespace(child.path, f"{ns}/{child.name}" if ns else child.name, depth + 1, out)


def _add_group(entry: Entry, ns: str, btype: str, out: Walk) -> None:
    if not SAFE_ID_RE.match(entry.name):
        out.issues.append(ScanIssue(entry.path, "not a valid backup id: skipped"))
        return
    group = Group(ns, btype, entry.name, entry.path)
    for sentry in list_dir(entry.path, out.issues):
        if sentry.name.startswith(".") or sentry.name in GROUP_FILES:
            continue
        btime = snapshot_time(sentry.name)
        if btime is None or not sentry.is_dir:
            if sentry.st is not None:
                out.issues.append(ScanIssue(sentry.path, "not a snapshot directory: skipped"))
            continue
        snap = _read_snapshot(sentry.path, sentry.name, btime, out.issues)
        if snap is not None:
            group.snapshots.append(snap)
    group.owner = read_owner(os.path.join(entry.path, "owner"), out.issues)
    out.groups.append(group)


def _read_snapshot(path: str, name: str, btime: int, issues: list[ScanIssue]) -> Snapshot | None:
    mine: list[ScanIssue] = []
    entries = list_dir(path, mine)
    if mine and not entries:  # the snapshot directory itself cannot be read
        issues.extend(mine)
        return None
    issues.extend(mine)
    snap = Snapshot(name, btime, path)
    for e in entries:
        n = e.name
        if e.st is None:
            continue
        if n == MANIFEST_NAME:
            snap.finished = True
            if stat.S_ISREG(e.st.st_mode):
                snap.manifest_key = FileKey.of(e.st)
        elif n == PROTECTED_MARKER:
            snap.protected = True
        elif n.endswith(INDEX_SUFFIXES) or n.endswith(TMP_INDEX_SUFFIXES):
            if not stat.S_ISREG(e.st.st_mode):
                issues.append(ScanIssue(e.path, f"index name but not a regular file "
                                                f"({e.kind}): skipped"))
                continue
            snap.indexes.append(IndexRef(n, e.path, FileKey.of(e.st),
                                         n.endswith(TMP_INDEX_SUFFIXES)))
    return snap


def read_owner(path: str, issues: list[ScanIssue]) -> str:
    """The group's owner (first line of ``owner``, shown as text); "" when absent."""
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
