#!/usr/bin/env python3
"""The exporter's HTTP server under load and under slow clients (issue 12).

The real ``pbs-agent serve`` runs in its own process (the dedup, tasks and jobs collectors
on a small demo datastore), plain or with TLS (web config, EC P-256 certificate).

A. Load: --clients concurrent clients (spread over --procs processes, so the clients'
   own TLS work does not share one GIL) start together and make --scrapes scrapes in all,
   each on a new connection (TCP, and the TLS handshake when on), then the same again with
   one keep-alive connection per client (as Prometheus scrapes). Latency is from connect (or
   request) to the last byte. Goal: 0 errors, p99 <= 250 ms. --client ab drives the same
   load with ApacheBench (C and OpenSSL, one process: a client as lean as Prometheus's, so
   the server is what is measured, not Python clients' handshakes). Each case also reports
   the server process's CPU time per scrape (utime + stime from /proc), which the load
   around it hardly moves.
B. Slow TLS clients: --slow connections send the first bytes of a ClientHello and then
   one byte every 2 s; meanwhile one normal client scrapes every 0.25 s. Goal: the normal
   scrapes are not delayed, the slow clients are cut at the handshake timeout (10 s).

    .venv/bin/python benchmarks/bench_server.py                 # both parts, TLS on and off
    .venv/bin/python benchmarks/bench_server.py --part load --tls on
    .venv/bin/python benchmarks/bench_server.py --part load --client ab  # needs apache2-utils
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.credentials import make_cert  # noqa: E402
from pbs_agent.demo import build_demo  # noqa: E402

HELLO = bytes.fromhex("16030100c8010000c40303")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def start_server(work: Path, tls: bool) -> tuple[subprocess.Popen[bytes], int, Path | None]:
    ds = work / "ds"
    if not ds.exists():
        build_demo(str(ds), vms=3, cts=2, days=3, seed=3)
    cert = None
    args = []
    if tls:
        cert, key = make_cert(work)
        (work / "web.yml").write_text(
            f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
        args = ["--web.config.file", str(work / "web.yml")]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(work / f"serve-{'tls' if tls else 'plain'}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbs_agent", "serve", "--web.listen-address",
         f"127.0.0.1:{port}", *args, "--datastore", f"demo={ds}",
         "--state-dir", str(work / "state"), "--pbs.log-dir", str(work / "log"),
         "--pbs.lib-dir", str(work / "lib"), "--pbs.config-dir", str(work / "etc"),
         "--no-collector.api", "--no-collector.hardware", "--no-collector.zfs",
         "--no-collector.thermal", "--no-collector.bench"],
        cwd=ROOT, stderr=log)
    log.close()  # the child has its own copy
    ctx = _ctx(cert)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # ready once the first full exposition is there
        try:
            if b"pbs_datastore_scan_success" in _scrape(port, ctx, gzip=False)[1]:
                return proc, port, cert
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not come up")


def _ctx(cert: Path | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(cert)) if cert else None


def _scrape(port: int, ctx: ssl.SSLContext | None, timeout: float = 30,
            gzip: bool = True) -> tuple[float, bytes]:
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                  + (b"Accept-Encoding: gzip\r\n" if gzip else b"")
                  + b"Connection: close\r\n\r\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    if not out.startswith(b"HTTP/1.1 200"):
        raise OSError(f"bad answer {out[:40]!r}")
    return time.perf_counter() - t, out


def _keepalive(port: int, ctx: ssl.SSLContext | None, n: int) -> list[float]:
    """*n* scrapes over one connection; the first includes the connect (and handshake)."""
    lat = []
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
        for _ in range(n):
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
            head, _, body = buf.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise OSError(f"bad answer {head[:40]!r}")
            size = int(next(h for h in head.split(b"\r\n")
                            if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(body) < size:
                body += s.recv(65536)
            lat.append(time.perf_counter() - t)
            t = time.perf_counter()
    return lat


def _client_proc(port: int, cert: str | None, threads: int, per: int, start_at: float,
                 keepalive: bool, out: multiprocessing.Queue) -> None:
    ctx = _ctx(Path(cert) if cert else None)
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        if keepalive:
            try:
                got = _keepalive(port, ctx, per)
                with lock:
                    lat.extend(got)
            except OSError as exc:
                with lock:
                    errors.append(str(exc)[:100])
            return
        for _ in range(per):
            try:
                secs, _ = _scrape(port, ctx)
                with lock:
                    lat.append(secs)
            except OSError as exc:
                with lock:
                    errors.append(str(exc)[:100])

    ts = [threading.Thread(target=client) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errors))


def cpu_seconds(pid: int) -> float:
    """utime + stime of process *pid* so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_ab(port: int, tls: bool, clients: int, scrapes: int, keepalive: bool = False) -> dict:
    """The same load from ApacheBench: -c clients, -n scrapes (gzip asked, as Prometheus)."""
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/metrics"
    t = time.time()
    out = subprocess.run(["ab", "-q", *(["-k"] if keepalive else []), "-n", str(scrapes),
                          "-c", str(clients), "-s", "30", "-H", "Accept-Encoding: gzip", url],
                         capture_output=True, text=True, timeout=300).stdout

    def field(pattern: str) -> float | None:
        m = re.search(pattern, out, re.MULTILINE)
        return float(m.group(1)) if m else None

    done, failed = field(r"^Complete requests:\s+(\d+)"), field(r"^Failed requests:\s+(\d+)")
    return {"client": "ab", "clients": clients, "scrapes": int(done or 0),
            "errors": int(failed if failed is not None else scrapes),
            "error_samples": [] if done else [out[-300:]],
            "p50_ms": field(r"^\s+50%\s+(\d+)"), "p99_ms": field(r"^\s+99%\s+(\d+)"),
            "max_ms": field(r"^\s+100%\s+(\d+)"), "wall_s": round(time.time() - t, 2)}


