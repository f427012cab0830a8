"""The sandbox network: bridge ``pf-br0`` on this machine, one netns + veth per host/client.

Layout (all on one L2 bridge, so no routing, no NAT and no ip_forward change on this machine)::

    this machine  pf-br0 10.231.0.1/16
    host i        netns pf-h<i>      eth0 10.231.0.(10+i)/16   (veth pfv-h<i> on the bridge)
    allowed       netns pf-cl-allow  eth0 10.231.1.10/16       (network 10.231.1.0/24)
    denied        netns pf-cl-deny   eth0 10.231.2.10/16       (network 10.231.2.0/24)

Filtering by source prefix on a target therefore separates the two clients.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from lab.sandbox.config import BRIDGE, BRIDGE_ADDRESS, LAN, PREFIX, HarnessError
from lab.sandbox.pidfile import kill
from lab.sandbox.proc import ok, run

NETNS_DIR = Path("/run/netns")


def _require_ours(name: str) -> None:
    if not name.startswith(PREFIX) and not name.startswith("pfv-"):
        raise HarnessError(f"refusing to touch {name!r}: not a pf- name")


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ensure_bridge() -> None:
    """Create pf-br0 with this machine's address on it (idempotent)."""
    if not link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0"])
    cidr = f"{BRIDGE_ADDRESS}/{LAN.prefixlen}"
    if cidr not in run(["ip", "-o", "addr", "show", "dev", BRIDGE]).stdout:
        run(["ip", "addr", "add", cidr, "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def add_endpoint(netns: str, veth: str, address: ipaddress.IPv4Address) -> None:
    """A netns whose eth0 (one end of veth *veth*) sits on the bridge with *address*."""
    _require_ours(netns)
    _require_ours(veth)
    if len(veth) > 15:
        raise HarnessError(f"interface name {veth!r} longer than 15 characters")
    delete_endpoint(netns, veth)
    run(["ip", "netns", "add", netns])
    # A MAC derived from the address keeps this machine's ARP entry valid when a host is
    # recreated with the same address (a stale entry stalls SSH for up to half a minute).
    mac = "02:70:66:" + ":".join(f"{octet:02x}" for octet in address.packed[1:])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac,
         "netns", netns])
    run(["ip", "neigh", "flush", "to", str(address), "dev", BRIDGE], check=False)
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    run(["ip", "-n", netns, "addr", "add", f"{address}/{LAN.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])


def netns_pids(netns: str) -> list[int]:
    """Processes living in *netns* (empty when it does not exist)."""
    if not netns_exists(netns):
        return []
    out = run(["ip", "netns", "pids", netns], check=False).stdout
    return [int(pid) for pid in out.split()]


def delete_endpoint(netns: str, veth: str) -> None:
    """Kill what runs in *netns*, delete it and the veth (idempotent)."""
    _require_ours(netns)
    _require_ours(veth)
    for pid in netns_pids(netns):
        kill(pid)
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])
    # Deleting the netns destroys the veth pair asynchronously; only a survivor is deleted.
    failed = link_exists(veth) and run(["ip", "link", "del", veth], check=False).returncode
    if failed and link_exists(veth):
        raise HarnessError(f"could not delete link {veth}")


OUR_NETNS = re.compile(r"pf-(h[0-9]+|cl-allow|cl-deny)\Z")
OUR_LINKS = re.compile(r"(pf-br0|pfv-h[0-9]+|pfv-cla|pfv-cld)\Z")


def our_netns() -> list[str]:
    """The network namespaces the harness creates that exist now (exact name patterns)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if OUR_NETNS.match(p.name))


def our_links() -> list[str]:
    """The harness's links in this machine's namespace (bridge and veth ends)."""
    return sorted(n for n in os.listdir("/sys/class/net") if OUR_LINKS.match(n))


def delete_stray() -> None:
    """Delete every harness netns and veth still present (after all hosts are gone)."""
    for name in our_netns():
        for pid in netns_pids(name):
            kill(pid)
        run(["ip", "netns", "del", name])
    for link in our_links():
        if link != BRIDGE and link_exists(link):
            run(["ip", "link", "del", link], check=False)


def delete_bridge() -> None:
    if link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE])


def tcp_probe(netns: str | None, address: str, port: int, timeout: float = 2.0) -> bool:
    """True when a TCP connect to address:port succeeds from *netns* (None: this machine)."""
    code = ("import socket,sys\n"
            "s=socket.socket(); s.settimeout(float(sys.argv[3]))\n"
            "sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))\n")
    argv = ["python3", "-c", code, address, str(port), str(timeout)]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    return ok(argv, timeout=timeout + 10)
