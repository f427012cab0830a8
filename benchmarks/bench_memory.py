#!/usr/bin/env python3
"""Peak RSS of `pbs-agent report` against the bound of issue 12: 256 MiB + 24 bytes per
referenced chunk, each run under `prlimit --data=<bound>` (lab/measure.py measures the
peak truthfully: the largest of the process and its forked listing child).

Stores: the suite's full-size datastore (65,536 chunk dirs, 100,920 chunks), the
benchmarks' one (--full: ~1M chunks), and a long-retention group (40 daily snapshots of a
1M-chunk disk, hard-linked indexes) — each cold without state, cold with state, warm.

    .venv/bin/python benchmarks/bench_memory.py [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import measure  # noqa: E402
from lab.datastore_gen import FULL, SUITE, build, build_long_retention  # noqa: E402

MIB = 1 << 20


def runs(root: str, state: str) -> dict[str, object]:
    out: dict[str, object] = {}
    bound = None
    for name, st in (("cold_no_state", "/proc/self/none"), ("cold_with_state", state),
                     ("warm", state)):
        argv = [sys.executable, "-m", "pbs_agent", "report", "--json", root, "--state-dir", st]
        limit = bound or 4096 * MIB  # the first run learns the referenced chunks
        run = measure.run(["prlimit", f"--data={limit}", "--", *argv], timeout=1800)
        if run.returncode:
            raise SystemExit(run.stderr[-500:])
        referenced = json.loads(run.stdout)["datastore"]["chunks_referenced"]
        bound = 256 * MIB + 24 * referenced
        out[name] = {"maxrss_mib": round(run.maxrss / MIB, 1), "seconds": round(run.seconds, 2)}
    out["chunks_referenced"] = referenced
    out["bound_mib"] = round((bound or 0) / MIB, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="also the ~1M-chunk datastore")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="bench-memory-",
                            dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    results = {}
    try:
        for name, make in (("suite_full_size", lambda r: build(r, SUITE)),
                           ("long_retention_40x1M", lambda r: build_long_retention(
                               r, 1 << 20, 40)),
                           *((("benchmark_1M", lambda r: build(r, FULL)),) if args.full
                             else ())):
            root = os.path.join(base, name, "ds")
            os.makedirs(os.path.dirname(root))
            make(root)
            results[name] = runs(root, os.path.join(base, name, "state"))
            shutil.rmtree(os.path.join(base, name))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    results["load_avg"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[assignment]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
