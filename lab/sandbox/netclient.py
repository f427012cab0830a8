"""The two client namespaces: one in the allowed network, one in the denied network."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

from lab.sandbox import network
from lab.sandbox.config import ALLOWED_NET, DENIED_NET


@dataclass(frozen=True)
class NetClient:
    """A network namespace on the bridge acting as a client from one source network."""

    name: str
    veth: str
    address: str
    network: str

    def exec(self, cmd: str, *, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sh -c cmd`` in this client's netns (this machine's filesystem and tools)."""
        return subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", cmd],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              check=False)

    def can_connect(self, address: str, port: int, timeout: float = 2.0) -> bool:
        """True when a TCP connection from this client to address:port is accepted."""
        return network.tcp_probe(self.name, address, port, timeout)


ALLOWED = NetClient("pf-cl-allow", "pfv-cla", str(ALLOWED_NET.network_address + 10),
                    str(ALLOWED_NET))
DENIED = NetClient("pf-cl-deny", "pfv-cld", str(DENIED_NET.network_address + 10),
                   str(DENIED_NET))
CLIENTS = (ALLOWED, DENIED)


def ensure_clients() -> None:
    """Create both client namespaces unless they already exist."""
    for client in CLIENTS:
        if not (network.netns_exists(client.name) and network.link_exists(client.veth)):
            network.add_endpoint(client.name, client.veth, ipaddress.IPv4Address(client.address))


def delete_clients() -> None:
    for client in CLIENTS:
        network.delete_endpoint(client.name, client.veth)