def bench_load(port: int, cert: Path | None, clients: int, scrapes: int, procs: int,
               keepalive: bool = False) -> dict:
    per_client = max(1, scrapes // clients)
    q: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 2.0
    ps = [multiprocessing.Process(target=_client_proc, args=(
        port, str(cert) if cert else None, clients // procs, per_client, start_at,
        keepalive, q))
        for _ in range(procs)]
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    lat = [x for r in results for x in r[0]]
    errors = [e for r in results for e in r[1]]
    return {"clients": clients, "scrapes": len(lat) + len(errors), "errors": len(errors),
            "error_samples": errors[:3],
            "p50_ms": round(pct(lat, 50) * 1000, 1), "p99_ms": round(pct(lat, 99) * 1000, 1),
            "max_ms": round(max(lat) * 1000, 1) if lat else None,
            "wall_s": round(time.time() - start_at, 2)}


def bench_slow(port: int, cert: Path | None, slow: int, seconds: float) -> dict:
    ctx = _ctx(cert)
    stop = threading.Event()
    cut: list[float] = []
    lock = threading.Lock()
    socks = []
    for _ in range(slow):
        s = socket.create_connection(("127.0.0.1", port))
        s.send(HELLO[:3])
        socks.append((s, time.monotonic()))

    def trickle(sock: socket.socket, opened: float) -> None:
        i = 3
        while not stop.is_set():
            try:
                sock.settimeout(2.0)
                if sock.recv(1) == b"":
                    raise ConnectionResetError
            except TimeoutError:
                try:
                    sock.send(bytes([HELLO[i % len(HELLO)] if i < len(HELLO) else 0]))
                except OSError:
                    break
                i += 1
                continue
            except OSError:
                pass
            with lock:
                cut.append(time.monotonic() - opened)
            return

    ts = [threading.Thread(target=trickle, args=sc, daemon=True) for sc in socks]
    for t in ts:
        t.start()
    lat, errors = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            lat.append(_scrape(port, ctx)[0])
        except OSError:
            errors += 1
        time.sleep(0.25)
    stop.set()
    for s, _ in socks:
        s.close()
    return {"slow_clients": slow, "normal_scrapes": len(lat), "normal_errors": errors,
            "normal_p50_ms": round(pct(lat, 50) * 1000, 1),
            "normal_p99_ms": round(pct(lat, 99) * 1000, 1),
            "normal_max_ms": round(max(lat) * 1000, 1) if lat else None,
            "slow_cut": len(cut), "cut_after_s_min": round(min(cut), 1) if cut else None,
            "cut_after_s_median": round(statistics.median(cut), 1) if cut else None,
            "cut_after_s_max": round(max(cut), 1) if cut else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["load", "slow", "all"], default="all")
    ap.add_argument("--tls", choices=["on", "off", "both"], default="both")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--slow", type=int, default=300)
    ap.add_argument("--slow-seconds", type=float, default=15.0)
    ap.add_argument("--client", choices=["python", "ab"], default="python",
                    help="load generator: Python threads in --procs processes, or ApacheBench")
    args = ap.parse_args()
    if args.client == "ab" and not shutil.which("ab"):
        raise SystemExit("bench_server: --client ab needs ApacheBench (apt install apache2-utils)")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        work = Path(tmp)
        for tls in ([True, False] if args.tls == "both" else [args.tls == "on"]):
            proc, port, cert = start_server(work, tls)
            name = "tls" if tls else "plain"
            try:
                if args.part in ("load", "all"):
                    for keepalive in (False, True):
                        before = cpu_seconds(proc.pid)
                        got = bench_ab(port, tls, args.clients, args.scrapes, keepalive) \
                            if args.client == "ab" else \
                            bench_load(port, cert, args.clients, args.scrapes, args.procs,
                                       keepalive)
                        got["server_cpu_ms_per_scrape"] = round(
                            (cpu_seconds(proc.pid) - before) * 1000 / max(1, got["scrapes"]), 3)
                        got["load_avg_1m"] = round(os.getloadavg()[0], 2)
                        results[f"load_{name}{'_keepalive' if keepalive else ''}"] = got
                if args.part in ("slow", "all") and tls:
                    results["slow_tls"] = bench_slow(port, cert, args.slow, args.slow_seconds)
            finally:
                proc.terminate()
                proc.wait(10)
            log = (work / f"serve-{name}.log").read_text()
            results[f"server_log_{name}"] = {
                "lines": len(log.splitlines()), "bytes": len(log),
                "tracebacks": log.count("Traceback")}
    results["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
