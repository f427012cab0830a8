"""Would the nftables ruleset accept a new TCP connection from a source to a local port?

Evaluates ``nft -j list ruleset`` for one packet: every ``input`` hook base chain (families
inet/ip/ip6, in priority order) must accept it; a drop or reject anywhere ends it. The
match shapes our deploys write are understood (``iif``, ``ct state``, ``meta l4proto``,
``ip/ip6 saddr`` against addresses, prefixes, ranges, anonymous and named sets,
``tcp dport`` against ports, ranges and sets), as are ``jump``/``goto``/``return``.
A rule using anything else is *uncertain*: it is skipped and reported.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import FormatError

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_DEPTH = 16


@dataclass
class Decision:
    accepted: bool
    reason: str  # the rule or policy that decided
    uncertain: list[str] = field(default_factory=list)  # rules that could not be evaluated


@dataclass(frozen=True)
class Packet:
    src: Addr
    dport: int
    proto: str = "tcp"

    @property
    def family(self) -> str:
        return "ip" if self.src.version == 4 else "ip6"


class Ruleset:
    """The parsed JSON ruleset: base chains, chains by (family, table, name), named sets."""

    def __init__(self, text: str) -> None:
        try:
            items = json.loads(text)["nftables"]
        except (ValueError, KeyError, TypeError):
            raise FormatError("nft -j list ruleset", "not nftables JSON") from None
        self.chains: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rules: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.sets: dict[tuple[str, str, str], list[Any]] = {}
        for item in items:
            if "chain" in item:
                c = item["chain"]
                self.chains[(c["family"], c["table"], c["name"])] = c
            elif "rule" in item:
                r = item["rule"]
                self.rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r)
            elif "set" in item:
                s = item["set"]
                self.sets[(s["family"], s["table"], s["name"])] = s.get("elem", [])

    def input_chains(self, family: str) -> list[tuple[str, str, str]]:
        keys = [k for k, c in self.chains.items()
                if c.get("hook") == "input" and k[0] in ("inet", family)]
        return sorted(keys, key=lambda k: self.chains[k].get("prio", 0))

    def decide(self, packet: Packet) -> Decision:
        """Whether *packet* passes every input base chain."""
        uncertain: list[str] = []
        chains = self.input_chains(packet.family)
        for key in chains:
            verdict, why = self._chain(key, packet, uncertain, 0)
            if verdict is None:
                policy = self.chains[key].get("policy", "accept")
                verdict, why = policy, f"policy {policy} of {' '.join(key)}"
            if verdict != "accept":
                return Decision(False, why, uncertain)
        if not chains:
            return Decision(True, "no input chain (nothing filters)", uncertain)
        return Decision(True, why, uncertain)

    def _chain(self, key: tuple[str, str, str], packet: Packet, uncertain: list[str],
               depth: int) -> tuple[str | None, str]:
        """(verdict or None = fell through/returned, description)."""
        if depth > _MAX_DEPTH:
            return None, "jump depth exceeded"
        for rule in self.rules.get(key, []):
            where = f"{' '.join(key)} rule {rule.get('handle')}"
            if rule.get("comment"):
                where += f" ({rule['comment']})"
            matched = self._matches(rule, key, packet)
            if matched is None:
                uncertain.append(where)
                continue
            if not matched:
                continue
            verdict, target = _verdict(rule)
            if verdict in ("accept", "drop", "reject"):
                return verdict, where
            if verdict == "return":
                return None, where
            if verdict in ("jump", "goto") and target:
                sub = (key[0], key[1], target)
                v, why = self._chain(sub, packet, uncertain, depth + 1)
                if v is not None or verdict == "goto":
                    return v, why
        return None, ""

    def _matches(self, rule: dict[str, Any], key: tuple[str, str, str],
                 packet: Packet) -> bool | None:
        result: bool | None = True
        for expr in rule.get("expr", []):
            if "match" in expr:
                m = _match(expr["match"], packet, self, key)
                if m is False:
                    return False
                if m is None:
                    result = None
            elif not (set(expr) <= _STATEMENTS):
                result = None  # an expression we do not model (fib, lookup, limit…)
        return result

    def set_elements(self, key: tuple[str, str, str], name: str) -> list[Any] | None:
        return self.sets.get((key[0], key[1], name))


_VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return")
_STATEMENTS = frozenset(_VERDICTS) | {"counter", "log", "comment"}


def _verdict(rule: dict[str, Any]) -> tuple[str | None, str | None]:
    for expr in rule.get("expr", []):
        for v in _VERDICTS:
            if v in expr:
                target = expr[v].get("target") if isinstance(expr[v], dict) else None
                return v, target
    return None, None


def _field(left: dict[str, Any], packet: Packet) -> tuple[str, Any] | None:
    """(kind, value) of the packet for a match's left side; None if unknown."""
    if "payload" in left:
        p = left["payload"]
        proto, name = p.get("protocol"), p.get("field")
        if proto in ("ip", "ip6") and name == "saddr":
            return ("addr", packet.src) if proto == packet.family else ("absent", None)
        if proto in ("tcp", "th") and name == "dport":
            return ("port", packet.dport) if packet.proto == "tcp" else ("absent", None)
        if proto in ("ip", "ip6") and name in ("protocol", "nexthdr"):
            return ("word", packet.proto)
        return None
    if "meta" in left:
        k = left["meta"].get("key")
        if k in ("l4proto", "protocol"):
            return ("word", packet.proto) if k == "l4proto" else None
        if k == "nfproto":
            return ("word", "ipv4" if packet.src.version == 4 else "ipv6")
        if k in ("iif", "iifname"):
            return ("iface", None)
        return None
    if "ct" in left and left["ct"].get("key") == "state":
        return ("flags", "new")
    return None


