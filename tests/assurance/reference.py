"""The independent reference of the restore-point and reclaim tests, run in a child process
(``python -m tests.assurance.reference CMD JSON``) so that its sets of 100k digests never grow
the test process (whose forks other tests measure).

It reads the datastore with its own code: index entries straight from the file bytes,
manifests with zstandard + json, chunk files with os.scandir/os.stat, and sets of full
digests. It shares nothing with the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import zstandard

from .writer import blob

HOUR = 3600
DEFAULT_CUTOFF_S = (24 * 60 + 5) * 60  # PBS: 24 h 5 min


def _gdirs(root: Path) -> list[Path]:
    return sorted(d for t in ("vm", "ct") if (root / t).is_dir() for d in (root / t).iterdir())


def _snaps(gdir: Path) -> list[Path]:
    return sorted(p for p in gdir.iterdir() if p.is_dir())


def _snap_digests(sdir: Path) -> set[bytes]:
    return set().union(*(_index_digests(str(p)) for p in sdir.iterdir()
                         if p.name.endswith(("fidx", "didx"))))


def _manifest(sdir: Path) -> dict[str, Any]:
    raw = (sdir / "index.json.blob").read_bytes()[12:]
    text = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 24) \
        if raw[:4] == b"\x28\xb5\x2f\xfd" else raw
    return dict(json.loads(text))


def _set_verify(sdir: Path, state: str | None) -> None:
    """Rewrite a manifest (a new file: the copy's others stay hard links to the original)."""
    m = _manifest(sdir)
    m.setdefault("unprotected", {}).pop("verify_state", None)
    if state is not None:
        m["unprotected"]["verify_state"] = {"state": state, "upid": "UPID:test"}
    path = sdir / "index.json.blob"
    path.unlink()
    path.write_bytes(blob(json.dumps(m).encode()))


def _chunk(root: Path, d: bytes) -> Path:
    return root / ".chunks" / d.hex()[:4] / d.hex()


def _index_digests(path: str) -> set[bytes]:
    data = Path(path).read_bytes()
    body = data[4096:]
    if path.endswith(".fidx"):
        return {body[i : i + 32] for i in range(0, len(body), 32)}
    return {body[i + 8 : i + 40] for i in range(0, len(body), 40)}


def _verify_state(snapshot_dir: str) -> str:
    raw = Path(snapshot_dir, "index.json.blob").read_bytes()[12:]
    text = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 24) \
        if raw[:4] == b"\x28\xb5\x2f\xfd" else raw
    state = json.loads(text).get("unprotected", {}).get("verify_state") or {}
    return state.get("state", "none")


def _chunk_files(root: str) -> dict[bytes, os.stat_result]:
    out = {}
    cdir = os.path.join(root, ".chunks")
    for d in os.scandir(cdir):
        for e in os.scandir(d.path):
            if len(e.name) == 64:
                out[bytes.fromhex(e.name)] = e.stat(follow_symlinks=False)
    return out


def reference(root: str, now: int, cutoff: int = DEFAULT_CUTOFF_S,
              writer: int | None = None) -> dict[str, Any]:
    chunks = _chunk_files(root)
    referenced: set[bytes] = set()
    groups = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".chunks" in dirnames:
            dirnames.remove(".chunks")
        if "index.json.blob" not in filenames:
            continue
        snap, gdir = os.path.basename(dirpath), os.path.dirname(dirpath)
        digests = set()
        for fn in filenames:
            if fn.endswith((".fidx", ".didx")):
                digests |= _index_digests(os.path.join(dirpath, fn))
        referenced |= digests
        groups.setdefault(gdir, []).append((snap, dirpath, digests))
    points = {}
    for gdir, snaps in groups.items():
        restorable = verified = None
        for snap, sdir, digests in sorted(snaps, reverse=True):
            state = _verify_state(sdir)
            if verified is None and state == "ok":
                verified = snap
            if restorable is None and state != "failed" and digests <= chunks.keys():
                restorable = snap
        rel = os.path.relpath(gdir, root).split(os.sep)
        ns = "/".join(rel[1:-2:2])
        points[(ns, rel[-2], rel[-1])] = (restorable, verified)
    min_atime = now - cutoff
    if writer is not None and writer < min_atime:
        min_atime = writer - 300
    garbage = [st for d, st in chunks.items() if d not in referenced]
    pending = [st for st in garbage if int(st.st_atime) >= min_atime]
    return {
        "points": points,
        "reclaimable": sum(st.st_size for st in garbage if int(st.st_atime) < min_atime),
        "pending": sum(st.st_size for st in pending),
        "pending_chunks": len(pending),
        "until": max(int(st.st_atime) for st in pending) + cutoff if pending else None,
    }



