"""The newest snapshot of each group that can really be restored, and the newest verified ok.

A finished snapshot is restorable when its manifest reads and its verify state is not
``failed``, every index file of it reads, and none of the chunks it references is missing
from the chunk store (a chunk that verify renamed to ``.bad`` is missing unless a later
backup uploaded it again). No chunk is opened: the attribution already knows, per group,
which referenced prefixes are not on disk (usually none, and then every snapshot of the group
has all its chunks); only for a group with lost chunks are its snapshots' prefix sets looked
at, from the engine's per-index records (or by reading the index files when there are none).
The verify states come from the scan's manifest reading (:mod:`.manifests`: every finished
snapshot's manifest, read again only when it changed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..datastore import INDEX_SUFFIXES, Group
from ..errors import SourceError
from ..state import StateStore
from .groups import counted, snapshot_index_set
from .manifests import ManifestInfo

UNREADABLE = "unreadable"


@dataclass(slots=True)
class RestorePoints:
    last_restorable_time: int | None = None
    last_verified_ok_time: int | None = None


def _references_any(prefixes: np.ndarray, lost: np.ndarray) -> bool:
    if len(prefixes) == 0 or len(lost) == 0:
        return False
    idx = np.minimum(np.searchsorted(prefixes, lost), len(prefixes) - 1)
    return bool((prefixes[idx] == lost).any())


def damaged_snapshots(group: Group, lost: np.ndarray, store: StateStore | None) -> list[str]:
    """Names of the group's finished snapshots that reference a prefix in *lost* (sorted)."""
    if len(lost) == 0:
        return []
    out = []
    for snap in group.finished:
        for ref in counted(snap):
            try:
                res = snapshot_index_set(group, snap, ref, store)
            except SourceError:
                continue  # unreadable: reported by the scan, and not restorable anyway
            if res.error is None and _references_any(res.prefixes, lost):
                out.append(snap.name)
                break
    return out


def unreadable_snapshot_dirs(paths: Iterable[str]) -> set[str]:
    """Snapshot directories holding an index file the scan could not use (from its errors)."""
    return {os.path.dirname(p) for p in paths if p.endswith(INDEX_SUFFIXES)}


def restore_points(group: Group, damaged: set[str], bad_dirs: set[str],
                   manifests: dict[str, ManifestInfo]) -> RestorePoints:
    """Walk the group's finished snapshots newest first until both answers are known
    (*manifests*: the scan's manifest of every finished snapshot, by snapshot path)."""
    out = RestorePoints()
    for snap in reversed(group.finished):
        info = manifests.get(snap.path)
        state = UNREADABLE if info is None or info.error is not None else info.verify_state
        if out.last_verified_ok_time is None and state == "ok":
            out.last_verified_ok_time = snap.time
        if out.last_restorable_time is None and state in ("ok", "none") \
                and snap.name not in damaged and snap.path not in bad_dirs:
            out.last_restorable_time = snap.time
        if out.last_restorable_time is not None and out.last_verified_ok_time is not None:
            break
    return out
