#!/usr/bin/env python3
"""Hashing throughput of `pbs-agent estimate` against `sha256sum` on the same cached file.

    .venv/bin/python benchmarks/bench_estimate.py [--size-mib 1024] [--file PATH] [--repeat 3]

Writes a file of random data (unless --file is given), reads it once so it sits in the page
cache, then times (best of --repeat): `sha256sum FILE`; estimate with 1 and 2 worker threads
hash-only (--no-compress); estimate with 1 and 2 threads including zstd level 1 sizes; and
the dynamic chunker alone over the same bytes; and estimate of a directory holding the file
(dynamic chunks, hash + zstd) with 1 and 2 threads. Prints MB/s and the ratios the goals use
(>= 0.9x sha256sum on one core, >= 1.7x sha256sum on two).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pbs_agent.estimate import estimate
from pbs_agent.estimate.buzhash import DynamicChunker

MiB = 1024 * 1024


def _cpu() -> float:
    """CPU seconds used so far by this process (all threads) and its waited-for children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) over *repeat* runs."""
    runs = []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        fn()
        runs.append((time.perf_counter() - t, _cpu() - c))
    return min(runs)


def make_file(path: Path, size_mib: int) -> None:
    with path.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))


def chunk_only(path: Path) -> None:
    chunker = DynamicChunker()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            chunker.feed(block)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--file", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hash-only", action="store_true",
                    help="only sha256sum and the hash-only rows (the goal's rows)")
    args = ap.parse_args()
    path, made = args.file, args.file is None
    if path is None:
        fd, name = tempfile.mkstemp(prefix="bench-estimate-")
        os.close(fd)
        path = Path(name)
        make_file(path, args.size_mib)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    rows = {
        "sha256sum": lambda: subprocess.run(["sha256sum", str(path)], check=True,
                                            stdout=subprocess.DEVNULL),
        "estimate hash-only, 1 thread": lambda: estimate([path], jobs=1, compress=False,
                                                         progress=False),
        "estimate hash-only, 2 threads": lambda: estimate([path], jobs=2, compress=False,
                                                          progress=False),
        "estimate hash+zstd, 1 thread": lambda: estimate([path], jobs=1, progress=False),
        "estimate hash+zstd, 2 threads": lambda: estimate([path], jobs=2, progress=False),
        "buzhash chunker alone, 1 thread": lambda: chunk_only(path),
    }
    if args.hash_only:
        rows = {k: v for k, v in rows.items() if k == "sha256sum" or "hash-only" in k}
    tree = Path(tempfile.mkdtemp(prefix="bench-estimate-tree-"))
    os.link(path, tree / "data")  # the same bytes as a directory: dynamic chunking
    if not args.hash_only:
        rows["estimate directory, 1 thread"] = lambda: estimate([tree], jobs=1, progress=False)
        rows["estimate directory, 2 threads"] = lambda: estimate([tree], jobs=2,
                                                                 progress=False)
    speeds, per_cpu = {}, {}
    print(f"file: {path} ({size / MiB:.0f} MiB, cached), best of {args.repeat}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"  {'':<34} {'wall MB/s':>10} {'MB per CPU-s':>13}")
    for name, fn in rows.items():
        wall, cpu = best(fn, args.repeat)
        speeds[name], per_cpu[name] = size / wall / 1e6, size / max(cpu, 1e-9) / 1e6
        print(f"  {name:<34} {speeds[name]:10.0f} {per_cpu[name]:13.0f}", flush=True)
    base = speeds["sha256sum"]
    one = speeds["estimate hash-only, 1 thread"] / base
    two = speeds["estimate hash-only, 2 threads"] / base
    cpu_one = per_cpu["estimate hash-only, 1 thread"] / per_cpu["sha256sum"]
    print(f"ratio 1 thread / sha256sum:  {one:.2f} wall, {cpu_one:.2f} per CPU-second "
          f"(goal >= 0.9)")
    print(f"ratio 2 threads / sha256sum: {two:.2f} wall (goal >= 1.7; needs 2 idle cores)")
    print(f"scaling 2 threads / 1 thread: "
          f"{speeds['estimate hash-only, 2 threads'] / speeds['estimate hash-only, 1 thread']:.2f}"
          f" wall")
    (tree / "data").unlink()
    tree.rmdir()
    if made:
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
