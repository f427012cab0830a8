"""port-8007 (listening via the real /proc, nftables evaluation, a real TLS handshake) and
pve-latency (real TCP connects)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploys.nftables.steps import TABLE
from pbs_agent.doctor import Endpoint, Verdict, network
from pbs_agent.doctor.nftables import Packet, Ruleset
from pbs_agent.errors import ConfigError, FormatError

from .hosts import Host
from .nftrender import PBS_FLEET, nft_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate made by the real openssl, like PBS's proxy.pem."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "proxy.key"),
                    "-out", str(d / "proxy.pem"), "-days", "1", "-subj", "/CN=pbs-test"],
                   check=True, capture_output=True)
    return d / "proxy.pem", d / "proxy.key"


class Server:
    """A listening socket on 127.0.0.1 that does a TLS handshake (or not) per connection."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tls = tls
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    if self.tls is None:
                        conn.sendall(b"HTTP/1.0 400 not TLS\r\n\r\n")
                    else:
                        with self.tls.wrap_socket(conn, server_side=True) as t:
                            t.recv(1)
                except (OSError, ssl.SSLError):
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[Server]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    srv = Server(ctx)
    yield srv
    srv.close()


@pytest.fixture
def plain_server() -> Iterator[Server]:
    srv = Server(None)
    yield srv
    srv.close()


LISTEN_8007 = ("  sl  local_address rem_address   st\n"
               "   0: 00000000:1F47 00000000:0000 0A 00000000:00000000 00:00000000 0 34 0 7\n")


def _env(host: Host, port: int | None, sources: list[str],
         nft: str | None = PBS_FLEET):
    """Port 8007 listening per a procfs fixture; the TLS probe goes to the test server."""
    if nft:
        host.tool(["nft", "-j", "list", "ruleset"], nft_json(nft))
    if port is not None:
        host.write("proc/net/tcp", LISTEN_8007)
    tls = Endpoint("127.0.0.1", port or _free_port())
    return host.env(sources=sources, tls_endpoint=tls)


def test_listening_reads_real_proc_net_tcp(tls_server: Server) -> None:
    found = network.listening(Path("/proc"), tls_server.port)
    assert found and found[0].startswith("tcp:")
    assert network.listening(Path("/proc"), _free_port()) == []


def test_listening_parses_tcp6_fixture(host: Host) -> None:
    """8007 is 0x1F47 in /proc/net/tcp6 (not 1F57, which is 8023)."""
    host.write("proc/net/tcp6", "  sl  local_address                         remote_address  "
               "                      st\n   0: 00000000000000000000000000000000:1F47 "
               "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 "
               "00000000    34        0 4242 1\n   1: 00000000000000000000000000000000:0016 "
               "00000000000000000000000000000000:0000 01 0\n")
    assert network.listening(host.root / "proc", 8007) == [
        "tcp6:00000000000000000000000000000000"]
    assert network.listening(host.root / "proc", 22) == []  # state 01 is not LISTEN


def test_port_ok(host: Host, tls_server: Server) -> None:
    env = _env(host, tls_server.port, ["10.0.0.5", "fd00::9"])
    c = network.check_port(env)
    assert c.verdict == Verdict.OK, c.evidence
    assert f"10.0.0.5 accepted by inet {TABLE} input rule 9 (pve)" in c.evidence
    assert f"fd00::9 accepted by inet {TABLE} input rule 10 (pve)" in c.evidence
    assert "TLSv1.3" in c.evidence and c.fix == ""


def test_port_fail_when_nothing_listens(host: Host) -> None:
    c = network.check_port(_env(host, None, ["10.0.0.5"]))
    assert c.verdict == Verdict.FAIL and "nothing listens on TCP port 8007" in c.evidence
    assert "proxmox-backup-proxy" in c.fix


def test_port_fail_when_firewall_blocks_a_source(host: Host, tls_server: Server) -> None:
    c = network.check_port(_env(host, tls_server.port, ["10.0.0.5", "10.0.1.5"]))
    assert c.verdict == Verdict.FAIL
    assert f"10.0.1.5 BLOCKED by policy drop of inet {TABLE} input" in c.evidence
    assert "nftables" in c.fix


def test_port_fail_when_tls_handshake_fails(host: Host, plain_server: Server) -> None:
    c = network.check_port(_env(host, plain_server.port, []))
    assert c.verdict == Verdict.FAIL and "TLS handshake" in c.evidence and "failed" in c.evidence
    assert "proxy.pem" in c.fix


