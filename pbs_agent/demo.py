"""Write a realistic demo datastore in the real PBS on-disk format.

VMs back up a disk of fixed 4 MiB chunks (``drive-scsi0.img.fidx``), containers a pxar
archive of dynamic chunks plus a catalog (``root.pxar.didx``, ``catalog.pcat1.didx``); every
group gets a daily snapshot in which each chunk changed with probability *change_rate*.
VM disks share template chunks and the all-zero chunk, so some bytes are shared between
groups. Chunks are zstd DataBlobs whose names are the sha256 of their plaintext; manifests
carry sizes, checksums, upload stats, verify states and notes. Chunk atimes are what PBS's
writer leaves (the time of the newest backup that wrote or re-used the chunk); the added
garbage chunks were last touched 3 h, 9 h, 15 h … before the newest backup, so part of them
is still within GC's 24 h 5 min cutoff. Deterministic for a seed (contents, names and atimes;
file mtimes are the time of writing). *start* moves the whole history (``--recent``: ending
today). A datastore of real shape (65,536 chunk dirs, 100k+ chunks) for tests and benchmarks
is written by ``lab/datastore_gen.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .formats import (
    DEFAULT_CHUNK_SIZE,
    chunk_digest,
    encode_blob,
    encode_didx,
    encode_fidx,
    encode_manifest,
)
from .progress import Progress

DEMO_MARKER = ".pbs-agent-demo"
DEMO_START = 1717200000  # 2024-06-01T00:00:00Z: fixed, so a seed gives the same datastore
DAY = 86400
ZERO_CHUNK = bytes(DEFAULT_CHUNK_SIZE)
TEMPLATE_SLOTS = 3  # first slots of every VM disk start as the same template content
BACKUP_HOUR = 7200  # snapshots are taken at 02:00 UTC (+2 min per group)
GARBAGE_STEP = 6 * 3600  # garbage chunk i was last touched 3 h + i * 6 h before the newest backup


def recent_start(days: int, now: float | None = None) -> int:
    """A start day such that the newest of *days* daily snapshots is today's (or yesterday's,
    before 02:00 UTC)."""
    now = time.time() if now is None else now
    newest = (int(now) - BACKUP_HOUR - 3600) // DAY * DAY
    return newest - (days - 1) * DAY


@dataclass(slots=True)
class _Store:
    root: str
    rng: random.Random
    seed: int
    sizes: dict[bytes, int] = field(default_factory=dict)  # digest -> chunk file size
    dirs: set[str] = field(default_factory=set)
    touched: dict[bytes, int] = field(default_factory=dict)  # digest -> last write/re-use
    now: int = 0  # the backup time of the snapshot being written

    def put_chunk(self, plain: bytes) -> tuple[bytes, bool]:
        """Store a chunk (dedup by digest); returns (digest, newly written)."""
        digest = chunk_digest(plain)
        self.touched[digest] = max(self.touched.get(digest, 0), self.now)
        if digest in self.sizes:
            return digest, False
        blob = encode_blob(plain)
        hx = digest.hex()
        d = os.path.join(self.root, ".chunks", hx[:4])
        if hx[:4] not in self.dirs:
            os.makedirs(d, mode=0o750, exist_ok=True)
            self.dirs.add(hx[:4])
        _write(os.path.join(d, hx), blob, 0o644)
        self.sizes[digest] = len(blob)
        return digest, True

    def set_atimes(self) -> None:
        """Chunk atimes as PBS's writer leaves them (mtimes stay the time of writing)."""
        for digest, when in self.touched.items():
            hx = digest.hex()
            path = os.path.join(self.root, ".chunks", hx[:4], hx)
            try:
                st = os.stat(path)
            except FileNotFoundError:  # made missing or bad on purpose
                continue
            os.utime(path, ns=(when * 10**9, st.st_mtime_ns))


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _content(rng: random.Random, size: int) -> bytes:
    """Chunk plaintext: a random part (5-30 %) then zeros, like a partly used disk block."""
    used = rng.randint(size // 20, size * 3 // 10)
    return rng.randbytes(used) + bytes(size - used)


@dataclass(slots=True)
class _Group:
    ns: str
    btype: str
    bid: str
    owner: str
    slots: list[int] = field(default_factory=list)  # per chunk slot: content version seed
    offset: int = 0  # seconds after the day's start


def _plan(vms: int, cts: int, namespaces: bool) -> list[_Group]:
    groups: list[_Group] = []
    for i in range(vms):
        ns = "prod" if namespaces and i % 2 else ""
        groups.append(_Group(ns, "vm", str(100 + i), "root@pam", offset=120 * len(groups)))
    for i in range(cts):
        ns = "" if not namespaces or i == 0 else "prod/web"
        owner = "root@pam" if i == 0 else "sync@pbs!nightly"
        groups.append(_Group(ns, "ct", str(100 + i), owner, offset=120 * len(groups)))
    return groups


def _group_dir(root: str, g: _Group) -> str:
    parts = [p for seg in g.ns.split("/") if seg for p in ("ns", seg)]
    return os.path.join(root, *parts, g.btype, g.bid)


def _snapshot_name(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build_demo(
    path: str, *, vms: int = 3, cts: int = 2, days: int = 7, change_rate: float = 0.1,
    seed: int = 1, garbage: int = 0, missing: int = 0, bad: int = 0, namespaces: bool = True,
    progress: bool = False, disk_chunks: int = 12, pxar_chunks: int = 8,
    start: int = DEMO_START,
) -> dict[str, Any]:
    """Write a demo datastore at *path* (absent or empty) and return a summary.

    >>> import tempfile  # doctest: +SKIP
    >>> build_demo(tempfile.mkdtemp() + "/ds", vms=1, cts=1, days=2)["snapshots"]  # doctest: +SKIP
    4
    """
    _check_args(path, vms, cts, days, change_rate, disk_chunks, pxar_chunks)
    started = time.monotonic()
    rng = random.Random(seed)
    os.makedirs(os.path.join(path, ".chunks"), mode=0o750, exist_ok=True)
    _write(os.path.join(path, ".lock"), b"")
    store = _Store(path, rng, seed)
    newest_time = start + (days - 1) * DAY + BACKUP_HOUR
    groups = _plan(vms, cts, namespaces)
    bar = Progress("demo", total=days * len(groups), unit=" snapshots",
                   stream=True if progress else None)
    newest: list[list[bytes]] = []
    logical = 0
    for g in groups:
        gdir = _group_dir(path, g)
        os.makedirs(gdir, mode=0o755, exist_ok=True)
        _write(os.path.join(gdir, "owner"), f"{g.owner}\n".encode())
        digests: list[bytes] = []
        for day in range(days):
            snap_logical, digests = _snapshot(store, g, gdir, (start, day, days), change_rate,
                                              disk_chunks, pxar_chunks)
            logical += snap_logical
            bar.advance()
        newest.append(digests)
    bar.close()
    _damage(store, newest, garbage, missing, bad, newest_time)
    store.set_atimes()
    params = {"vms": vms, "cts": cts, "days": days, "change_rate": change_rate, "seed": seed,
              "garbage": garbage, "missing": missing, "bad": bad, "namespaces": namespaces,
              "start": start}
    _write(os.path.join(path, DEMO_MARKER), json.dumps(params, indent=1).encode() + b"\n")
    return {
        "path": os.path.abspath(path), "groups": len(groups), "snapshots": days * len(groups),
        # chunk files left in .chunks (garbage is in store.sizes already; .bad files apart)
        "chunk_files": len(store.sizes) - missing - bad, "garbage": garbage,
        "missing": missing, "bad": bad, "logical_bytes": logical,
        "seconds": round(time.monotonic() - started, 2),
    }


def _check_args(path: str, vms: int, cts: int, days: int, change_rate: float, disk_chunks: int,
                pxar_chunks: int) -> None:
    if min(vms, cts) < 0 or days < 1 or disk_chunks < 1 or pxar_chunks < 1:
        raise ConfigError("demo needs vms/cts >= 0, days >= 1 and at least one chunk per disk")
    if not 0.0 <= change_rate <= 1.0:
        raise ConfigError(f"change rate {change_rate} is not between 0 and 1")
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise ConfigError(f"{path}: exists and is not an empty directory")


def _snapshot(store: _Store, g: _Group, gdir: str, when: tuple[int, int, int], rate: float,
              disk_chunks: int, pxar_chunks: int) -> tuple[int, list[bytes]]:
    start, day, days = when
    btime = start + day * DAY + BACKUP_HOUR + g.offset
    store.now = btime
    sdir = os.path.join(gdir, _snapshot_name(btime))
    os.makedirs(sdir, mode=0o755)
    rng = store.rng
    files: list[dict[str, Any]] = []
    stats = {"count": 0, "size": 0, "compressed_size": 0, "duplicates": 0}
    if g.btype == "vm":
        arch = [("drive-scsi0.img.fidx", *_vm_disk(store, g, btime, rate, disk_chunks, stats))]
        conf = f"# demo VM {g.bid}\nmemory: 2048\nscsi0: local:vm-{g.bid}-disk-0\n"
        blobs = [("qemu-server.conf.blob", encode_blob(conf.encode()))]
    else:
        arch = [("root.pxar.didx", *_pxar(store, g, btime, rate, pxar_chunks, stats)),
                ("catalog.pcat1.didx", *_catalog(store, g, (btime, day), stats))]
        blobs = [("pct.conf.blob", encode_blob(f"hostname: ct{g.bid}\n".encode()))]
    snap_digests: list[bytes] = []
    for name, data, size, digests in arch:
        _write(os.path.join(sdir, name), data)
        files.append({"filename": name, "crypt-mode": "none", "size": size,
                      "csum": data[32:64].hex()})
        snap_digests += digests
    for name, blob in blobs:
        _write(os.path.join(sdir, name), blob)
        files.append({"filename": name, "crypt-mode": "none", "size": len(blob),
                      "csum": hashlib.sha256(blob).hexdigest()})
        stats["size"] += len(blob)
    _write(os.path.join(sdir, "index.json.blob"), encode_manifest(
        g.btype, g.bid, btime, files, _unprotected(g, btime, day == days - 1, stats, rng)))
    _write(os.path.join(sdir, "client.log.blob"), encode_blob(b"demo backup log\n"))
    if day == 0 and g.btype == "vm" and g.bid == "100":
        _write(os.path.join(sdir, ".protected"), b"")
    return sum(f["size"] for f in files if f["filename"].endswith("idx")), snap_digests


def _note(stats: dict[str, int], store: _Store, digest: bytes, new: bool, plain: int) -> None:
    if new:
        stats["count"] += 1
        stats["size"] += plain
        stats["compressed_size"] += store.sizes[digest]


def _vm_disk(store: _Store, g: _Group, btime: int, rate: float, n: int,
             stats: dict[str, int]) -> tuple[bytes, int, list[bytes]]:
    rng = store.rng
    if not g.slots:
        g.slots = [0] * n
    elif rate:
        g.slots = [v + 1 if rng.random() < rate else v for v in g.slots]
    size = n * DEFAULT_CHUNK_SIZE - DEFAULT_CHUNK_SIZE // 2
    digests = []
    for slot, version in enumerate(g.slots):
        length = min(DEFAULT_CHUNK_SIZE, size - slot * DEFAULT_CHUNK_SIZE)
        if slot % 5 == 4 and version == 0 and length == DEFAULT_CHUNK_SIZE:
            plain = ZERO_CHUNK
        else:
            shared = slot < TEMPLATE_SLOTS and version == 0
            key = f"tpl/{slot}" if shared else f"{g.btype}/{g.bid}/{slot}/{version}"
            plain = _content(random.Random(f"{store.seed}/{key}"), length)
        digest, new = store.put_chunk(plain)
        _note(stats, store, digest, new, len(plain))
        digests.append(digest)
    data = encode_fidx(digests, size, uid=rng.randbytes(16), ctime=btime - BACKUP_HOUR - g.offset)
    return data, size, digests


def _pxar(store: _Store, g: _Group, btime: int, rate: float, n: int,
          stats: dict[str, int]) -> tuple[bytes, int, list[bytes]]:
    rng = store.rng
    if not g.slots:
        g.slots = [0] * n
    elif rate:
        g.slots = [v + 1 if rng.random() < rate else v for v in g.slots]
    entries, end, digests = [], 0, []
    for slot, version in enumerate(g.slots):
        crng = random.Random(f"{store.seed}/{g.ns}/{g.btype}/{g.bid}/{slot}/{version}")
        plain = _content(crng, crng.randint(64 * 1024, 512 * 1024))
        digest, new = store.put_chunk(plain)
        _note(stats, store, digest, new, len(plain))
        end += len(plain)
        entries.append((end, digest))
        digests.append(digest)
    day_start = btime - BACKUP_HOUR - g.offset
    return encode_didx(entries, uid=rng.randbytes(16), ctime=day_start), end, digests


def _catalog(store: _Store, g: _Group, when: tuple[int, int],
             stats: dict[str, int]) -> tuple[bytes, int, list[bytes]]:
    btime, day = when
    rng = store.rng
    plain = f"demo catalog {g.ns}/{g.btype}/{g.bid} day {day}\n".encode() * 500
    digest, new = store.put_chunk(plain)
    _note(stats, store, digest, new, len(plain))
    data = encode_didx([(len(plain), digest)], uid=rng.randbytes(16),
                       ctime=btime - BACKUP_HOUR - g.offset)
    return data, len(plain), [digest]


def _unprotected(g: _Group, btime: int, newest: bool, stats: dict[str, int],
                 rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"chunk_upload_stats": dict(stats)}
    if not newest or g.bid == "101":
        state = "failed" if newest and g.btype == "vm" else "ok"
        start = btime - BACKUP_HOUR - g.offset + 43200
        upid = f"UPID:demo:00001000:00002000:00000000:{start:08X}:verify:demo:root@pam:"
        out["verify_state"] = {"state": state, "upid": upid}
    if newest and g.bid == "100":
        out["notes"] = f"Nightly {g.btype} {g.bid}\nkept for the demo"
    return out


def _damage(store: _Store, newest: list[list[bytes]], garbage: int, missing: int,
            bad: int, newest_time: int) -> None:
    """Add unreferenced chunk files, delete referenced ones, rename some to ``.0.bad``."""
    rng = random.Random(0xBAD)
    for i in range(garbage):
        store.now = newest_time - GARBAGE_STEP // 2 - i * GARBAGE_STEP
        store.put_chunk(_content(rng, 256 * 1024))
    candidates = sorted({d for digests in newest for d in digests} - {chunk_digest(ZERO_CHUNK)})
    if missing + bad > len(candidates):
        raise ConfigError(f"only {len(candidates)} chunks can be made missing or bad")
    picked = rng.sample(candidates, missing + bad)
    for i, digest in enumerate(picked):
        hx = digest.hex()
        path = os.path.join(store.root, ".chunks", hx[:4], hx)
        if i < missing:
            os.unlink(path)
        else:
            os.rename(path, f"{path}.0.bad")
