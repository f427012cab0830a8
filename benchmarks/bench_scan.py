#!/usr/bin/env python3
"""Benchmark the dedup scan on a large synthetic datastore (issue 2 §6).

Builds (once, reused while its parameters match) a datastore of sparse chunk files in all
65536 chunk directories plus fixed/dynamic index files of many snapshots, then measures on
the same tree, each scan in a fresh process:

* ``find .chunks -type f -printf '%s\\n'`` (the baseline) vs a cold scan (no state);
* a rescan with nothing changed (persisted state) and after one new backup;
* peak memory of the cold scan (tracemalloc: Python + numpy buffers) per referenced chunk;
  when a forked child shared the chunk listing, the pair's peak is bounded by this
  process's peak until the child exited plus the child's own peak (both reported by the
  scan), and the larger of that and the whole scan's peak is used;
* CPU seconds (user + system, the forked child included) next to every wall time.

Compare with older code in the same loop (same load): ``git archive <rev> pbs_agent | tar -x
-C /tmp/before`` and ``--baseline-code /tmp/before``.

Full size (about 10 minutes to build on a slow disk, 80 MB of state, ~330 MB of indexes):
    .venv/bin/python benchmarks/bench_scan.py --root /work/benchdata/ds
Quick smoke:
    .venv/bin/python benchmarks/bench_scan.py --root /tmp/bench-small --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lab.datastore_gen import Shape, build, built_shape
from pbs_agent import formats as f

SCAN = """
import json, os, resource, sys, time, tracemalloc
from pbs_agent.engine import scan_datastore
root, state, trace = sys.argv[1], sys.argv[2] or None, sys.argv[3] == "1"
if trace:
    tracemalloc.start()
t, c = time.perf_counter(), os.times()
rep = scan_datastore(root, state_dir=state)
secs, c2 = time.perf_counter() - t, os.times()
cpu = sum(c2[:4]) - sum(c[:4])  # user + system, of this process and its forked children
scan = rep.as_dict()["scan"]
child = scan.get("listing_child_peak_traced_bytes", 0)
# a forked listing child lives only during the listing: the pair's peak is at most this
# process's peak up to the child's exit plus the child's own peak
both = scan.get("listing_parent_peak_traced_bytes", 0) + child
peak = max(tracemalloc.get_traced_memory()[1], both) if trace else 0
print(json.dumps({"seconds": secs, "cpu": cpu, "peak": peak, "child_peak": child,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "child_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "datastore": rep.as_dict()["datastore"], "scan": rep.as_dict()["scan"],
                  "errors": len(rep.errors)}))
