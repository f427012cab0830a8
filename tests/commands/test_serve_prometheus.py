"""A real Prometheus scrapes ``pbs-agent serve`` over TLS 1.3 with basic auth.

Everything here is real: the agent runs as a subprocess, Prometheus is Debian's binary, the
certificate comes from ``openssl req``, TLS versions are probed with ``openssl s_client``.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from lab.credentials import bcrypt_hash, make_cert
from lab.pbs_tree import build_tree
from pbs_agent.demo import build_demo

from .procs import Agent, free_port, only

pytestmark = pytest.mark.prometheus
USER, PASSWORD = "prometheus", "correct horse battery staple"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    assert shutil.which("prometheus") and shutil.which("openssl"), "needs prometheus + openssl"
    tmp = tmp_path_factory.mktemp("e2e")
    cert, key = make_cert(tmp)
    tree = build_tree(tmp / "host")
    build_demo(str(tmp / "ds"), vms=2, cts=1, days=2, seed=5)
    web = tmp / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                   f"  min_version: TLS13\nbasic_auth_users:\n  {USER}: {bcrypt_hash(PASSWORD)}\n")
    agent = Agent([sys.executable, "-m", "pbs_agent", "serve",
                   "--web.listen-address", "127.0.0.1:0", "--web.config.file", str(web),
                   "--pbs.log-dir", str(tree["log"]), "--pbs.lib-dir", str(tree["lib"]),
                   "--pbs.config-dir", str(tree["etc"]), "--state-dir", str(tmp / "state"),
                   "--datastore", f"demo={tmp / 'ds'}", *only("tasks", "jobs", "dedup")])
    prom_port = free_port()
    target = f"127.0.0.1:{agent.port}"
    job = {"scheme": "https", "static_configs": [{"targets": [target]}],
           "tls_config": {"ca_file": str(cert)}}
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": [
        {"job_name": "pbs-agent", **job,
         "basic_auth": {"username": USER, "password": PASSWORD}},
        {"job_name": "wrong-password", **job,
         "basic_auth": {"username": USER, "password": "nope"}}]}
    (tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp / "prometheus.log").open("w"))
    try:
        yield {"agent": agent, "prom": f"http://127.0.0.1:{prom_port}", "cert": cert,
               "tmp": tmp}
    finally:
        prom.terminate()
        prom.wait(15)
        agent.stop()


def prom_get(base: str, path: str, **params: str) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def wait_for(fn, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out; last: {last!r}")


def query(base: str, expr: str) -> list[dict]:
    return prom_get(base, "/api/v1/query", query=expr)["data"]["result"]


def test_prometheus_scrapes_the_key_series(setup: dict) -> None:
    base = setup["prom"]

    def targets() -> dict[str, dict] | None:
        active = prom_get(base, "/api/v1/targets")["data"]["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in active}
        ok = by_job.get("pbs-agent", {}).get("health") == "up"
        bad = by_job.get("wrong-password", {}).get("health") == "down"
        return by_job if ok and bad else None

    by_job = wait_for(targets)
    assert "401" in by_job["wrong-password"]["lastError"]
    expected = {
        'pbs_agent_collector_success{collector="dedup"}': 1,
        'pbs_agent_collector_success{collector="tasks"}': 1,
        'pbs_tasks_total{worker_type="backup",status="ok"}': 3,
        'pbs_backup_chunks_total{datastore="store1",backup_type="vm",backup_id="100"}': 16384,
        'pbs_gc_last_success{datastore="store2"}': 0,
        'pbs_job_never_run{job_type="prunejob",job_id="p-weekly"}': 1,
        'up{job="pbs-agent"}': 1,
    }
    for expr, want in expected.items():
        result = wait_for(lambda e=expr: query(base, e))
        assert float(result[0]["value"][1]) == want, expr
    factor = wait_for(lambda: query(base, 'pbs_datastore_dedup_factor{datastore="demo"}'))
    assert float(factor[0]["value"][1]) > 1
    groups = wait_for(lambda: query(base, 'count(pbs_group_exclusive_bytes{datastore="demo"})'))
    assert float(groups[0]["value"][1]) == 3


def agent_get(setup: dict, path: str, password: str | None) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(setup["cert"]))
    req = urllib.request.Request(f"https://127.0.0.1:{setup['agent'].port}{path}")
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_wrong_password_is_401(setup: dict) -> None:
    assert agent_get(setup, "/metrics", "wrong")[0] == 401
    assert agent_get(setup, "/metrics", None)[0] == 401
    assert agent_get(setup, "/-/healthy", PASSWORD) == (200, b"OK\n")


def s_client(port: int, version_flag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", version_flag, "-brief"],
        input="", capture_output=True, text=True, timeout=30)


def test_tls12_refused_tls13_accepted(setup: dict) -> None:
    port = setup["agent"].port
    old = s_client(port, "-tls1_2")
    assert old.returncode != 0
    assert "protocol version" in (old.stdout + old.stderr).lower()
    new = s_client(port, "-tls1_3")
    assert new.returncode == 0, new.stderr
    assert "TLSv1.3" in new.stdout + new.stderr


def test_promtool_check_on_the_served_exposition(setup: dict) -> None:
    status, body = agent_get(setup, "/metrics", PASSWORD)
    assert status == 200 and b"pbs_group_info{" in body
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                          timeout=60)
    assert lint.returncode == 0 and lint.stdout == b"" and lint.stderr == b"", lint
