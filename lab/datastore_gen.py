"""A datastore of real shape, written fast: the full-size fixture of tests and benchmarks.

PBS creates all 65,536 chunk directories with a datastore (pbs-internals §1.2), so anything
that walks a datastore is tested at that shape. Chunk files are sparse files of a realistic
size (the agent only ``stat``s chunks, it never opens one); index files and manifests are
real (`pbs_agent.formats`). Each group is a VM (fixed index) or, every fifth, a container
(dynamic index) whose disk of ``base_chunks`` chunks changes ``change`` chunks per daily
snapshot; ``garbage`` chunks are referenced by nothing. Deterministic for a shape.

Not the demo writer (:mod:`pbs_agent.demo`): that one writes real chunk blobs, which costs
far too long for a million chunks. About 2 s per 100,000 chunks here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from pbs_agent import formats as f

MARKER = ".bench-params.json"  # the shape a tree was built with (reuse when equal)
DAY = 86400
START = 1717200000  # 2024-06-01T00:00:00Z
NDIRS = 1 << 16


@dataclass(frozen=True)
class Shape:
    """How big: chunk files = groups × (base_chunks + (snapshots - 1) × change) + garbage."""

    groups: int = 40
    snapshots_per_group: int = 5
    base_chunks: int = 2450
    change: int = 12
    garbage: int = 1000
    version: int = 1

    @property
    def chunk_files(self) -> int:
        per_group = self.base_chunks + (self.snapshots_per_group - 1) * self.change
        return self.groups * per_group + self.garbage


#: The default suite's full-size datastore: 65,536 chunk dirs, 100,000+ chunks.
SUITE = Shape()
#: benchmarks/: about a million chunks.
FULL = Shape(groups=100, snapshots_per_group=20, base_chunks=5000, change=260, garbage=20000)


def make_chunk_dirs(root: str, mode: int = 0o750) -> None:
    """``<root>/.chunks`` and its 65,536 subdirectories, as PBS creates them."""
    cdir = os.path.join(root, ".chunks")
    os.makedirs(cdir, mode=mode)
    fd = os.open(cdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(NDIRS):
            os.mkdir(f"{i:04x}", mode, dir_fd=fd)
    finally:
        os.close(fd)


def _write_chunks(root: str, prefixes: np.ndarray, rng: np.random.Generator) -> bytes:
    """One sparse file per digest (random tail bytes), sized like compressed 4 MiB chunks."""
    digests = np.empty((len(prefixes), 4), dtype=">u8")
    digests[:, 0] = prefixes
    digests[:, 1:] = rng.integers(0, 2**63, size=(len(prefixes), 3), dtype=np.uint64)
    sizes = rng.integers(300_000, 4_200_000, size=len(prefixes))
    raw = digests.tobytes()
    cdir = os.path.join(root, ".chunks")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    current, dfd = "", -1
    try:
        for n, i in enumerate(np.argsort(prefixes)):  # one directory at a time
            hx = raw[i * 32 : i * 32 + 32].hex()
            if hx[:4] != current:
                if dfd >= 0:
                    os.close(dfd)
                current, dfd = hx[:4], os.open(os.path.join(cdir, hx[:4]), os.O_RDONLY)
            fd = os.open(hx, flags, 0o644, dir_fd=dfd)
            os.ftruncate(fd, int(sizes[i]))
            os.close(fd)
            if n % 100_000 == 0 and n:
                print(f"  chunks {n}/{len(prefixes)}", file=sys.stderr, flush=True)
    finally:
        if dfd >= 0:
            os.close(dfd)
    return raw


def build(root: str, shape: Shape = SUITE) -> dict[str, int]:
    """Write the datastore at *root* (must not exist); returns counts."""
    rng = np.random.default_rng(12345)
    g, n, base, change = shape.groups, shape.snapshots_per_group, shape.base_chunks, shape.change
    per_group = base + (n - 1) * change
    total = shape.chunk_files
    prefixes = np.unique(rng.integers(0, 2**64 - 1, size=int(total * 1.01), dtype=np.uint64))
    prefixes = rng.permutation(prefixes)[:total]
    os.makedirs(root)
    make_chunk_dirs(root)
    with open(os.path.join(root, ".lock"), "wb"):
        pass
    raw = _write_chunks(root, prefixes, rng)
    digest = [raw[i * 32 : i * 32 + 32] for i in range(total)]
    for gi in range(g):
        _write_group(root, gi, digest[gi * per_group : (gi + 1) * per_group], n, base, change)
    with open(os.path.join(root, MARKER), "w") as fh:
        json.dump(asdict(shape), fh)
    return {"chunk_files": total, "snapshots": g * n}


def _write_group(root: str, gi: int, pool: list[bytes], n: int, base: int, change: int) -> None:
    btype = "ct" if gi % 5 == 4 else "vm"
    gdir = os.path.join(root, btype, str(1000 + gi))
    os.makedirs(gdir)
    with open(os.path.join(gdir, "owner"), "w") as fh:
        fh.write("root@pam\n")
    disk = pool[:base]
    fresh = iter(pool[base:])
    for s in range(n):
        if s:
            for slot in range((s * 7919) % base, (s * 7919) % base + change):
                disk[slot % base] = next(fresh)
        t = START + s * DAY + gi * 60
        sdir = os.path.join(gdir, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)))
        os.mkdir(sdir)
        if btype == "vm":
            name, data = "drive-scsi0.img.fidx", f.encode_fidx(disk, size=len(disk) << 22)
        else:
            name, data = "root.pxar.didx", f.encode_didx(
                [((i + 1) << 21, d) for i, d in enumerate(disk)])
        with open(os.path.join(sdir, name), "wb") as fh:
            fh.write(data)
        files = [{"filename": name, "crypt-mode": "none", "size": len(disk) << 22,
                  "csum": data[32:64].hex()}]
        with open(os.path.join(sdir, "index.json.blob"), "wb") as fh:
            fh.write(f.encode_manifest(btype, str(1000 + gi), t, files, {
                "verify_state": {"state": "ok", "upid": "UPID:bench"}}))


def build_long_retention(root: str, entries: int, snapshots: int) -> None:
    """One VM group of *snapshots* daily backups of a disk of *entries* chunks (all
    different, none on disk: all missing): the memory bound's hard case, a group of many
    large snapshots. The index files are hard links of one file (outside the datastore),
    so this costs one index on disk while the agent reads *snapshots* of them."""
    os.makedirs(os.path.join(root, ".chunks", "0000"))
    rng = np.random.default_rng(5)
    digests = rng.integers(0, 2**63, size=entries * 4, dtype=np.uint64).tobytes()
    index = os.path.join(os.path.dirname(root), "long-retention-disk.fidx")
    head = bytearray(f.encode_fidx([], size=entries << 22)[: f.INDEX_HEADER_SIZE])
    head[32:64] = hashlib.sha256(digests).digest()  # the index checksum PBS writes
    with open(index, "wb") as fh:
        fh.write(bytes(head) + digests)
    for day in range(snapshots):
        snap = os.path.join(root, "vm", "100", f"2024-06-{day + 1:02d}T02:00:00Z")
        os.makedirs(snap)
        os.link(index, os.path.join(snap, "drive-scsi0.img.fidx"))
        with open(os.path.join(snap, "index.json.blob"), "wb") as fh:
            fh.write(f.encode_manifest("vm", "100", START + day * DAY, []))
    os.unlink(index)


def built_shape(root: str) -> Shape | None:
    """The shape *root* was built with, or None (absent, or not built here)."""
    try:
        with open(os.path.join(root, MARKER)) as fh:
            return Shape(**json.load(fh))
    except (OSError, ValueError, TypeError):
        return None
