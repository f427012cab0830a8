"""Web config (TLS, basic auth) and the HTTP server, in process over real TLS sockets."""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.credentials import bcrypt_hash
from pbs_agent.collectors.tasks import TasksCollector
from pbs_agent.errors import ConfigError
from pbs_agent.exporter.runner import Runner
from pbs_agent.exporter.server import ExporterServer, parse_listen_address
from pbs_agent.exporter.webconfig import load_web_config, parse_web_config
from pbs_agent.host import Settings


def web_yaml(cert: Path, key: Path, extra: str = "", users: str = "") -> str:
    return (f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n{extra}"
            f"basic_auth_users:\n  prom: {bcrypt_hash('s3cret')}\n{users}"
            "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n")


@pytest.fixture
def server(settings: Settings, tls_files: tuple[Path, Path],
           tmp_path: Path) -> Iterator[ExporterServer]:
    cfg = tmp_path / "web.yml"
    cfg.write_text(web_yaml(*tls_files, "  min_version: TLS13\n"))
    runner = Runner([TasksCollector()], settings)
    runner.run_all()
    srv = ExporterServer("127.0.0.1:0", runner, load_web_config(cfg))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client_ctx(cafile: Path, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def get(srv: ExporterServer, path: str, cafile: Path, auth: str | None = "prom:s3cret",
        ctx: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=10,
                                       context=ctx or client_ctx(cafile))
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


def test_metrics_over_tls_with_basic_auth(server: ExporterServer, tls_files) -> None:
    status, headers, body = get(server, "/metrics", tls_files[0])
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert headers["X-Content-Type-Options"] == "nosniff"
    text = body.decode()
    assert 'pbs_tasks_total{status="ok",worker_type="backup"} 3.0' in text
    assert 'pbs_agent_collector_success{collector="tasks"} 1.0' in text


@pytest.mark.parametrize("auth", [None, "prom:wrong", "nobody:s3cret", "garbage"])
def test_wrong_credentials_get_401(server: ExporterServer, tls_files, auth) -> None:
    for path in ("/metrics", "/", "/-/healthy"):
        status, headers, _ = get(server, path, tls_files[0], auth=auth)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")


def test_landing_health_and_404(server: ExporterServer, tls_files) -> None:
    status, _, body = get(server, "/", tls_files[0])
    assert status == 200 and b'href="/metrics"' in body and b"<td>tasks</td><td>ok</td>" in body
    assert b"<th>detail</th>" in body
    assert get(server, "/-/healthy", tls_files[0])[:1] == (200,)
    assert get(server, "/nope", tls_files[0])[0] == 404


def test_tls12_client_refused_when_min_tls13(server: ExporterServer, tls_files) -> None:
    with pytest.raises(ssl.SSLError):
        get(server, "/metrics", tls_files[0],
            ctx=client_ctx(tls_files[0], ssl.TLSVersion.TLSv1_2))
    # the server survives the failed handshake
    assert get(server, "/-/healthy", tls_files[0])[0] == 200


def test_plain_http_without_config(settings: Settings) -> None:
    runner = Runner([], settings)
    srv = ExporterServer("127.0.0.1:0", runner, load_web_config(None))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200 and b"pbs_agent_build_info" in resp.read()
    finally:
        srv.shutdown()
        srv.server_close()


def test_basic_auth_checks(tls_files) -> None:
    web = parse_web_config(web_yaml(*tls_files), Path("/"))
    ok = "Basic " + base64.b64encode(b"prom:s3cret").decode()
    assert web.authorized_at_once(ok) is None  # a bcrypt check is due: the handler pool
    assert web.authorized(ok) and web.authorized(ok)  # second time from the cache
    assert web.authorized_at_once(ok) is True
    assert web.authorized_at_once("Basic " + base64.b64encode(b"prom:other").decode()) is None
    assert web.authorized_at_once("Bearer x") is False
    assert not web.authorized("Basic " + base64.b64encode(b"prom:s3cret2").decode())
    assert not web.authorized("Bearer x") and not web.authorized(None)
    assert not web.authorized("Basic !!!notbase64")
    assert parse_web_config("{}", Path("/")).authorized(None)  # no users: open


def test_relative_paths_and_versions(tls_files, tmp_path: Path) -> None:
    cert, key = tls_files
    (tmp_path / "c.pem").write_bytes(cert.read_bytes())
    (tmp_path / "k.pem").write_bytes(key.read_bytes())
    cfg = tmp_path / "web.yml"
    cfg.write_text("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"
                   "  min_version: TLS12\n  max_version: TLS12\n  cipher_suites:\n"
                   "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n")
    web = load_web_config(cfg)
    assert web.tls is not None
    assert web.tls.minimum_version == web.tls.maximum_version == ssl.TLSVersion.TLSv1_2
    assert [c["name"] for c in web.tls.get_ciphers() if c["protocol"] == "TLSv1.2"] == [
        "ECDHE-ECDSA-AES128-GCM-SHA256"]


@pytest.mark.parametrize(("extra", "match"), [
    ("  min_version: TLS14\n", "min_version 'TLS14'"),
    ("  min_version: TLS13\n  max_version: TLS12\n", "min_version is above max_version"),
    ("  cipher_suites: [TLS_FOO]\n", "unknown cipher suite 'TLS_FOO'"),
    ("  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file"),
    ("  client_auth_type: Sometimes\n", "client_auth_type 'Sometimes'"),
    ("  curve_preferences: [X25519]\n", "unknown tls_server_config field"),
])
def test_bad_tls_settings(tls_files, extra: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_web_config(web_yaml(*tls_files, extra), Path("/"))


@pytest.mark.parametrize(("text", "match"), [
    ("basic_auth_users:\n  u: plaintext\n", "not a bcrypt hash"),
    ("tls_config: {}\n", "unknown field"),
    ("- a list\n", "mapping at the top level"),
    ("a: [unclosed\n", "not valid YAML"),
    ("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n",
     "cannot load"),
])
def test_bad_web_configs(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_web_config(text, Path("/"))


def test_listen_addresses() -> None:
    assert parse_listen_address(":9797") == ("", 9797)
    assert parse_listen_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen_address("[::1]:9797") == ("::1", 9797)
    for bad in ("9797", "host:", "host:99999", "h:x"):
        with pytest.raises(ConfigError):
            parse_listen_address(bad)


def test_client_certificates_required(settings: Settings, tls_files, tmp_path: Path) -> None:
    from lab.credentials import make_cert

    client_dir = tmp_path / "client"
    client_dir.mkdir()
    ccert, ckey = make_cert(client_dir)
    cert, key = tls_files
    web = parse_web_config(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ccert}\n",
        Path("/"))
    srv = ExporterServer("127.0.0.1:0", Runner([], settings), web)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(srv, "/-/healthy", cert, auth=None)
        ctx = client_ctx(cert)
        ctx.load_cert_chain(ccert, ckey)
        assert get(srv, "/-/healthy", cert, auth=None, ctx=ctx)[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_gzip_when_asked(server: ExporterServer, tls_files) -> None:
    import gzip

    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10,
                                       context=client_ctx(tls_files[0]))
    auth = "Basic " + base64.b64encode(b"prom:s3cret").decode()
    conn.request("GET", "/metrics", headers={"Authorization": auth,
                                             "Accept-Encoding": "gzip, deflate"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.getheader("Content-Encoding") == "gzip"
    plain = get(server, "/metrics", tls_files[0])[2]
    assert gzip.decompress(body) == plain and len(body) < len(plain)


def test_changed_web_config_is_reloaded(settings: Settings, tls_files, tmp_path: Path) -> None:
    import os
    import time

    from pbs_agent.exporter.webconfig import WebConfigSource

    cfg = tmp_path / "web.yml"
    cfg.write_text(web_yaml(*tls_files))
    source = WebConfigSource(cfg, interval=0.0)
    srv = ExporterServer("127.0.0.1:0", Runner([], settings), source)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert get(srv, "/-/healthy", tls_files[0])[0] == 200
        cfg.write_text(web_yaml(*tls_files).replace("prom:", "other:"))
        later = time.time() + 5
        os.utime(cfg, (later, later))
        assert get(srv, "/-/healthy", tls_files[0])[0] == 401  # prom is gone
        assert get(srv, "/-/healthy", tls_files[0], auth="other:s3cret")[0] == 200
        cfg.write_text("tls_server_config: [broken\n")
        os.utime(cfg, (later + 5, later + 5))
        assert get(srv, "/-/healthy", tls_files[0], auth="other:s3cret")[0] == 200  # kept
    finally:
        srv.shutdown()
        srv.server_close()


def test_landing_page_says_why(tmp_path: Path) -> None:
    """Failed collectors show their reason, quiet ones their state, on the landing page."""
    (tmp_path / "fresh").mkdir()
    runner = Runner([TasksCollector()], Settings(log_dir=tmp_path / "fresh",
                                                 state_dir=tmp_path / "state"))
    runner.run_all()
    srv = ExporterServer("127.0.0.1:0", runner, load_web_config(None))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/")
        body = conn.getresponse().read().decode()
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert "<td>tasks</td><td>ok</td>" in body
    assert "no task log directory yet" in body and "PBS has run no task" in body
