"""Every finished snapshot's manifest (`index.json.blob`): read once, again when it changes.

A corrupted manifest in any snapshot is a fault worth reporting, not only the newest one's
(whose verify state and notes the report shows). With a state, each manifest's result is
kept under its file key (size, mtime, inode, device, ctime: a verify job or a notes edit
rewrites the manifest, a chmod changes the ctime), so a rescan reads only the manifests that
changed. A result that depends on access (permission denied, vanished) is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..datastore import Snapshot, Walk
from ..errors import FormatError, ScanIssue, SourceError, printable
from ..formats import read_manifest
from ..state import RECENT_NS, StateStore

RECORD = "manifests"


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    """What the report takes from one manifest (``error``: why it could not be read)."""

    verify_state: str = "none"
    comment: str = ""
    error: str | None = None


def _read(snap: Snapshot) -> tuple[ManifestInfo, bool]:
    """(info, cacheable)."""
    try:
        m = read_manifest(snap.manifest_path)
    except FormatError as exc:
        return ManifestInfo(error=exc.reason), True
    except SourceError as exc:
        return ManifestInfo(error=exc.reason), False
    return ManifestInfo(m.verify_state or "none", printable(m.comment)), True


def read_manifests(walk: Walk, store: StateStore | None,
                   scan_start_ns: int) -> tuple[dict[str, ManifestInfo], int]:
    """The manifest of every finished snapshot, by snapshot path; and how many were read
    (the others came from the state)."""
    rec = store.load(RECORD) if store is not None else None
    cached: dict[str, tuple[list[int], ManifestInfo]] = {}
    if rec is not None:
        for path, key, verify, comment, error in rec.meta.get("entries", []):
            cached[path] = (key, ManifestInfo(verify, comment, error))
    out: dict[str, ManifestInfo] = {}
    keep: list[list[object]] = []
    read = 0
    for group in walk.groups:
        for snap in group.finished:
            key = list(snap.manifest_key.as_tuple()) if snap.manifest_key else None
            hit = cached.get(snap.path)
            if key is not None and hit is not None and hit[0] == key:
                info, cacheable = hit[1], True
            else:
                (info, cacheable), read = _read(snap), read + 1
            out[snap.path] = info
            if key is not None and cacheable and snap.manifest_key is not None \
                    and snap.manifest_key.mtime_ns < scan_start_ns - RECENT_NS:
                keep.append([snap.path, key, info.verify_state, info.comment, info.error])
    if store is not None and (read or len(keep) != len(cached)):
        store.save(RECORD, {"entries": keep}, {})
    return out, read


def manifest_issues(walk: Walk, infos: dict[str, ManifestInfo]) -> list[ScanIssue]:
    """One issue per finished snapshot whose manifest could not be read."""
    return [ScanIssue(snap.manifest_path, info.error)
            for group in walk.groups for snap in group.finished
            if (info := infos[snap.path]).error is not None]
