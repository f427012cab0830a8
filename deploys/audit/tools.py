"""The auditors' own tools: how each is run on a host, how its output is read, the scores.

Pure functions only (no pyinfra): :mod:`deploys.audit.steps` runs the commands, the sandbox
tests run the same parsers on output they collect from other network namespaces.

    >>> parse_systemd_security("→ Overall exposure level for pbs-agent.service: 1.9 OK :-)")
    1.9
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: Debian packages the audit installs on a host when asked (``audit_install_tools``).
PACKAGES = ("ssh-audit", "testssl.sh", "lynis", "openscap-scanner", "ssg-debian")
#: Version lines recorded with every audit: the tools and what they judge.
VERSIONED_PACKAGES = (*PACKAGES, "openssh-server", "openssl", "systemd")
#: The ssg-debian profile used unless the inventory names another: "Standard System Security
#: Profile for Debian" (the general-purpose server baseline ssg-debian publishes).
OSCAP_PROFILE = "xccdf_org.ssgproject.content_profile_standard"
SSG_CONTENT = "/usr/share/xml/scap/ssg/content/ssg-debian{version}-ds.xml"

#: ssh-audit notes that the tool's own later releases withdrew, or that concern a marker an
#: older release predates. Keyed by (algorithm, note); the value says why it is not a finding.
#: Only these exact pairs are set aside; every other warning counts.
STALE_SSH_AUDIT_NOTES: dict[tuple[str, str], str] = {
    ("kex-strict-s-v00@openssh.com", "unknown algorithm"):
        "OpenSSH's strict key exchange marker (the CVE-2023-48795 'Terrapin' countermeasure, "
        "in Debian 12's openssh 1:9.2p1-2+deb12u2 and later); ssh-audit 2.5.0 predates it. "
        "It is not an algorithm and cannot be switched off",
    ("mlkem768x25519-sha256", "unknown algorithm"):
        "the ML-KEM-768/X25519 hybrid key exchange (OpenSSH 9.9 and later, Debian 13's "
        "default) is newer than ssh-audit 2.5.0; Debian 13's ssh-audit 3.3.0 knows it and "
        "reports nothing",
    ("sntrup761x25519-sha512@openssh.com", "using experimental algorithm"):
        "ssh-audit removed this tag itself in the release after 2.5.0 ('Removed experimental "
        "warning tag from sntrup761x25519-sha512@openssh.com'); it is OpenSSH 9.0-9.8's "
        "default post-quantum hybrid key exchange",
}

_OSCAP_RESULT = re.compile(r"^Rule\s+(\S+)\s+^Result\s+(\w+)", re.M)
_ALGO = re.compile(r"^\((kex|key|enc|mac|cve|sec)\)\s+(\S+)")
_NOTE = re.compile(r"\[(fail|warn)\]\s+(.+?)\s*$")


@dataclass
class SshAudit:
    """ssh-audit's verdict: every [fail] and [warn] note as ``"algorithm: note"``."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)  # STALE_SSH_AUDIT_NOTES that matched
    banner: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.warnings


def parse_ssh_audit(text: str) -> SshAudit:
    """Read ``ssh-audit -n HOST`` text (2.x and 3.x layouts) (pure)."""
    out = SshAudit()
    current = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("(gen) banner:"):
            out.banner = line.partition(":")[2].strip()
        match = _ALGO.match(line)
        if match:
            current = match.group(2)
        elif line.startswith("(") or not line.strip():
            current = None  # (gen), (rec), (fin), (nfo) lines or a blank: not a finding
        if current is None:
            continue
        note = _NOTE.search(line)
        if not note:
            continue
        level, reason = note.groups()
        entry = f"{current}: {reason}"
        if (current, reason) in STALE_SSH_AUDIT_NOTES:
            out.set_aside.append(entry)
        elif level == "fail":
            out.failures.append(entry)
        else:
            out.warnings.append(entry)
    return out


@dataclass
class Testssl:
    """testssl.sh's verdict: the lines it marks "NOT ok", and the protocols it saw offered."""

    not_ok: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.not_ok


_PROTOCOL = re.compile(r"^\s*(SSLv2|SSLv3|TLS 1(?:\.[123])?)\s+(.*)$")


def parse_testssl(text: str) -> Testssl:
    """Read ``testssl --color 0`` text: every "NOT ok" line with its check's name (pure)."""
    out = Testssl()
    label = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        head = re.match(r"^ (\S.*?)\s{2,}", line)
        if head:
            label = head.group(1).strip()
        proto = _PROTOCOL.match(line)
        if proto and proto.group(2).startswith("offered"):
            out.offered.append(proto.group(1))
        if "NOT ok" in line:
            finding = line[head.end():] if head else line
            out.not_ok.append(f"{label}: {finding.strip()}")
    return out


