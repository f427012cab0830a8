"""`scan_datastore`: walk, list chunks, attribute, with a persisted incremental state."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..assurance.reclaim import Garbage, GcRule, forecast, pending_at
from ..datastore import Group, Walk, walk_datastore
from ..errors import FormatError, ScanIssue, SourceError, os_reason, printable
from ..formats import read_bytes
from ..progress import Progress
from ..state import Record, StateStore
from ..tasks.tasklog import parse_upid
from .attribution import GroupNumbers, Totals, attribute
from .chunks import GC_STATUS, ChunkListing, list_chunks
from .groups import (
    DeferredGroup,
    GroupRefs,
    cached_group,
    compute_group,
    other_references,
    record_name,
    signature,
    union_of,
)
from .manifests import ManifestInfo, manifest_issues, read_manifests
from .model import DatastoreReport, DatastoreTotals, GcCheck, GroupReport, ScanStats
from .restore import damaged_snapshots, restore_points, unreadable_snapshot_dirs

RESULT = "result"
GC_STATUS_LIMIT = 1 << 16  # .gc-status is one line of JSON


@dataclass(slots=True)
class _Assurance:
    """What the restore points and the reclaim forecast need from a scan (fresh or cached):
    per group key the damaged snapshots' names, and the garbage chunks."""

    damaged: dict[tuple[str, str, str], list[str]]
    garbage: Garbage
    atimes_known: bool = True  # False (S3): no reclaim forecast


