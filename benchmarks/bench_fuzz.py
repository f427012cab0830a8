#!/usr/bin/env python3
"""The fuzz tier at volume (issue 12): 10,000+ corrupted datastore copies, the real
`pbs-agent report` on each (lab/fuzz.py), in parallel workers, in batches of --batch cases
with distinct seeds (a batch's template is built anew; the totals so far are rewritten to
--out after every batch, so a stopped run keeps what it measured).

Prints JSON: cases, crashes, hangs (> 30 s), peak RSS (overall and per mutation), cases
where an untouched group's numbers moved, faults not reported, harness errors (a mutation
that itself failed), and the first failures.

    .venv/bin/python benchmarks/bench_fuzz.py --cases 10000 --workers 2
    # the same kind of run on older code (e.g. main before issue 12):
    git archive <rev> pbs_agent | tar -x -C /tmp/before && \\
      .venv/bin/python benchmarks/bench_fuzz.py --cases 600 --code /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
COUNTS = ("cases", "crashes", "hangs", "over_memory", "moved", "unreported", "harness_errors")


def _batch(seed: int, cases: int, work: str | None, code: str | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "lab.fuzz", "--cases", str(cases), "--seed", str(seed)]
    argv += ["--work", work] if work else []
    argv += ["--code", code] if code else []
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        return {"cases": 0, "harness_errors": 1,
                "failures": [{"batch_failed": seed, "stderr": proc.stderr[-300:]}]}


def _totals(parts: list[dict[str, Any]], started: float, seeds: list[int]) -> dict[str, Any]:
    total: dict[str, Any] = {k: sum(int(p.get(k, 0)) for p in parts) for k in COUNTS}
    peaks: dict[str, int] = {}
    for part in parts:
        for k, v in part.get("peak_by_mutation", {}).items():
            peaks[k] = max(peaks.get(k, 0), v)
    total |= {
        "batches": len(parts), "seeds": sorted(seeds),
        "wall_seconds": round(time.monotonic() - started),
        "peak_rss_mib": round(max((p.get("peak_rss", 0) for p in parts), default=0) / 2**20, 1),
        "peak_rss_mib_by_mutation": {k: round(v / 2**20, 1) for k, v in sorted(peaks.items())},
        "fault_kinds": len({k for p in parts for k in p.get("by_kind", {})}),
        "failures": [f for p in parts for f in p.get("failures", [])][:20],
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--work", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    ap.add_argument("--code", help="a directory holding another pbs_agent to run")
    ap.add_argument("--out", help="rewrite the totals so far to this file after each batch")
    args = ap.parse_args()
    started = time.monotonic()
    seeds = [args.seed + i for i in range(-(-args.cases // args.batch))]
    todo = list(seeds)
    parts: list[dict[str, Any]] = []
    done: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                seed = todo.pop(0)
                size = min(args.batch, args.cases - (seed - args.seed) * args.batch)
            part = _batch(seed, size, args.work, args.code)
            with lock:
                parts.append(part)
                done.append(seed)
                if args.out:
                    with open(args.out, "w") as fh:
                        json.dump(_totals(parts, started, done), fh, indent=1)

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(_totals(parts, started, done), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