@dataclass
class Lynis:
    """``lynis audit system``: the hardening index, warnings and suggestions (test id: text)."""

    index: int | None = None
    warnings: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


def parse_lynis_report(text: str) -> Lynis:
    """Read Lynis' report file (``--report-file``: ``key=value`` lines) (pure)."""
    out = Lynis()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index" and value.strip().isdigit():
            out.index = int(value)
        elif key in ("warning[]", "suggestion[]"):
            test, _, rest = value.partition("|")
            text_, _, detail = rest.partition("|")
            detail = detail.split("|")[0]
            item = f"{test}: {text_}" + (f" ({detail})" if detail not in ("", "-") else "")
            (out.warnings if key == "warning[]" else out.suggestions).append(item)
    return out


@dataclass
class Oscap:
    """``oscap xccdf eval`` of one profile: results by kind, failed rule ids."""

    profile: str = ""
    content: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    unavailable: str | None = None  # why nothing was evaluated


def parse_oscap(text: str) -> Oscap:
    """Read ``oscap xccdf eval`` stdout: per rule a ``Rule`` and a ``Result`` line (oscap
    writes ``Result\r\tpass``: the value may follow a carriage return or a line break) (pure)."""
    out = Oscap()
    for rule, result in _OSCAP_RESULT.findall(text):
        out.counts[result] = out.counts.get(result, 0) + 1
        if result == "fail":
            out.failed.append(rule.removeprefix("xccdf_org.ssgproject.content_rule_"))
    return out


_EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?)")


def parse_systemd_security(text: str) -> float | None:
    """The overall exposure of ``systemd-analyze security UNIT`` (0 best, 10 worst) (pure)."""
    match = _EXPOSURE.search(text)
    return float(match.group(2)) if match else None


@dataclass
class Scores:
    """One host's audit: what the report carries and the regression gate compares."""

    ssh_audit: dict[str, Any] | None = None
    testssl: dict[str, Any] | None = None
    lynis: dict[str, Any] | None = None
    oscap: dict[str, Any] | None = None
    units: dict[str, float | None] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    missing_tools: list[str] = field(default_factory=list)
    seconds: dict[str, int] = field(default_factory=dict)  # how long each tool ran

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The per-host figures: verdicts, index, ratio, exposures (None = not measured)."""
        return summary(self.as_dict())


def summary(scores: dict[str, Any]) -> dict[str, Any]:
    """Figures of a :class:`Scores` dict (pure; also used on a baseline file's entries)."""
    ssh, tls, lyn, scap = (scores.get(k) for k in ("ssh_audit", "testssl", "lynis", "oscap"))
    return {
        "ssh_audit_failures": len(ssh["failures"]) if ssh else None,
        "ssh_audit_warnings": len(ssh["warnings"]) if ssh else None,
        "testssl_not_ok": len(tls["not_ok"]) if tls else None,
        "lynis_index": lyn["index"] if lyn else None,
        "lynis_warnings": len(lyn["warnings"]) if lyn else None,
        "oscap_pass_ratio": _ratio(scap) if scap else None,
        "unit_exposure": dict(scores.get("units") or {}),
    }


def _ratio(scap: dict[str, Any]) -> float | None:
    """OpenSCAP pass / (pass + fail); None when no rule was applicable."""
    counts = scap.get("counts") or {}
    passed, failed = counts.get("pass", 0), counts.get("fail", 0)
    return round(passed / (passed + failed), 4) if passed + failed else None


#: How each figure may move: "max" figures must not rise, "min" figures must not fall.
GATE = {"ssh_audit_failures": "max", "ssh_audit_warnings": "max", "testssl_not_ok": "max",
        "lynis_index": "min", "lynis_warnings": "max", "oscap_pass_ratio": "min"}


def regressions(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Each figure of *current* (a :func:`summary`) worse than *baseline*'s, as a sentence
    (pure). A figure the baseline has but the current audit lacks is a regression too."""
    found = []
    for name, direction in GATE.items():
        want, got = baseline.get(name), current.get(name)
        if want is None:
            continue
        if got is None:
            found.append(f"{name}: not measured (baseline {want})")
        elif (direction == "max" and got > want) or (direction == "min" and got < want):
            found.append(f"{name}: {got} (baseline {want})")
    for unit, want in (baseline.get("unit_exposure") or {}).items():
        got = (current.get("unit_exposure") or {}).get(unit)
        if want is None:
            continue
        if got is None:
            found.append(f"{unit} exposure: not measured (baseline {want})")
        elif got > want:
            found.append(f"{unit} exposure: {got} (baseline {want})")
    return found