def _match(m: dict[str, Any], packet: Packet, rs: Ruleset, key: tuple[str, str, str]
           ) -> bool | None:
    f = _field(m.get("left", {}), packet)
    if f is None:
        return None
    kind, value = f
    op = m.get("op", "==")
    if kind == "absent":
        return False  # e.g. "ip saddr" never matches an IPv6 packet
    if kind == "iface":
        right = m.get("right")
        if right == "lo":  # remote sources never arrive on loopback
            return bool(op == "!=")
        return None
    if op not in ("==", "!=", "in"):
        return None
    hit = _contains(m.get("right"), kind, value, rs, key)
    if hit is None:
        return None
    return hit if op != "!=" else not hit


def _contains(right: Any, kind: str, value: Any, rs: Ruleset, key: tuple[str, str, str]
              ) -> bool | None:
    if isinstance(right, list):  # ct state flags
        return any(_contains(r, kind, value, rs, key) for r in right)
    if isinstance(right, dict):
        if "set" in right:
            return _any([_contains(e, kind, value, rs, key) for e in right["set"]])
        if "prefix" in right and kind == "addr":
            net = _network(f"{right['prefix']['addr']}/{right['prefix']['len']}")
            return net is not None and value in net
        if "range" in right:
            lo, hi = (_scalar(x, kind) for x in right["range"])
            return None if lo is None or hi is None else _in_range(value, lo, hi)
        return None
    if isinstance(right, str) and right.startswith("@"):
        elems = rs.set_elements(key, right[1:])
        return None if elems is None else _any([_contains(e, kind, value, rs, key)
                                                for e in elems])
    if kind == "addr":
        net = _network(str(right))
        return None if net is None else value in net
    if kind == "port":
        return bool(_scalar(right, kind) == value)
    if kind in ("word", "flags"):
        return str(right) == value or (value == "tcp" and str(right) == "6")
    return None


def _any(results: list[bool | None]) -> bool | None:
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


def _in_range(value: Any, lo: Any, hi: Any) -> bool:
    try:
        return bool(lo <= value <= hi)
    except TypeError:  # IPv4 vs IPv6
        return False


def _scalar(x: Any, kind: str) -> Any:
    try:
        return ipaddress.ip_address(x) if kind == "addr" else int(x)
    except (ValueError, TypeError):
        return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
