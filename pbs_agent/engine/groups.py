"""Per-group digest sets: the union of a group's finished snapshots and its newest delta.

Finished snapshots never change their index files, so each group's result is persisted
keyed by a signature over its index files' (name, size, mtime, inode, device); an unchanged
group costs one stat per index file. Per-index prefix arrays are persisted too, so a new
snapshot costs one index read, not a re-read of the whole group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..datastore import Group, IndexRef, Snapshot
from ..errors import FormatError, ScanIssue, SourceError
from ..formats import read_index_prefixes
from ..state import RECENT_NS, StateStore

_EMPTY = np.zeros(0, np.uint64)
#: Index entries per snapshot kept in index order for :class:`ChangedSlots` (32 MiB); a
#: larger snapshot is read as sorted unique sets, so memory follows distinct chunks.
RAW_SNAPSHOT_ENTRIES = 1 << 22
#: (snapshot, index file name, IndexRef key): what a per-index cache entry is kept under.


@dataclass(slots=True)
class IndexResult:
    prefixes: np.ndarray  # sorted unique
    logical: int = 0
    error: str | None = None  # FormatError reason (depends only on content: cacheable)


@dataclass(slots=True)
class GroupRefs:
    """What the attribution needs from one group."""

    signature: str
    index_files: int = 0
    logical_bytes: int = 0
    last_logical_bytes: int = 0
    issues: list[ScanIssue] = field(default_factory=list)
    cacheable: bool = True
    indexes_read: int = 0
    _union: np.ndarray | None = None
    _last_new: np.ndarray | None = None
    _record: str | None = None
    _store: StateStore | None = None
    _group: Group | None = None
    _t0: int = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(union, last_new): sorted unique uint64 prefixes, loaded from the state if spilled."""
        if self._union is not None and self._last_new is not None:
            return self._union, self._last_new
        rec = self._store.load(self._record) if self._store and self._record else None
        if rec is not None and rec.meta.get("signature") == self.signature:
            return rec.arrays["union"], rec.arrays["last_new"]
        if self._group is None:
            raise RuntimeError(f"state record {self._record} has no group to rebuild from")
        # removed or replaced meanwhile (e.g. by a concurrent scan): compute it again
        return compute_group(self._group, None, self._t0, self.signature).arrays()

    def spill(self) -> None:
        """Drop the arrays from memory once they are safely in the state."""
        if self._store is not None and self._record is not None and self.cacheable:
            self._union = self._last_new = None


