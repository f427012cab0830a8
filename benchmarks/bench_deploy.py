#!/usr/bin/env python3
"""Benchmark deploys/pbs_host.py on sandbox hosts (root; see README "Sandbox hosts").

    .venv/bin/python benchmarks/bench_deploy.py [--hosts 20] [--reruns 3] [--json]

Measures, with wall-clock time around the real ``pyinfra -y --json`` command:
  1. one fresh host: first run (converge) and the converged re-runs (goal: re-run <= 15 s);
  2. N fresh hosts in ONE pyinfra run (pyinfra's parallelism) vs the single host's first run
     (goal: <= 3x), plus their converged re-run.
Every run must succeed and every re-run must change nothing, else the benchmark fails.
Results: docs/benchmarks.md "Provisioning (deploys/pbs_host.py)".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploys.agent.package import default_deb  # noqa: E402
from lab.deploy_data import (  # noqa: E402
    HEALTHY_OVERRIDES,
    keyring_server,
    pbs_host_data,
)
from lab.sandbox import Sandbox, run_pyinfra, write_inventory  # noqa: E402

DEPLOY = "deploys/pbs_host.py"


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed_run(inventory: Path, expect_changes: bool) -> tuple[float, int]:
    start = time.monotonic()
    result = run_pyinfra(inventory, DEPLOY)
    took = time.monotonic() - start
    if result.returncode != 0 or result.changed_ops is None:
        raise SystemExit(f"pyinfra failed (rc={result.returncode}):\n{result.stderr[-3000:]}")
    if not expect_changes and result.changed_ops:
        raise SystemExit(f"re-run changed {result.changed_ops} operations: {result.changed}")
    note(f"  {inventory.stem}: {took:.1f} s, {result.changed_ops} operations changed")
    return took, result.changed_ops


def prepare(box: Sandbox, count: int, url: str, tmp: Path, name: str,
            agent: Path) -> tuple[Path, float]:
    start = time.monotonic()
    hosts = box.start_hosts(count)
    boot = time.monotonic() - start
    note(f"{count} host(s) booted in {boot:.1f} s")
    for host in hosts:
        host.install_fact_overrides(HEALTHY_OVERRIDES)
    inventory = write_inventory(tmp / f"{name}.py",
                                [h.inventory_entry(pbs_host_data(url, agent_deb=str(agent)))
                                 for h in hosts],
                                groups=["pbs"])
    return inventory, boot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    out: dict[str, object] = {"cpus": os.cpu_count(), "hosts": args.hosts}
    with Sandbox() as box, keyring_server() as url, tempfile.TemporaryDirectory() as tmp:
        # A copy of the agent package (make deb): a rebuild meanwhile must not count as a change.
        agent = Path(tmp) / default_deb().name
        shutil.copy(default_deb(), agent)
        inv1, boot1 = prepare(box, 1, url, Path(tmp), "one", agent)
        first1, changed1 = timed_run(inv1, expect_changes=True)
        reruns = [timed_run(inv1, expect_changes=False)[0] for _ in range(args.reruns)]
        out["one"] = {"boot_s": round(boot1, 2), "first_run_s": round(first1, 2),
                      "first_run_changed_ops": changed1,
                      "rerun_s": [round(r, 2) for r in reruns],
                      "rerun_median_s": round(statistics.median(reruns), 2)}
        invn, bootn = prepare(box, args.hosts, url, Path(tmp), "many", agent)
        firstn, changedn = timed_run(invn, expect_changes=True)
        rerunn, _ = timed_run(invn, expect_changes=False)
        out["many"] = {"boot_s": round(bootn, 2), "first_run_s": round(firstn, 2),
                       "first_run_changed_ops": changedn, "rerun_s": round(rerunn, 2),
                       "first_run_ratio_vs_one": round(firstn / first1, 2),
                       "rerun_ratio_vs_one": round(rerunn / statistics.median(reruns), 2)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    one, many = out["one"], out["many"]
    print(f"1 host : first run {one['first_run_s']} s ({one['first_run_changed_ops']} ops "
          f"changed), converged re-run median {one['rerun_median_s']} s {one['rerun_s']}")
    print(f"{args.hosts} hosts: first run {many['first_run_s']} s "
          f"({many['first_run_ratio_vs_one']}x one host), converged re-run "
          f"{many['rerun_s']} s ({many['rerun_ratio_vs_one']}x)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