def test_port_warn_on_rules_not_understood(host: Host, tls_server: Server) -> None:
    c = network.check_port(_env(host, tls_server.port, ["10.0.0.5"], "nft-unmodelled.json"))
    assert c.verdict == Verdict.WARN, c.evidence
    assert "not evaluated: inet odd input rule 2" in c.evidence


def test_port_warn_on_unresolvable_source(host: Host, tls_server: Server) -> None:
    c = network.check_port(_env(host, tls_server.port, ["no-such-host.invalid"]))
    assert c.verdict == Verdict.WARN and "does not resolve" in c.evidence


def test_port_warn_without_nft(host: Host, tls_server: Server) -> None:
    c = network.check_port(_env(host, tls_server.port, ["10.0.0.5"], nft=None))
    assert c.verdict == Verdict.WARN and "firewall not evaluated" in c.evidence


@pytest.mark.parametrize(("fixture", "src", "accepted", "reason"), [
    (PBS_FLEET, "10.0.0.5", True, "rule 9"),
    (PBS_FLEET, "192.168.5.7", True, "rule 9"),
    (PBS_FLEET, "10.0.1.5", False, "policy drop"),
    (PBS_FLEET, "fd00::1", True, "rule 10"),
    (PBS_FLEET, "fd01::1", False, "policy drop"),
    ("nft-sets-jumps.json", "10.1.2.3", True, "rule 4"),  # named set, prefix element
    ("nft-sets-jumps.json", "10.2.0.5", True, "rule 4"),  # named set, range element
    ("nft-sets-jumps.json", "10.2.0.10", False, "rule 5"),  # port range + saddr != -> reject
    ("nft-sets-jumps.json", "10.9.9.9", False, "sub rule 8"),  # jump, no return -> drop
    ("nft-sets-jumps.json", "10.3.3.3", False, "rule 5"),
    ("nft-sets-jumps.json", "fd00::1", True, "no input chain"),  # ip table: IPv4 only
])
def test_nft_evaluation(fixture: str, src: str, accepted: bool, reason: str) -> None:
    d = Ruleset(nft_json(fixture)).decide(
        Packet(ipaddress.ip_address(src), 8007))
    assert d.accepted is accepted and reason in d.reason and d.uncertain == []


def test_nft_other_port_and_bad_json() -> None:
    rs = Ruleset(nft_json(PBS_FLEET))
    assert rs.decide(Packet(ipaddress.ip_address("10.0.0.5"), 22)).accepted
    assert not rs.decide(Packet(ipaddress.ip_address("10.0.0.5"), 9999)).accepted
    with pytest.raises(FormatError, match="not nftables JSON"):
        Ruleset("[]")


def test_endpoint_parse() -> None:
    assert Endpoint.parse("pve1", 8006) == Endpoint("pve1", 8006)
    assert Endpoint.parse("pve1:22", 8006) == Endpoint("pve1", 22)
    assert Endpoint.parse("[fd00::1]:443", 8006) == Endpoint("fd00::1", 443)
    assert Endpoint.parse("fd00::1", 8006) == Endpoint("fd00::1", 8006)
    assert str(Endpoint("fd00::1", 1)) == "[fd00::1]:1"
    with pytest.raises(ConfigError, match="port"):
        Endpoint.parse("pve1:99999", 8006)


def test_latency_ok_warn_fail(host: Host, plain_server: Server) -> None:
    up = Endpoint("127.0.0.1", plain_server.port)
    down = Endpoint("127.0.0.1", _free_port())
    c = network.check_latency(host.env(pve_hosts=[up]))
    assert c.verdict == Verdict.OK and f"127.0.0.1:{up.port}: " in c.evidence
    # no netem in this kernel: a zero threshold makes the real, non-zero connect time a warning
    c = network.check_latency(host.env(pve_hosts=[up], latency_warn_ms=0.0))
    assert c.verdict == Verdict.WARN and "warn > 0 ms" in c.evidence
    c = network.check_latency(host.env(pve_hosts=[up, down]))
    assert c.verdict == Verdict.FAIL and f"127.0.0.1:{down.port}: unreachable" in c.evidence
    assert network.check_latency(host.env()).verdict == Verdict.OK
