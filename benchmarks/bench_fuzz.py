#!/usr/bin/env python3
"""The fuzz tier at volume (issue 12): 10,000+ corrupted datastore copies, the real
`pbs-agent report` on each (lab/fuzz.py), in parallel workers with distinct seeds.

Prints JSON: cases, crashes, hangs (> 30 s), peak RSS (overall and per mutation), cases
where an untouched group's numbers moved, faults not reported, and the first failures.

    .venv/bin/python benchmarks/bench_fuzz.py --cases 10000 --workers 2
    # the same cases on older code (e.g. main before issue 12):
    git archive <rev> pbs_agent | tar -x -C /tmp/before && \\
      .venv/bin/python benchmarks/bench_fuzz.py --cases 600 --code /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--work", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    ap.add_argument("--code", help="a directory holding another pbs_agent to run")
    args = ap.parse_args()
    per = -(-args.cases // args.workers)
    started = time.monotonic()
    procs = []
    for w in range(args.workers):
        argv = [sys.executable, "-m", "lab.fuzz", "--cases", str(per),
                "--seed", str(args.seed + w)]
        argv += ["--work", args.work] if args.work else []
        argv += ["--code", args.code] if args.code else []
        procs.append(subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True))
    parts = [json.loads(p.communicate()[0]) for p in procs]
    total: dict[str, object] = {"cases": 0, "crashes": 0, "hangs": 0, "over_memory": 0,
                                "moved": 0, "unreported": 0}
    for part in parts:
        for k in total:
            total[k] = int(total[k]) + part[k]  # type: ignore[call-overload]
    peaks: dict[str, int] = {}
    for part in parts:
        for k, v in part["peak_by_mutation"].items():
            peaks[k] = max(peaks.get(k, 0), v)
    total |= {
        "workers": args.workers, "seeds": [args.seed + w for w in range(args.workers)],
        "wall_seconds": round(time.monotonic() - started),
        "peak_rss_mib": round(max(p["peak_rss"] for p in parts) / 2**20, 1),
        "peak_rss_mib_by_mutation": {k: round(v / 2**20, 1) for k, v in sorted(peaks.items())},
        "fault_kinds": len({k for p in parts for k in p["by_kind"]}),
        "failures": [f for p in parts for f in p["failures"]][:20],
    }
    print(json.dumps(total, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
