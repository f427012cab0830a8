#!/usr/bin/env python3
"""Exporter benchmarks (issue 3 §5): scrape latency under a running scan, task-log ingestion.

A. Scrape latency: a demo datastore with --groups backup groups (all exported:
   --dedup.max-groups is raised to match), the exporter's HTTPS server with basic auth and
   TLS 1.3 in this process, the dedup/tasks/jobs collectors' results in place, and the dedup
   collector refreshing in a loop with an empty state directory (a cold scan each time, run
   as in ``pbs-agent serve``: in its child process, then rendered in this one). A client in
   another process scrapes /metrics --scrapes times over one keep-alive connection, asking
   for gzip (as Prometheus does), and once per new connection; p50/p99/max are printed.
   Goal: p99 <= 50 ms.
B. Task-log ingestion: a PBS ``tasks/`` tree with --tasks finished tasks (per-task logs, the
   archive rotated into archive.1 and archive.N.zst every ~4000 lines). The tasks collector
   ingests it from scratch, then re-reads with nothing new (same process, and after a
   restart from its state file); the same with ``pbs-agent metrics`` as fresh processes.
   Goal: a re-read costs <= 5 % of the first ingest.

Full size (builds ~5 min of fixtures once under --root, reused while parameters match):
    .venv/bin/python benchmarks/bench_exporter.py --root /work/benchdata/exporter
Quick smoke:
    .venv/bin/python benchmarks/bench_exporter.py --root /tmp/bench-exporter --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.credentials import bcrypt_hash, make_cert  # noqa: E402
from lab.pbs_tasks import (  # noqa: E402
    Archive,
    Task,
    TaskTree,
    backup_lines,
    gc_lines,
    make_upid,
)
from pbs_agent.collectors.base import CollectContext  # noqa: E402
from pbs_agent.collectors.dedup import DedupCollector  # noqa: E402
from pbs_agent.collectors.jobs import JobsCollector  # noqa: E402
from pbs_agent.collectors.tasks import TasksCollector  # noqa: E402
from pbs_agent.demo import build_demo  # noqa: E402
from pbs_agent.exporter.runner import SWITCH_INTERVAL, Runner  # noqa: E402
from pbs_agent.exporter.server import ExporterServer  # noqa: E402
from pbs_agent.exporter.webconfig import parse_web_config  # noqa: E402
from pbs_agent.host import Settings  # noqa: E402

MARKER = ".bench-params.json"
CLIENT = r"""
import base64, http.client, json, ssl, sys, time
port, cafile, auth, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
fresh = sys.argv[5] == "1"
ctx = ssl.create_default_context(cafile=cafile)
hdr = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
       "Accept-Encoding": "gzip"}  # as Prometheus asks
conn, lat, size = None, [], 0
for _ in range(n):
    if conn is None or fresh:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    t = time.perf_counter()
    conn.request("GET", "/metrics", headers=hdr)
    resp = conn.getresponse(); body = resp.read()
    lat.append(time.perf_counter() - t)
    assert resp.status == 200; size = len(body)
    if fresh:
        conn.close()
