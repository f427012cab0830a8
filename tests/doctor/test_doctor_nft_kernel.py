"""The nftables evaluator agrees with the real kernel (sandbox tier: root, netns).

Two network namespaces joined by a veth pair; the server namespace loads a ruleset with the
deploy's shape plus named sets, ranges, jumps and reject, and listens on 8007. From the client
namespace, a TCP connect is attempted from each of several source addresses; whether the
kernel let it through must equal :meth:`Ruleset.decide` on ``nft -j list ruleset`` of the
server namespace.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pbs_agent.doctor.nftables import Packet, Ruleset

pytestmark = pytest.mark.sandbox

SOURCES = ["10.77.0.5", "10.77.0.6", "10.77.0.9", "10.77.0.21", "10.77.0.33", "10.77.0.40",
           "fd77::5", "fd77::9"]
RULESET = """
table inet drtest {
  set pve { type ipv4_addr; flags interval; elements = { 10.77.0.20-10.77.0.22 } }
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
    meta l4proto ipv6-icmp accept
    ip saddr { 10.77.0.4/31, 10.77.0.9 } tcp dport { 22, 8007 } accept comment "pve"
    ip saddr @pve tcp dport 8007 accept
    ip6 saddr fd77::5 tcp dport 8007 accept
    ip saddr 10.77.0.32/28 tcp dport 8007 jump screen
    counter
  }
  chain screen {
    ip saddr 10.77.0.33 reject with tcp reset
    accept
  }
}
"""


def _run(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def netns_pair() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        pytest.skip("needs root, ip and nft")
    tag = f"dr{os.getpid() % 100000}"
    srv, cli = f"{tag}s", f"{tag}c"
    try:
        _run("ip", "netns", "add", srv)
        _run("ip", "netns", "add", cli)
        _run("ip", "link", "add", f"{tag}a", "type", "veth", "peer", "name", f"{tag}b")
        _run("ip", "link", "set", f"{tag}a", "netns", srv)
        _run("ip", "link", "set", f"{tag}b", "netns", cli)
        _run("ip", "addr", "add", "10.77.0.1/24", "dev", f"{tag}a", ns=srv)
        _run("ip", "addr", "add", "fd77::1/64", "dev", f"{tag}a", "nodad", ns=srv)
        for a in SOURCES:
            plen = "64" if ":" in a else "24"
            extra = ["nodad"] if ":" in a else []
            _run("ip", "addr", "add", f"{a}/{plen}", "dev", f"{tag}b", *extra, ns=cli)
        for ns, dev in ((srv, f"{tag}a"), (cli, f"{tag}b")):
            _run("ip", "link", "set", dev, "up", ns=ns)
            _run("ip", "link", "set", "lo", "up", ns=ns)
        yield srv, cli
    finally:
        for ns in (srv, cli):
            _run("ip", "netns", "del", ns, check=False)


CONNECT = """
import socket, sys
src, dst = sys.argv[1], sys.argv[2]
fam = socket.AF_INET6 if ":" in src else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(1.0)
s.bind((src, 0))
try:
    s.connect((dst, 8007))
    print("open")
except OSError as e:
    print("closed", e)
"""


def test_evaluator_matches_kernel(netns_pair: tuple[str, str], tmp_path) -> None:
    srv, cli = netns_pair
    rules = tmp_path / "r.nft"
    rules.write_text(RULESET)
    _run("nft", "-f", str(rules), ns=srv)
    listener = subprocess.Popen(
        ["ip", "netns", "exec", srv, sys.executable, "-c",
         "import socket,time\n"
         "s=socket.create_server(('::',8007),family=socket.AF_INET6,dualstack_ipv6=True)\n"
         "time.sleep(60)\n"])
    try:
        time.sleep(0.5)
        ruleset = Ruleset(_run("nft", "-j", "list", "ruleset", ns=srv).stdout)
        seen = {}
        for src in SOURCES:
            dst = "fd77::1" if ":" in src else "10.77.0.1"
            out = _run(sys.executable, "-c", CONNECT, src, dst, ns=cli).stdout
            kernel = out.startswith("open")
            model = ruleset.decide(Packet(ipaddress.ip_address(src), 8007))
            assert model.uncertain == []
            seen[src] = (kernel, model.accepted, model.reason)
        assert all(k == m for k, m, _ in seen.values()), "\n".join(map(str, seen.items()))
        assert {s for s, (k, _, _) in seen.items() if k} == {
            "10.77.0.5", "10.77.0.9", "10.77.0.21", "10.77.0.40", "fd77::5"}
    finally:
        listener.kill()
        listener.wait()
