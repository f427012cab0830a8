"""``port-8007`` ("Broken pipe during upload") and ``pve-latency``.

port-8007: something listens on the proxy port (``<procfs>/net/tcp`` and ``tcp6``, state
0A = LISTEN); the nftables ruleset (``nft -j list ruleset``) accepts new connections to it
from every configured PVE host and ``--source``; and a TLS handshake with the proxy
negotiates TLS 1.2 or newer. pve-latency: TCP connect time to each ``--pve-host``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from pathlib import Path

from ..errors import PbsAgentError
from .model import Check, DoctorEnv, Endpoint, Verdict
from .nftables import Packet, Ruleset

ID_PORT = "port-8007"
ID_LATENCY = "pve-latency"
_LISTEN = "0A"


def listening(procfs: Path, port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on *port*."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            lines = (procfs / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != _LISTEN:
                continue
            addr, _, hexport = fields[1].rpartition(":")
            if int(hexport, 16) == port:
                found.append(f"{name}:{addr}")
    return found


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(env: DoctorEnv) -> list[tuple[str, Address | None]]:
    """(label, address) of every configured source; names resolved with getaddrinfo
    (None: the name does not resolve)."""
    out: list[tuple[str, Address | None]] = []
    for label in [h.host for h in env.pve_hosts] + env.sources:
        try:
            out.append((label, ipaddress.ip_address(label)))
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(label, None, proto=socket.IPPROTO_TCP)
        except OSError:
            out.append((label, None))
            continue
        for info in {i[4][0] for i in infos}:
            out.append((f"{label} ({info})", ipaddress.ip_address(info)))
    return out


def firewall(env: DoctorEnv) -> tuple[Verdict, str]:
    """Evaluate the ruleset for each source: (verdict, evidence)."""
    sources = _addresses(env)
    if not sources:
        return Verdict.OK, "no sources configured (--pve-host/--source): firewall not evaluated"
    try:
        ruleset = Ruleset(env.host.run_tool(["nft", "-j", "list", "ruleset"]))
    except PbsAgentError as exc:
        return Verdict.WARN, f"firewall not evaluated: {exc}"
    verdict, parts = Verdict.OK, []
    for label, addr in sources:
        if addr is None:
            verdict = max(verdict, Verdict.WARN)
            parts.append(f"{label}: does not resolve")
            continue
        d = ruleset.decide(Packet(addr, env.proxy_port))
        word = "accepted" if d.accepted else "BLOCKED"
        note = f", not evaluated: {', '.join(d.uncertain)}" if d.uncertain else ""
        parts.append(f"{label} {word} by {d.reason}{note}")
        if not d.accepted:
            verdict = Verdict.FAIL
        elif d.uncertain:
            verdict = max(verdict, Verdict.WARN)
    return verdict, "; ".join(parts)


def tls_version(host: str, port: int, timeout: float = 3.0) -> str:
    """The protocol negotiated by a handshake (no certificate check: the proxy is self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw) as tls:
        return tls.version() or "unknown"


def check_port(env: DoctorEnv) -> Check:
    port = env.proxy_port
    where = listening(env.settings.procfs, port)
    if not where:
        return Check(ID_PORT, Verdict.FAIL, f"nothing listens on TCP port {port}",
                     "systemctl restart proxmox-backup-proxy; journalctl -u "
                     "proxmox-backup-proxy")
    fw_verdict, fw_evidence = firewall(env)
    ep = env.tls_endpoint or Endpoint("127.0.0.1", port)
    try:
        version = tls_version(ep.host, ep.port)
        tls_verdict = Verdict.OK if version in ("TLSv1.2", "TLSv1.3") else Verdict.WARN
        tls_evidence = f"TLS handshake with {ep}: {version}"
    except (OSError, ssl.SSLError) as exc:
        tls_verdict, tls_evidence = Verdict.FAIL, f"TLS handshake with {ep} failed: {exc}"
    verdict = max(fw_verdict, tls_verdict)
    evidence = f"listening ({len(where)} sockets); {fw_evidence}; {tls_evidence}"
    fix = ""
    if fw_verdict == Verdict.FAIL:
        fix = f"allow tcp dport {port} from the blocked sources in the nftables input chain " \
              f"(inventory: firewall rules), then nft -f /etc/nftables.conf"
    elif tls_verdict != Verdict.OK:
        fix = "check /etc/proxmox-backup/proxy.pem and proxy.key, then systemctl restart " \
              "proxmox-backup-proxy"
    elif fw_verdict == Verdict.WARN:
        fix = "give resolvable PVE host addresses, or review the rules not evaluated"
    return Check(ID_PORT, verdict, evidence, fix)


def connect_ms(ep: Endpoint, timeout: float = 2.0, tries: int = 3) -> float:
    """Best TCP connect time in ms over *tries*; OSError if it never connects."""
    best = None
    for _ in range(tries):
        t = time.perf_counter()
        with socket.create_connection((ep.host, ep.port), timeout=timeout):
            ms = (time.perf_counter() - t) * 1000
        best = ms if best is None else min(best, ms)
    assert best is not None
    return best


def check_latency(env: DoctorEnv) -> Check:
    if not env.pve_hosts:
        return Check(ID_LATENCY, Verdict.OK, "no PVE hosts configured (--pve-host HOST[:PORT])")
    verdict, parts, fix = Verdict.OK, [], ""
    for ep in env.pve_hosts:
        try:
            ms = connect_ms(ep)
        except OSError as exc:
            verdict = Verdict.FAIL
            parts.append(f"{ep}: unreachable ({exc.strerror or exc})")
            fix = fix or f"check routing and firewall between this host and {ep.host}"
            continue
        if ms > env.latency_warn_ms:
            verdict = max(verdict, Verdict.WARN)
            fix = fix or (f"backups over a {ms:.0f} ms link are slow; keep PBS near PVE "
                          f"or use a sync job to a remote PBS")
        parts.append(f"{ep}: {ms:.2f} ms")
    return Check(ID_LATENCY, verdict, f"TCP connect (warn > {env.latency_warn_ms:g} ms): "
                 + "; ".join(parts), fix)
