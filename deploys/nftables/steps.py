"""nftables: our own table; refuses any ruleset that would cut the deploy's own SSH session."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files, systemd

from deploys import schema, templates
from deploys.conventions import PBS_PORT
from deploys.host_facts import SshConnection
from deploys.nftables.operations import nft_ruleset

TABLE = "pbs_fleet"
RULES_FILE = "/etc/nftables.d/pbs-fleet.nft"
NODE_EXPORTER_PORT = 9100


def _networks_ok(values: list[str]) -> str | None:
    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            return f"{v!r} is not an IP network (e.g. '10.0.0.0/24' or '2001:db8::/64')"
    return None


def _port_ok(v: int) -> str | None:
    return None if 1 <= v <= 65535 else "must be a TCP port (1-65535)"


def _extra_ok(rules: list[dict[str, Any]]) -> str | None:
    for rule in rules:
        if set(rule) != {"name", "protocol", "ports", "networks"}:
            return "each extra rule needs exactly: name, protocol, ports, networks"
        if rule["protocol"] not in ("tcp", "udp"):
            return f"rule {rule['name']!r}: protocol must be tcp or udp"
        if not rule["ports"] or not all(isinstance(p, int) and not _port_ok(p)
                                        for p in rule["ports"]):
            return f"rule {rule['name']!r}: ports must be a non-empty list of TCP/UDP ports"
        problem = _networks_ok(rule["networks"]) if isinstance(rule["networks"], list) else \
            "networks must be a list"
        if problem:
            return f"rule {rule['name']!r}: {problem}"
    return None


def _nets(doc: str, **kw: Any) -> schema.Key:
    return schema.Key(list, item=str, check=_networks_ok, doc=doc, **kw)


KEYS = schema.register(__name__, {
    "firewall_management_networks": _nets(
        "Networks allowed to SSH in. Required: the deploy refuses a ruleset that would not "
        "allow its own SSH connection."),
    "firewall_backup_networks": _nets("Networks of backup clients allowed to reach 8007.",
                                      default=[]),
    "firewall_pve_networks": _nets("Proxmox VE networks allowed to reach 8007.", default=[]),
    "firewall_prometheus_networks": _nets(
        "Prometheus servers allowed to scrape node_exporter (9100) and the agent.", default=[]),
    "firewall_ssh_port": schema.Key(int, default=22, check=_port_ok, doc="The sshd port."),
    "firewall_extra_rules": schema.Key(
        list, default=[], item=dict, check=_extra_ok,
        doc="More accept rules, each `{'name': str, 'protocol': 'tcp'|'udp', 'ports': [int], "
            "'networks': [str]}` — e.g. PVE's 8006 and corosync (UDP 5405-5412) when "
            "deploys/harden.py runs on PVE nodes."),
})


@dataclass(frozen=True)
class Rule:
    """Accept *protocol* (tcp/udp) *ports* from *networks*."""

    name: str
    ports: tuple[int, ...]
    networks: tuple[str, ...]
    protocol: str = "tcp"

    def by_family(self) -> list[tuple[str, list[str]]]:
        """[("ip", v4 nets), ("ip6", v6 nets)] without empty families."""
        nets = [ipaddress.ip_network(n, strict=False) for n in self.networks]
        out = []
        for family, version in (("ip", 4), ("ip6", 6)):
            chosen = sorted({str(n) for n in nets if n.version == version})
            if chosen:
                out.append((family, chosen))
        return out


def rules(data: dict[str, Any], agent_port: int) -> list[Rule]:
    """The accept rules of our table, from inventory data (pure)."""
    out = [Rule("ssh", (data["firewall_ssh_port"],), tuple(data["firewall_management_networks"])),
           Rule("pbs-api", (PBS_PORT,), tuple(data["firewall_backup_networks"]
                                              + data["firewall_pve_networks"])),
           Rule("metrics", (NODE_EXPORTER_PORT, agent_port),
                tuple(data["firewall_prometheus_networks"]))]
    out += [Rule(r["name"], tuple(r["ports"]), tuple(r["networks"]), r["protocol"])
            for r in data.get("firewall_extra_rules", [])]
    return [r for r in out if r.networks]


def allows(ruleset: list[Rule], address: str, port: int, protocol: str = "tcp") -> bool:
    """Would a new *protocol* connection from *address* to *port* be accepted?"""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return True
    return any(r.protocol == protocol and port in r.ports
               and any(ip in ipaddress.ip_network(n, strict=False) for n in r.networks)
               for r in ruleset)


def render(ruleset: list[Rule]) -> tuple[str, str]:
    """(file content, table comment); the comment carries the hash of the rules."""
    body = templates.render("nftables/pbs-fleet.nft.j2", table=TABLE, rules=ruleset,
                            comment="@COMMENT@")
    comment = "pbs-fleet sha256:" + hashlib.sha256(body.encode()).hexdigest()[:16]
    return body.replace("@COMMENT@", comment), comment


def guard_own_session(ruleset: list[Rule], session: dict[str, Any]) -> None:
    """Raise DeployError if *ruleset* would not accept the SSH session the deploy runs over."""
    if not session:
        return
    if not allows(ruleset, session["client"], session["port"]):
        raise DeployError(
            f"{host.name}: nftables refused: the ruleset would drop this deploy's own SSH "
            f"connection from {session['client']} to port {session['port']}; add that address "
            "to firewall_management_networks (and set firewall_ssh_port)")


@deploy("nftables")
def nftables_step(agent_port: int) -> None:
    """Validate, refuse-if-lockout, write, check with nft -c, load, persist."""
    data = {k: schema.value(host, k) for k in KEYS}
    ruleset = rules(data, agent_port)
    guard_own_session(ruleset, host.get_fact(SshConnection, _sudo=False))
    content, comment = render(ruleset)
    files.put(name="nftables.conf includes /etc/nftables.d", dest="/etc/nftables.conf",
              src=templates.render_io("nftables/nftables.conf.j2"), mode="755")
    nft_ruleset(name=f"nftables table inet {TABLE} (checked with nft -c, then loaded)",
                path=RULES_FILE, content=content, family="inet", table=TABLE, comment=comment)
    systemd.service(name="nftables.service enabled (persists the ruleset)",
                    service="nftables.service", enabled=True)