print(json.dumps({"lat": lat, "size": size}))
"""


def fixture_dir(root: Path, name: str, params: dict, build) -> Path:
    """A fixture directory rebuilt only when its parameters change."""
    path = root / name
    marker = path / MARKER
    if marker.exists() and json.loads(marker.read_text()) == params:
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    t = time.perf_counter()
    build(path, **params)
    marker.write_text(json.dumps(params))
    print(f"  built {name} in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def build_datastore(path: Path, groups: int, days: int) -> None:
    vms = groups * 3 // 5
    build_demo(str(path / "ds"), vms=vms, cts=groups - vms, days=days, seed=11,
               namespaces=True, progress=sys.stderr.isatty())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def scrape(port: int, cafile: Path, n: int, fresh: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(cafile),
                           "bench:bench-password", str(n), "1" if fresh else "0"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def bench_scrape(root: Path, groups: int, scrapes: int) -> dict:
    print(f"A. scrape latency, {groups} groups, a cold scan running", flush=True)
    ds = fixture_dir(root, f"ds-{groups}", {"groups": groups, "days": 2}, build_datastore) / "ds"
    tmp = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    cert, key = make_cert(tmp)
    web = parse_web_config(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS13\n"
        f"basic_auth_users:\n  bench: {bcrypt_hash('bench-password')}\n", tmp)
    from lab.pbs_tree import build_tree

    tree = build_tree(tmp / "host")
    settings = Settings(log_dir=tree["log"], lib_dir=tree["lib"], config_dir=tree["etc"],
                        state_dir=tmp / "state", datastores={"bench": ds}, max_groups=groups)
    runner = Runner([DedupCollector(), TasksCollector(), JobsCollector()], settings)
    runner.run_all()
    server = ExporterServer("127.0.0.1:0", runner, web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop, scans, scan_times = threading.Event(), [0], []

    def scan_loop() -> None:  # the dedup collector's refresh, cold (empty state) each time
        while not stop.is_set():
            cold = replace(settings, state_dir=Path(tempfile.mkdtemp(dir=tmp)))
            t = time.perf_counter()
            list(DedupCollector().collect(CollectContext(cold)))
            scan_times.append(time.perf_counter() - t)
            scans[0] += 1

    sys.setswitchinterval(SWITCH_INTERVAL)  # as Runner.start() does in pbs-agent serve
    idle = scrape(server.port, cert, scrapes, fresh=False)  # baseline: no scan running
    scanner = threading.Thread(target=scan_loop, daemon=True)
    scanner.start()
    time.sleep(0.5)
    try:
        warm = scrape(server.port, cert, scrapes, fresh=False)
        new = scrape(server.port, cert, max(scrapes // 5, 20), fresh=True)
    finally:
        stop.set()
        scanner.join()
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"groups": groups, "exposition_bytes": len(runner.exposition()),
           "gzipped_bytes": warm["size"], "scans_during": scans[0],
           "scan_seconds_median": statistics.median(scan_times) if scan_times else None}
    for name, res in (("idle_keepalive", idle), ("keepalive", warm), ("new_connection", new)):
        lat = [x * 1000 for x in res["lat"]]
        out[name] = {"n": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                     "max_ms": max(lat)}
        print(f"  {name:16s} n={len(lat):4d} p50 {out[name]['p50_ms']:6.2f} ms  "
              f"p99 {out[name]['p99_ms']:6.2f} ms  max {out[name]['max_ms']:6.2f} ms", flush=True)
    print(f"  exposition {len(runner.exposition())} bytes, {warm['size']} gzipped; "
          f"{scans[0]} cold scans ran meanwhile "
          f"(median {out['scan_seconds_median'] or 0:.2f} s each)", flush=True)
    return out


def _task(rng: random.Random, i: int, start: int, pstart: int) -> Task:
    """One finished task of a realistic mix (60 % backups)."""
    r = rng.random()
    end = start + rng.randint(5, 900)
    if r < 0.6:  # 1,000 groups: 600 VMs and 400 CTs spread over 3 datastores
        group = rng.randrange(1000)
        store = f"store{group % 3 + 1}"
        btype, bid = ("vm", str(100 + group)) if group < 600 else ("ct", str(1400 + group))
        ns = "" if group % 4 else "prod"
        size = rng.randint(1, 64) << 30
        archives = [Archive("drive-scsi0.img.fidx" if btype == "vm" else "root.pxar.didx",
                            size, size >> 22, rng.randint(1, 200), rng.randint(1, 200) << 22,
                            rng.randint(0, 9))]
        upid = make_upid(start, "backup", f"{store}:{btype}/{bid}", pstart=pstart, task_id=i)
        return Task(upid, start, end, "OK" if r < 0.58 else "connection reset",
                    backup_lines(store, ns, btype, bid, "2024-06-05T04:00:00Z", archives))
    if r < 0.65:
        upid = make_upid(start, "garbage_collection", f"store{i % 3 + 1}", pstart=pstart,
                         task_id=i)
        return Task(upid, start, end, "OK", gc_lines(f"{rng.randint(0, 900)} MiB", None, "12.5"))
    if r < 0.75:
        upid = make_upid(start, "verificationjob", f"store{i % 3 + 1}:v-daily", pstart=pstart,
                         task_id=i)
        lines = ["verify datastore"] + [
            f"  verified {rng.randint(1, 4000)}.00/{rng.randint(4000, 8000)}.00 MiB in "
            f"{rng.randint(1, 90)}.00 seconds, speed 1.00/2.00 MiB/s (0 errors)"
            for _ in range(rng.randint(1, 5))]
        return Task(upid, start, end, "OK", lines)
    if r < 0.8:
        upid = make_upid(start, "syncjob", f"remote1:src:store{i % 3 + 1}::s-1", pstart=pstart,
                         task_id=i)
        return Task(upid, start, end, "OK", [
            "Summary: sync job pulled 1.25 GiB in 420 chunks (average rate: 52.4 MiB/s)"])
    wtype = rng.choice(["reader", "prune", "aptupdate", "logrotate"])
    upid = make_upid(start, wtype, f"store{i % 3 + 1}", pstart=pstart, task_id=i)
    return Task(upid, start, end, "OK", [f"{wtype} step {k}" for k in range(rng.randint(1, 8))])


def build_tasks(path: Path, tasks: int, days: int) -> None:
    """Write *tasks* finished tasks over *days*, rotated like PBS (~4000 lines per file)."""
    rng = random.Random(3)
    tasks_dir = path / "log" / "tasks"
    tasks_dir.mkdir(parents=True)
    t0 = 1717560000
    pstarts = [0x1E240 + 977 * k for k in range(20)]  # the proxy restarted 20 times
    lines = []
    tree = TaskTree()
    for i in range(tasks):
        start = t0 + i * days * 86400 // tasks
        task = _task(rng, i, start, pstarts[i * len(pstarts) // tasks])
        tree.write_log(tasks_dir, task)
        lines.append((task.end, TaskTree.archive_line(task)))
    lines.sort()
    per_file = 4000
    chunks = [lines[i:i + per_file] for i in range(0, len(lines), per_file)]
    import zstandard

    for n, chunk in enumerate(reversed(chunks)):  # newest first: archive, archive.1, .2.zst…
        text = "".join(line for _, line in chunk)
        if n == 0:
            (tasks_dir / "archive").write_text(text)
        elif n == 1:
            (tasks_dir / "archive.1").write_text(text)
        else:
            data = zstandard.ZstdCompressor(level=3).compress(text.encode())
            (tasks_dir / f"archive.{n}.zst").write_bytes(data)
    (tasks_dir / "active").write_text("")


def timed_collect(settings: Settings, collector: TasksCollector | None = None) -> float:
    col = collector or TasksCollector()
    t = time.perf_counter()
    list(col.collect(CollectContext(settings)))
    return time.perf_counter() - t


def timed_cli(log_dir: Path, state: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``pbs-agent metrics`` process."""
    import resource

    from pbs_agent.exporter.registry import available_collectors

    off = [f"--no-collector.{n}" for n in available_collectors() if n != "tasks"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pbs_agent", "metrics", "--pbs.log-dir", str(log_dir),
                    "--state-dir", str(state), *off], check=True, stdout=subprocess.DEVNULL,
                   cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_tasks(root: Path, tasks: int) -> dict:
    print(f"B. task-log ingestion, {tasks} tasks", flush=True)
    path = fixture_dir(root, f"tasks-{tasks}", {"tasks": tasks, "days": 20}, build_tasks)
    log_dir = path / "log"
    state = Path(tempfile.mkdtemp(prefix="bench-tasks-state-"))
    try:
        s = Settings(log_dir=log_dir, state_dir=state / "a")
        col = TasksCollector()
        first = timed_collect(s, col)
        again = timed_collect(s, col)
        restart = timed_collect(s)
        cli_first = timed_cli(log_dir, state / "b")
        cli_again = timed_cli(log_dir, state / "b")
    finally:
        shutil.rmtree(state, ignore_errors=True)
    out = {"tasks": tasks, "first_s": first, "reread_same_process_s": again,
           "reread_after_restart_s": restart, "cli_first_wall_cpu_s": cli_first,
           "cli_reread_wall_cpu_s": cli_again}
    print(f"  in process: first {first:.2f} s, re-read {again * 1000:.1f} ms "
          f"({100 * again / first:.2f} %), after restart {restart * 1000:.1f} ms "
          f"({100 * restart / first:.2f} %)", flush=True)
    for what, i in (("wall", 0), ("CPU", 1)):
        print(f"  pbs-agent metrics (fresh processes), {what}: first {cli_first[i]:.2f} s, "
              f"re-read {cli_again[i]:.2f} s ({100 * cli_again[i] / cli_first[i]:.2f} %)",
              flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="where fixtures are built/reused")
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--scrapes", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--part", choices=["scrape", "tasks", "all"], default="all")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.quick:
        args.groups, args.tasks, args.scrapes = 50, 3000, 100
    os.makedirs(args.root, exist_ok=True)
    results = {}
    if args.part in ("scrape", "all"):
        results["scrape"] = bench_scrape(args.root, args.groups, args.scrapes)
    if args.part in ("tasks", "all"):
        results["tasks"] = bench_tasks(args.root, args.tasks)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