def plant(root: str) -> dict[str, Any]:
    """Plant the faults the tests expect in *root* (a hard-linked copy of the suite's
    full-size datastore):

    group 0: a chunk only its newest snapshot has is deleted; group 1: a chunk every snapshot
    has is renamed to ``.0.bad``; group 2: a chunk snapshots 2.. have is deleted; group 4 (a
    container): a chunk only its newest has is renamed ``.bad``; group 3's newest snapshot
    failed verification; group 5's newest is not verified yet. Garbage chunks were last
    touched 3 h, 4 h, 5 h … before the newest backup (fresh files: the original keeps its
    atimes)."""
    base = Path(root)
    g = _gdirs(base)
    snaps = [_snaps(d) for d in g]
    newest_only = lambda s: _snap_digests(s[-1]) - _snap_digests(s[-2])  # noqa: E731
    victims = {
        0: ("missing", min(newest_only(snaps[0]))),
        1: ("bad", min(set.intersection(*(_snap_digests(x) for x in snaps[1])))),
        2: ("missing", min((_snap_digests(snaps[2][2]) - _snap_digests(snaps[2][1]))
                           & _snap_digests(snaps[2][-1]))),
        4: ("bad", min(newest_only(snaps[4]))),
    }
    for kind, d in victims.values():
        path = _chunk(base, d)
        if kind == "missing":
            path.unlink()
        else:
            path.rename(str(path) + ".0.bad")
    _set_verify(snaps[3][-1], "failed")
    _set_verify(snaps[5][-1], None)
    referenced = set().union(*(_snap_digests(x) for s in snaps for x in s))
    garbage = sorted(d for d in _chunk_files(root) if d not in referenced)
    newest = max(int(_manifest(s[-1])["backup-time"]) for s in snaps)
    for k, d in enumerate(garbage):
        path = _chunk(base, d)
        size = path.stat().st_size
        path.unlink()
        with open(path, "wb") as fh:
            fh.truncate(size)
        os.utime(path, (newest - 3 * HOUR - k * HOUR, newest - 3 * HOUR - k * HOUR))
    return {"groups": [_key(base, d) for d in g],
            "snaps": [[p.name for p in s] for s in snaps], "newest": newest,
            "garbage": len(garbage), "chunk_files": len(_chunk_files(root)),
            "chunk_dirs": len(os.listdir(base / ".chunks"))}


def _key(root: Path, gdir: Path) -> list[str]:
    rel = gdir.relative_to(root).parts
    return ["/".join(rel[1:-2:2]), rel[-2], rel[-1]]


def damage_newest(root: str, group: int) -> dict[str, Any]:
    """Delete a chunk only group *group*'s newest snapshot has; its key and the previous
    snapshot's name."""
    gdir = _gdirs(Path(root))[group]
    *older, newest = _snaps(gdir)
    victim = min(_snap_digests(newest) - _snap_digests(older[-1]))
    _chunk(Path(root), victim).unlink()
    return {"key": _key(Path(root), gdir), "previous": older[-1].name}


def touch_garbage(root: str, when: int) -> dict[str, Any]:
    """Set the atime of one garbage chunk to *when*; its size."""
    referenced = set().union(*(_snap_digests(x) for g in _gdirs(Path(root)) for x in _snaps(g)))
    victim = min(d for d in _chunk_files(root) if d not in referenced)
    path = _chunk(Path(root), victim)
    st = path.stat()
    os.utime(path, ns=(when * 10**9, st.st_mtime_ns))
    return {"size": st.st_size}


def atimes(root: str) -> str:
    """A hash over every chunk file's name, atime and mtime."""
    h = hashlib.sha256()
    for d, st in sorted(_chunk_files(root).items()):
        h.update(d + st.st_atime_ns.to_bytes(8, "little") + st.st_mtime_ns.to_bytes(8, "little"))
    return h.hexdigest()


def main() -> None:
    cmd, args = sys.argv[1], json.loads(sys.argv[2])
    if cmd == "reference":
        out = reference(**args)
        out["points"] = [[*k, *v] for k, v in out["points"].items()]
    else:
        commands = {"plant": plant, "damage_newest": damage_newest, "atimes": atimes,
                    "touch_garbage": touch_garbage}
        out = commands[cmd](**args)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