"""


def scan(root: str, state: str | None, trace: bool = False, code: str | None = None) -> dict:
    """One scan in a fresh process; *code*: a directory holding another ``pbs_agent``."""
    code = code or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    env = dict(os.environ, PYTHONPATH=code)
    out = subprocess.run([sys.executable, "-c", SCAN, root, state or "", "1" if trace else "0"],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def find_seconds(root: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the baseline `find`."""
    t, c = time.perf_counter(), os.times()
    subprocess.run(["find", ".chunks", "-type", "f", "-printf", "%s\\n"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    c2 = os.times()
    return time.perf_counter() - t, (c2.children_user - c.children_user) + (
        c2.children_system - c.children_system)


def add_backup(root: str) -> None:
    """One new daily backup of the first VM: a snapshot plus its new chunks."""
    gdir = os.path.join(root, "vm", "1000")
    last = sorted(d for d in os.listdir(gdir) if d.endswith("Z"))[-1]
    idx = f.read_index(os.path.join(gdir, last, "drive-scsi0.img.fidx"))
    digests = idx.digest_list()
    rng = np.random.default_rng(int(time.time()))
    for i in range(0, len(digests), 20):
        d = rng.bytes(32)
        digests[i] = d
        path = f.chunk_path(root, d)
        with open(path, "wb") as fh:
            fh.truncate(2_000_000)
    t = int(time.time())
    sdir = os.path.join(gdir, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)))
    os.mkdir(sdir)
    with open(os.path.join(sdir, "drive-scsi0.img.fidx"), "wb") as fh:
        fh.write(f.encode_fidx(digests, size=idx.logical_size))
    with open(os.path.join(sdir, "index.json.blob"), "wb") as fh:
        fh.write(f.encode_manifest("vm", "1000", t, []))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="datastore to build/reuse (not in the repo)")
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--snapshots", type=int, default=2000)
    ap.add_argument("--base-chunks", type=int, default=5000, help="chunks per disk")
    ap.add_argument("--change", type=int, default=260, help="new chunks per snapshot")
    ap.add_argument("--garbage", type=int, default=20000)
    ap.add_argument("--quick", action="store_true", help="small smoke size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build-only", action="store_true", help="build the tree, measure nothing")
    ap.add_argument("--baseline-code", metavar="DIR",
                    help="also time cold scans with the pbs_agent in DIR (e.g. an older "
                         "`git archive` of the repo), alternated with find and this code")
    args = ap.parse_args()
    if args.quick:
        args.groups, args.snapshots, args.base_chunks, args.change, args.garbage = (
            10, 50, 200, 10, 100)
    p = Shape(groups=args.groups, snapshots_per_group=args.snapshots // args.groups,
              base_chunks=args.base_chunks, change=args.change, garbage=args.garbage)
    if built_shape(args.root) != p:
        if os.path.exists(args.root):
            if built_shape(args.root) is None:
                sys.exit(f"{args.root} exists and is not a benchmark tree: refusing to delete")
            shutil.rmtree(args.root)
        t = time.perf_counter()
        print(f"building {args.root} ...", file=sys.stderr)
        build(args.root, p)
        print(f"built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        time.sleep(2.5)  # let every directory age past the 2 s mtime-granularity window
    if args.build_only:
        return 0
    results = run(args.root, args.repeat, args.baseline_code)
    print(json.dumps(results, indent=1))
    return 0


def run(root: str, repeat: int, baseline_code: str | None = None) -> dict:
    find_seconds(root)  # warm the dentry/inode cache for both contenders
    finds, find_cpu, colds, base = [], [], [], []
    for _ in range(repeat):
        wall, cpu = find_seconds(root)
        finds.append(wall)
        find_cpu.append(cpu)
        colds.append(scan(root, None))
        if baseline_code:
            base.append(scan(root, None, code=baseline_code))
    state = tempfile.mkdtemp(prefix="bench-state-")
    try:
        first = scan(root, state)
        warm = [scan(root, state) for _ in range(repeat)]
        mem = scan(root, None, trace=True)
        mem_state = scan(root, tempfile.mkdtemp(prefix="bench-state-mem-", dir=state), True)
        add_backup(root)
        time.sleep(2.5)
        after_backup = scan(root, state)
    finally:
        shutil.rmtree(state)
    ds = colds[0]["datastore"]
    find_s = statistics.median(finds)
    cold_s = statistics.median(c["seconds"] for c in colds)
    warm_s = statistics.median(w["seconds"] for w in warm)
    return _baseline(base, find_s) | {
        "chunk_files": ds["chunks_on_disk"], "chunks_referenced": ds["chunks_referenced"],
        "snapshots": ds["snapshots"], "index_files": ds["index_files"],
        "errors": colds[0]["errors"],
        "find_seconds": round(find_s, 3), "find_runs": [round(x, 3) for x in finds],
        "cold_scan_seconds": round(cold_s, 3),
        "cold_runs": [round(c["seconds"], 3) for c in colds],
        "cold_vs_find": round(cold_s / find_s, 2),
        "cold_vs_find_best_of_runs": round(min(c["seconds"] for c in colds) / min(finds), 2),
        # each cold scan against the find run just before it (same load), then the median
        "cold_vs_find_paired_median": round(statistics.median(
            c["seconds"] / f for c, f in zip(colds, finds, strict=True)), 2),
        "cold_vs_find_cpu": round(statistics.median(c["cpu"] for c in colds)
                                  / statistics.median(find_cpu), 2),
        "find_cpu_seconds": [round(x, 2) for x in find_cpu],
        "cold_cpu_seconds": [round(c["cpu"], 2) for c in colds],
        "cold_listing_processes": [c["scan"].get("listing_processes", 1) for c in colds],
        "rescan_cpu_seconds": [round(w["cpu"], 3) for w in warm],
        "first_scan_with_state_seconds": round(first["seconds"], 3),
        "rescan_unchanged_seconds": round(warm_s, 3),
        "rescan_vs_cold": round(warm_s / cold_s, 4),
        "rescan_vs_cold_best_of_runs": round(
            min(w["seconds"] for w in warm) / min(c["seconds"] for c in colds), 4),
        "rescan_cached": all(w["scan"]["result_cached"] for w in warm),
        "rescan_after_one_backup_seconds": round(after_backup["seconds"], 3),
        "after_backup_scan": after_backup["scan"],
        "peak_traced_bytes_no_state": mem["peak"],
        "peak_bytes_per_referenced_chunk_no_state": round(mem["peak"] / ds["chunks_referenced"],
                                                          1),
        "peak_traced_bytes_with_state": mem_state["peak"],
        "peak_bytes_per_referenced_chunk_with_state": round(
            mem_state["peak"] / ds["chunks_referenced"], 1),
        "peak_traced_bytes_listing_child": mem["child_peak"],
        "maxrss_mib_no_state": round(mem["maxrss_kib"] / 1024, 1),
        "maxrss_mib_listing_child": round(mem["child_maxrss_kib"] / 1024, 1),
        "same_numbers": all(c["datastore"] == ds for c in colds + warm + [first] + base),
    }


def _baseline(base: list[dict], find_s: float) -> dict:
    """Cold scans of the --baseline-code, measured in the same loop."""
    if not base:
        return {}
    med = statistics.median(b["seconds"] for b in base)
    return {"baseline_cold_runs": [round(b["seconds"], 3) for b in base],
            "baseline_cold_cpu_seconds": [round(b["cpu"], 2) for b in base],
            "baseline_cold_vs_find": round(med / find_s, 2),
            "baseline_cold_cpu_median": round(statistics.median(b["cpu"] for b in base), 2)}


if __name__ == "__main__":
    sys.exit(main())
