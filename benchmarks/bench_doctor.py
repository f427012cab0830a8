#!/usr/bin/env python3
"""`pbs-agent doctor` on a full-size datastore whose every chunk dir is wrong (issue 12).

65,536 chunk directories owned by the running user (root) with mode 0755 instead of
backup:backup 0750 — the first row of the troubleshooting matrix ("Permission denied (os
error 13)"). Times the whole `pbs-agent doctor --check datastore-permissions` process
against `find .chunks -maxdepth 1 -printf '%u\\n'` on the same tree, alternated, each run
after the other warmed the dentry cache. Goal: doctor <= 3x find.

    .venv/bin/python benchmarks/bench_doctor.py [--root DIR] [--repeat 7]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.datastore_gen import make_chunk_dirs  # noqa: E402


def timed(argv: list[str],
          cwd: str | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", help="where to build the tree (default: a temp dir on /dev/shm)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    base = args.root or tempfile.mkdtemp(
        prefix="bench-doctor-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    ds = os.path.join(base, "ds")
    try:
        make_chunk_dirs(ds, mode=0o755)
        Path(ds, ".lock").write_bytes(b"")
        find = ["find", ".chunks", "-maxdepth", "1", "-printf", "%u\\n"]
        doctor = [sys.executable, "-m", "pbs_agent", "doctor", "--check",
                  "datastore-permissions", "--datastore", f"store={ds}"]
        timed(find, ds)
        finds, doctors, last = [], [], None
        for _ in range(args.repeat):
            finds.append(timed(find, ds)[0])
            secs, last = timed(doctor, str(ROOT))
            doctors.append(secs)
        assert last is not None and last.returncode == 2, last and last.stderr
        fix = [line.strip() for line in last.stdout.splitlines()
               if line.strip().startswith("fix: ")]
        f_med, d_med = statistics.median(finds), statistics.median(doctors)
        print(json.dumps({
            "chunk_dirs": 65536, "find_runs_s": [round(x, 3) for x in finds],
            "doctor_runs_s": [round(x, 3) for x in doctors],
            "find_median_s": round(f_med, 3), "doctor_median_s": round(d_med, 3),
            "doctor_vs_find": round(d_med / f_med, 2),
            "paired_median_ratio": round(statistics.median(
                d / f for d, f in zip(doctors, finds, strict=True)), 2),
            "fix_lines": len(fix), "fix": fix[0] if fix else None,
            "load_avg": [round(x, 2) for x in os.getloadavg()]}, indent=1))
    finally:
        if not args.root:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