def _check_root(path: str) -> str:
    root = os.path.abspath(path)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise SourceError(root, "no such datastore directory") from None
    except OSError as exc:
        raise SourceError(root, os_reason(exc)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise SourceError(root, "not a directory")
    if not os.path.isdir(os.path.join(root, ".chunks")):
        # an unmounted datastore looks like this too: say so instead of reporting zeros
        raise SourceError(root, "not a PBS datastore (no .chunks)")
    return root


def scan_datastore(
    path: str, *, state_dir: str | None = None, progress: bool = False,
    chunks: Callable[[], ChunkListing] | None = None,
    gc_rule: GcRule | None = None, now: int | None = None,
) -> DatastoreReport:
    """Scan a datastore read-only and return the dedup report.

    Bad content never raises (it is listed in ``errors``); only an unusable *path* (missing,
    not a directory, no ``.chunks``) raises :class:`SourceError`. With *state_dir*, unchanged
    parts are taken from the state. *chunks* replaces the listing of ``<path>/.chunks`` (an
    S3-backed datastore: *path* is its local cache, the chunks are listed from the bucket).
    *gc_rule* (cutoff, oldest running writer) and *now* drive the reclaim forecast.
    """
    started = time.monotonic()
    t0 = time.time_ns()
    root = _check_root(path)
    store = StateStore.open(state_dir, root)
    stats = ScanStats(state_dir=store.directory if store else None)
    stats.progress = progress
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(chunks) if chunks is not None else \
            pool.submit(list_chunks, root, store, t0, progress=progress)
        walk = walk_datastore(root)
        sigs = [signature(g) for g in walk.groups]
        gsig = _combined(walk, sigs)
        prev = store.load(RESULT) if store else None
        hit = prev is not None and gsig is not None and prev.meta.get("groups") == gsig
        # with a state, read indexes while the chunks are listed (arrays spill to the state)
        refs = _group_refs(walk, sigs, store, t0, stats) if store and not hit else None
        manifests, stats.manifests_read = read_manifests(walk, store, t0)
        listing = fut.result()
    stats.chunk_dirs_listed = listing.dirs_listed
    stats.listing_processes = listing.processes
    stats.listing_parent_peak_traced_bytes, stats.listing_child_peak_traced_bytes = \
        listing.peaks
    if hit and prev is not None and prev.meta.get("chunks") == listing.fingerprint:
        report = _from_result(walk, prev.meta)
        extra = _assurance_from_result(prev)
        stats.result_cached = True
    else:
        if refs is None:
            refs = _group_refs(walk, sigs, store, t0, stats)
        report, extra = _compute(walk, refs, listing, stats, store)
        if store is not None and gsig is not None and listing.fingerprint != "volatile" \
                and all(r.cacheable for r in refs):
            _save_result(store, gsig, listing, report, walk, extra)
    _finish(report, walk, manifests)
    _assure(report, walk, extra, manifests, gc_rule or GcRule(),
            int(time.time()) if now is None else now)
    stats.seconds = round(time.monotonic() - started, 3)
    report.scan = stats
    return report


def _combined(walk: Walk, sigs: list[str]) -> str | None:
    """One signature for all groups; None when something is in progress (never cached)."""
    if any(not s.finished or any(r.tmp for r in s.indexes)
           for g in walk.groups for s in g.snapshots):
        return None
    h = hashlib.sha256()
    for g, s in zip(walk.groups, sigs, strict=True):
        h.update("\0".join((*g.key, s)).encode() + b"\n")
    return h.hexdigest()


def _group_refs(walk: Walk, sigs: list[str], store: StateStore | None, t0: int,
                stats: ScanStats) -> list[GroupRefs]:
    """Per-group digest sets: from the state, computed and spilled to it, or deferred."""
    if store is None:
        return [DeferredGroup(g, sig, t0) for g, sig in zip(walk.groups, sigs, strict=True)]
    refs = []
    bar = Progress("index files", total=len(walk.groups), unit=" groups",
                   stream=True if stats.progress else None)
    for g, sig in zip(walk.groups, sigs, strict=True):
        r = cached_group(store, g, sig, t0) or compute_group(g, store, t0, sig)
        r.spill()
        refs.append(r)
        bar.advance()
    bar.close()
    if store is not None:
        _forget_removed_groups(store, walk)
    return refs


def _forget_removed_groups(store: StateStore, walk: Walk) -> None:
    keep = {record_name(g, k) for g in walk.groups for k in ("g", "ix")}
    for name in store.names():  # gi-: one record per group of older versions
        if name.startswith(("g-", "gi-", "ix-")) and name not in keep:
            store.remove(name)


def _compute(walk: Walk, refs: list[GroupRefs], listing: ChunkListing, stats: ScanStats,
             store: StateStore | None) -> tuple[DatastoreReport, _Assurance]:
    issues = list(walk.issues)
    other, n_other = other_references(walk.groups, issues)
    stats.index_files_read += n_other
    totals, numbers, left = attribute(listing, [r.arrays for r in refs], other)
    damaged = {g.key: names for g, lost in zip(walk.groups, left.lost, strict=True)
               if (names := damaged_snapshots(g, lost, store))}
    extra = _Assurance(damaged, Garbage.of(left.garbage_atimes, left.garbage_sizes),
                       listing.atimes_known)
    for r in refs:  # after the attribution: deferred groups are computed there
        issues.extend(r.issues)
        stats.index_files_read += r.indexes_read
    issues.extend(listing.issues)
    report = DatastoreReport(_totals(walk.root, totals, refs, walk), errors=issues)
    for g, r, n in zip(walk.groups, refs, numbers, strict=True):
        report.groups.append(_group_report(g, r.index_files, r.logical_bytes,
                                           r.last_logical_bytes, n))
    return report, extra


def _totals(root: str, t: Totals, refs: list[GroupRefs], walk: Walk) -> DatastoreTotals:
    logical = sum(r.logical_bytes for r in refs)
    return DatastoreTotals(
        path=printable(root),
        snapshots=sum(len(g.finished) for g in walk.groups),
        index_files=sum(r.index_files for r in refs),
        logical_bytes=logical,
        dedup_factor=round(logical / t.physical_bytes, 4) if t.physical_bytes else None,
        **asdict(t),
    )


def _group_report(g: Group, index_files: int, logical: int, last_logical: int,
                  n: GroupNumbers) -> GroupReport:
    fin = g.finished
    return GroupReport(
        namespace=g.namespace, backup_type=g.backup_type, backup_id=g.backup_id,
        owner=g.owner, snapshots=len(fin),
        protected_snapshots=sum(1 for s in fin if s.protected),
        first_backup_time=fin[0].time if fin else None,
        last_backup_time=fin[-1].time if fin else None,
        last_logical_bytes=last_logical, index_files=index_files, logical_bytes=logical,
        **asdict(n),
    )


def _save_result(
    store: StateStore, gsig: str, listing: ChunkListing, rep: DatastoreReport, walk: Walk,
    extra: _Assurance,
) -> None:
    walk_issues = set(walk.issues)
    store.save(RESULT, {
        "groups": gsig, "chunks": listing.fingerprint,
        "datastore": asdict(rep.datastore),
        "group_numbers": [[g.index_files, g.logical_bytes, g.last_logical_bytes,
                           asdict(_numbers_of(g))] for g in rep.groups],
        "errors": [e.as_dict() for e in rep.errors if e not in walk_issues],
        "damaged": [[*key, names] for key, names in extra.damaged.items()],
        "atimes_known": extra.atimes_known,
    }, {"garbage_atimes": extra.garbage.atimes, "garbage_sizes": extra.garbage.sizes})


def _assurance_from_result(rec: Record) -> _Assurance:
    damaged = {(ns, t, i): names for ns, t, i, names in rec.meta.get("damaged", [])}
    a = rec.arrays
    return _Assurance(damaged, Garbage(a["garbage_atimes"], a["garbage_sizes"]),
                      bool(rec.meta.get("atimes_known", True)))


def _numbers_of(g: GroupReport) -> GroupNumbers:
    return GroupNumbers(g.referenced_bytes, g.exclusive_bytes, g.last_new_bytes,
                        g.missing_chunks, g.bad_chunks)


def _from_result(walk: Walk, meta: dict[str, Any]) -> DatastoreReport:
    """The previous result, valid because every group and every chunk dir is unchanged."""
    errors = list(walk.issues) + [ScanIssue(e["path"], e["reason"]) for e in meta["errors"]]
    report = DatastoreReport(DatastoreTotals(**meta["datastore"]), errors=errors)
    for g, (nidx, logical, last_logical, nums) in zip(walk.groups, meta["group_numbers"],
                                                      strict=True):
        report.groups.append(_group_report(g, nidx, logical, last_logical,
                                           GroupNumbers(**nums)))
    return report


def _finish(report: DatastoreReport, walk: Walk, manifests: dict[str, ManifestInfo]) -> None:
    """Manifest-derived fields (verify state and notes of the newest snapshot), the errors
    of every unreadable manifest, then sort groups."""
    by_key = {g.key: g for g in walk.groups}
    for gr in report.groups:
        fin = by_key[gr.key].finished
        if fin:
            info = manifests[fin[-1].path]
            gr.last_verify_state, gr.comment = info.verify_state, info.comment
    report.errors.extend(manifest_issues(walk, manifests))
    report.groups.sort(key=lambda g: (-g.exclusive_bytes, g.namespace, g.backup_type,
                                      g.backup_id))


def _assure(report: DatastoreReport, walk: Walk, extra: _Assurance,
            manifests: dict[str, ManifestInfo], rule: GcRule, now: int) -> None:
    """Restore points per group, the reclaim forecast and the ``.gc-status`` cross-check."""
    by_key = {g.key: g for g in walk.groups}
    bad_dirs = unreadable_snapshot_dirs(e.path for e in report.errors)
    for gr in report.groups:
        points = restore_points(by_key[gr.key], set(extra.damaged.get(gr.key, ())), bad_dirs,
                                manifests)
        gr.last_restorable_time = points.last_restorable_time
        gr.last_verified_ok_time = points.last_verified_ok_time
    if not extra.atimes_known:
        return
    fc = forecast(extra.garbage, now, rule)
    d = report.datastore
    d.garbage_reclaimable_bytes, d.garbage_pending_bytes = fc.reclaimable_bytes, fc.pending_bytes
    d.garbage_pending_until = fc.pending_until
    report.gc_check = _gc_check(walk.root, extra.garbage, rule, report.errors)


def _gc_check(root: str, garbage: Garbage, rule: GcRule,
              errors: list[ScanIssue]) -> GcCheck | None:
    """PBS's last GC figures from ``.gc-status`` and the recount from today's atimes."""
    path = os.path.join(root, GC_STATUS)
    try:
        status = json.loads(read_bytes(path, limit=GC_STATUS_LIMIT))
        upid = status["upid"]
        start = parse_upid(upid).starttime
        pbs_chunks, pbs_bytes = int(status["pending-chunks"]), int(status["pending-bytes"])
    except SourceError as exc:
        if not exc.reason.startswith("vanished"):
            errors.append(ScanIssue.from_exc(exc))
        return None
    except (FormatError, ValueError, KeyError, TypeError, AttributeError) as exc:
        errors.append(ScanIssue(path, f"not a PBS GC status: {exc}"[:200]))
        return None
    chunks, nbytes = pending_at(garbage, start, rule)
    return GcCheck(upid, start, pbs_chunks, pbs_bytes, chunks, nbytes)


def referenced_digest_prefixes(path: str, state_dir: str | None = None) -> np.ndarray:
    """Sorted unique uint64 prefixes (first 8 digest bytes, big-endian) referenced by the
    finished snapshots of a datastore: the set `estimate --against` compares with."""
    root = _check_root(path)
    store = StateStore.open(state_dir, root)
    walk = walk_datastore(root)
    t0 = time.time_ns()
    union = np.zeros(0, np.uint64)
    for g in walk.groups:  # one group's set at a time
        sig = signature(g)
        r = cached_group(store, g, sig, t0) or compute_group(g, store, t0, sig)
        union = union_of([union, r.arrays()[0]])
    return union