def sorted_unique(values: np.ndarray, *, runs: bool = False) -> np.ndarray:
    """Sorted distinct values. *runs*: the input is a concatenation of sorted runs, which the
    stable sort (timsort) merges cheaply. (Not np.unique: numpy >= 2.3 hashes, and is slower
    here than sorting.)"""
    if len(values) == 0:
        return _EMPTY
    out = np.sort(values, kind="stable" if runs else "quicksort")
    keep = np.empty(len(out), bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elements of sorted *a* not in sorted *b*."""
    if len(a) == 0 or len(b) == 0:
        return a
    idx = np.minimum(np.searchsorted(b, a), len(b) - 1)
    kept: np.ndarray = a[b[idx] != a]
    return kept


def union_of(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return _EMPTY
    if len(arrays) == 1:
        return arrays[0]
    return sorted_unique(np.concatenate(arrays), runs=True)


def _bytes(text: str) -> bytes:
    """A file name back as its bytes (undecodable names carry surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


def record_name(group: Group, kind: str = "g") -> str:
    return f"{kind}-" + hashlib.sha256(_bytes("\0".join(group.key))).hexdigest()[:24]


def counted(snap: Snapshot) -> list[IndexRef]:
    return [r for r in snap.indexes if not r.tmp]


def signature(group: Group) -> str:
    h = hashlib.sha256()
    for snap in group.finished:
        h.update(_bytes(f"S{snap.name}\0"))
        for ref in counted(snap):
            h.update(_bytes(f"I{ref.name}\0{ref.key.as_tuple()}\0"))
    return h.hexdigest()


def read_index_set(ref: IndexRef, *, raw: bool = False) -> IndexResult:
    """Read one index in bounded pieces: its sorted unique prefixes (*raw*: all of them in
    index order, duplicates kept); FormatError is captured, SourceError raised."""
    pieces: list[np.ndarray] = []
    unique = ChangedSlots()
    try:
        layout = read_index_prefixes(
            ref.path, pieces.append if raw else lambda p: unique.add_piece(sorted_unique(p)),
            in_progress=ref.tmp)
    except FormatError as exc:
        return IndexResult(_EMPTY, 0, exc.reason)
    if raw:
        return IndexResult(np.concatenate(pieces) if pieces else _EMPTY, layout.logical_size)
    return IndexResult(unique.union(), layout.logical_size)


class ChangedSlots:
    """Union of snapshots given in index order: only the slots that differ from the
    previous snapshot are kept (a slot equal to the previous one is already in the union),
    so a daily backup costs its changed chunks, not a sort of the whole disk. The kept
    pieces are merged whenever they outgrow the merged part (bounded memory)."""

    def __init__(self) -> None:
        self.merged, self.pending = _EMPTY, 0
        self.pieces: list[np.ndarray] = []

    def add(self, prev: np.ndarray, cur: np.ndarray) -> None:
        self.add_piece(cur[cur != prev] if len(prev) == len(cur) else cur)

    def add_piece(self, piece: np.ndarray) -> None:
        """Values to include (any order, duplicates allowed)."""
        if len(piece):
            self.pieces.append(piece)
            self.pending += len(piece)
        if self.pending > max(len(self.merged), 1 << 16):
            self._merge()

    def _merge(self) -> None:
        if self.pieces:
            self.merged = sorted_unique(np.concatenate([self.merged, *self.pieces]))
        self.pieces, self.pending = [], 0

    def union(self) -> np.ndarray:
        self._merge()
        return self.merged


def index_dir(group: Group) -> str:
    """The state directory holding one record per index file of *group*."""
    return record_name(group, "ix")


def _index_record(group: Group, snap: Snapshot, ref: IndexRef) -> str:
    h = hashlib.sha256(_bytes(f"{snap.name}\0{ref.name}")).hexdigest()[:24]
    return f"{index_dir(group)}/{h}"


def compute_group(
    group: Group, store: StateStore | None, scan_start_ns: int, sig: str
) -> GroupRefs:
    """Build a group's union and newest delta, reusing the state where keys match.

    Memory: the union, two snapshots' sets and one index's set; each index's set is kept in
    a record of its own, so a group of many large snapshots is never held whole."""
    out = GroupRefs(sig, _record=record_name(group), _store=store, _group=group,
                    _t0=scan_start_ns)
    used: set[str] = set()
    union, prev, cur = _EMPTY, _EMPTY, _EMPTY
    slots = ChangedSlots() if store is None else None  # no state: nothing to persist
    for snap in group.finished:
        arrays, logical, raw_left = [], 0, RAW_SNAPSHOT_ENTRIES
        for ref in counted(snap):
            raw = slots is not None and (ref.key.size >> 5) <= raw_left  # entries <= size/32
            raw_left -= ref.key.size >> 5
            rname = _index_record(group, snap, ref)
            used.add(rname)
            res = _index_result(ref, store, rname, out, scan_start_ns, raw=raw)
            if res is None:
                continue
            if res.error is not None:
                out.issues.append(ScanIssue(ref.path, res.error))
                continue
            out.index_files += 1
            logical += res.logical
            arrays.append(res.prefixes)
        if slots is not None:
            prev, cur = cur, np.concatenate(arrays) if arrays else _EMPTY
            slots.add(prev, cur)
        else:
            prev, cur = cur, union_of(arrays)
            union = union_of([union, cur])
        out.logical_bytes += logical
        out.last_logical_bytes = logical
    if slots is not None:
        union, prev, cur = slots.union(), sorted_unique(prev), sorted_unique(cur)
    out._union, out._last_new = union, minus(cur, prev)
    if store is not None:
        store.prune(index_dir(group), keep=used)  # records of indexes that are gone
        if out.cacheable:
            _save(store, group, out)
    return out


def _stored(store: StateStore | None, rname: str, ref: IndexRef) -> IndexResult | None:
    """The recorded digest set of an index, if its record matches the file's key now."""
    rec = store.load(rname) if store is not None else None
    if rec is not None and rec.meta.get("key") == list(ref.key.as_tuple()) \
            and "refs" in rec.arrays:
        return IndexResult(rec.arrays["refs"], rec.meta["logical"], rec.meta["error"])
    return None


def snapshot_index_set(group: Group, snap: Snapshot, ref: IndexRef,
                       store: StateStore | None) -> IndexResult:
    """One index's sorted unique digest set: from the state when recorded, else read (not
    recorded here); SourceError when it cannot be read."""
    return _stored(store, _index_record(group, snap, ref), ref) or read_index_set(ref)


def _index_result(ref: IndexRef, store: StateStore | None, rname: str, out: GroupRefs,
                  scan_start_ns: int, raw: bool = False) -> IndexResult | None:
    """One index's digest set: from its record in the state or read now (None:
    unreadable). What is read is recorded, unless the file changed in the last 2 s."""
    key = list(ref.key.as_tuple())
    res = _stored(store, rname, ref)
    if res is None:
        try:
            res = read_index_set(ref, raw=raw)
        except SourceError as exc:
            out.issues.append(ScanIssue.from_exc(exc))
            out.cacheable = False
            return None
        out.indexes_read += 1
        if store is not None and ref.key.mtime_ns < scan_start_ns - RECENT_NS:
            store.save(rname, {"key": key, "logical": res.logical, "error": res.error},
                       {"refs": res.prefixes})
    if ref.key.mtime_ns >= scan_start_ns - RECENT_NS:  # ctime: in the key (signature)
        out.cacheable = False
    return res


def _save(store: StateStore, group: Group, out: GroupRefs) -> None:
    union, last_new = out.arrays()
    store.save(record_name(group), {
        "signature": out.signature, "index_files": out.index_files,
        "logical_bytes": out.logical_bytes, "last_logical_bytes": out.last_logical_bytes,
        "issues": [i.as_dict() for i in out.issues],
    }, {"union": union, "last_new": last_new})


class DeferredGroup(GroupRefs):
    """A group computed only when the attribution asks for its arrays, then forgotten:
    without a state this keeps one group's digest sets in memory at a time."""

    def __init__(self, group: Group, sig: str, scan_start_ns: int) -> None:
        super().__init__(sig, cacheable=False, _group=group, _t0=scan_start_ns)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        assert self._group is not None  # set by __init__
        done = compute_group(self._group, None, self._t0, self.signature)
        self.index_files, self.logical_bytes = done.index_files, done.logical_bytes
        self.last_logical_bytes, self.issues = done.last_logical_bytes, done.issues
        self.indexes_read = done.indexes_read
        return done.arrays()


def cached_group(
    store: StateStore | None, group: Group, sig: str, scan_start_ns: int
) -> GroupRefs | None:
    """The persisted result of an unchanged group (arrays loaded lazily), or None."""
    rec = store.load(record_name(group)) if store else None
    if rec is None or rec.meta.get("signature") != sig:
        return None
    m = rec.meta
    return GroupRefs(
        sig, m["index_files"], m["logical_bytes"], m["last_logical_bytes"],
        [ScanIssue(i["path"], i["reason"]) for i in m["issues"]],
        _record=record_name(group), _store=store, _group=group, _t0=scan_start_ns,
    )


def other_references(groups: list[Group], issues: list[ScanIssue]) -> tuple[np.ndarray, int]:
    """Prefixes referenced by unfinished snapshots and ``*.tmp_[fd]idx`` files (never cached).

    Returns (sorted unique prefixes, number of index files read).
    """
    arrays, n = [], 0
    for group in groups:
        for snap in group.snapshots:
            for ref in snap.indexes:
                if snap.finished and not ref.tmp:
                    continue
                try:
                    res = read_index_set(ref)
                except SourceError as exc:
                    issues.append(ScanIssue.from_exc(exc))
                    continue
                n += 1
                if res.error is not None:
                    issues.append(ScanIssue(ref.path, res.error))
                else:
                    arrays.append(res.prefixes)
    return union_of(arrays), n
