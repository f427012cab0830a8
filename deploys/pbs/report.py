"""Hardening report: per host, each control and its state, as a table in pyinfra's output and
as one JSON file for the whole fleet on the controller (``<pbs_report_dir>/hardening.json``).

The report is gathered when the operation EXECUTES (after every other operation of the run),
so the TLS probe sees the proxy as the deploy left it. It yields no command: a converged run
still reports 0 changes.

    >>> hardening_report(policy="tls13")
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.api.command import PyinfraCommand

from deploys import schema
from deploys.connection import privileges
from deploys.conventions import PBS_PORT
from deploys.host_facts import HostSurvey
from deploys.nftables.steps import TABLE as nftables_table
from deploys.pbs import tls
from deploys.pbs.facts import DatastorePaths, PbsCertFingerprint, PbsList

_LOCK = threading.Lock()
SAFE_ROOT_LOGIN = ("no", "prohibit-password", "without-password", "forced-commands-only")
#: One shell run gathers what facts do not already give.
_SCRIPT = (
    "echo sshd_root=$(sshd -T 2>/dev/null | awk '$1==\"permitrootlogin\" {print $2}'); "
    "echo uu_pkg=$(dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null "
    "| grep -c 'install ok installed'); "
    "echo uu_on=$(apt-config dump 2>/dev/null | grep -c 'APT::Periodic::Unattended-Upgrade "
    "\"1\"'); "
    f"nft list table inet {nftables_table} 2>/dev/null | sed 's/^/nft=/'; "
)


def parse_firewall(lines: list[str]) -> dict[str, Any]:
    """Input policy and allowed sources for 8007 and SSH from ``nft list table`` text."""
    text = "\n".join(lines)
    policy = None
    match = re.search(r"chain input \{[^}]*?policy (\w+);", text, re.S)
    if match:
        policy = match.group(1)

    def sources(port: str) -> list[str]:
        found: list[str] = []
        for line in lines:
            if re.search(rf"dport (\{{[^}}]*\b{port}\b[^}}]*\}}|{port}\b)", line):
                for group in re.findall(r"saddr (\{[^}]*\}|\S+)", line):
                    found += [s.strip() for s in group.strip("{}").split(",") if s.strip()]
                if "saddr" not in line and "accept" in line:
                    found.append("any")
        return sorted(set(found))

    return {"input_policy": policy, "pbs_8007_from": sources(str(PBS_PORT)),
            "ssh_from": sources("22")}


def token_roles(acl: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{token id: ["Role@/path", …]}`` for every token that holds an ACL entry."""
    out: dict[str, list[str]] = {}
    for entry in acl:
        if "!" in entry.get("ugid", ""):
            out.setdefault(entry["ugid"], []).append(f"{entry['roleid']}@{entry['path']}")
    return {k: sorted(v) for k, v in sorted(out.items())}


def controls(policy: str, seen: dict[str, Any], extra: dict[str, Any], survey: dict[str, Any],
             roles: dict[str, list[str]], owners: dict[str, Any],
             fingerprint: str | None = None) -> list[dict[str, Any]]:
    """The list of {control, state, ok} rows (ok None = informational)."""
    fw = extra["firewall"]
    root = extra.get("sshd_root") or "unknown"
    wide = [s for s in fw["pbs_8007_from"] if s in ("any", "0.0.0.0/0", "::/0")]
    owners_text = ", ".join(f"{p}={o.get('owner')}" for p, o in sorted(owners.items())) or "-"
    tls_row = ({"control": "TLS on 8007", "ok": tls.satisfies(policy, seen),
                "state": f"{seen['policy_seen']} (policy {policy}; negotiated "
                         f"{seen.get('protocol') or '-'} {seen.get('cipher') or ''})".strip()}
               if fingerprint else
               {"control": "TLS on 8007", "ok": None, "state": "no PBS on this host"})
    return [
        tls_row,
        {"control": "Proxy certificate (sha256)", "ok": None, "state": fingerprint or "none"},
        {"control": "Firewall input default", "ok": fw["input_policy"] == "drop",
         "state": fw["input_policy"] or "no pbs_fleet table"},
        {"control": "8007 allowed from", "ok": bool(fw["pbs_8007_from"]) and not wide,
         "state": ", ".join(fw["pbs_8007_from"]) or "-"},
        {"control": "SSH allowed from", "ok": None, "state": ", ".join(fw["ssh_from"]) or "-"},
        {"control": "API tokens and roles",
         "ok": not any(r.startswith("Admin@") for rs in roles.values() for r in rs),
         "state": "; ".join(f"{t}: {', '.join(rs)}" for t, rs in roles.items()) or "-"},
        {"control": "SSH root login", "ok": root in SAFE_ROOT_LOGIN, "state": root},
        {"control": "Unattended security updates",
         "ok": extra.get("uu_pkg") == "1" and extra.get("uu_on") not in (None, "0"),
         "state": ("installed" if extra.get("uu_pkg") == "1" else "not installed")
         + (", enabled" if extra.get("uu_on") not in (None, "0") else ", not enabled")},
        {"control": "Datastore ownership",
         "ok": all(o.get("owner") == "backup:backup" for o in owners.values()),
         "state": owners_text},
        {"control": "ECC memory (EDAC)", "ok": bool(survey.get("edac")),
         "state": "present" if survey.get("edac") else "absent"},
        {"control": "AES-NI", "ok": bool(survey.get("aes_ni")),
         "state": "present" if survey.get("aes_ni") else "absent"},
    ]


def table(name: str, rows: list[dict[str, Any]]) -> str:
    """Plain-text table for the log."""
    width = max(len(r["control"]) for r in rows)
    mark = {True: "ok  ", False: "FAIL", None: "info"}
    lines = [f"Hardening report for {name}:"]
    lines += [f"  {mark[r['ok']]}  {r['control']:<{width}}  {r['state']}" for r in rows]
    return "\n".join(lines)


def write_json(report_dir: str, name: str, rows: list[dict[str, Any]],
               seen: dict[str, Any]) -> Path:
    """Merge this host's rows into ``<report_dir>/hardening.json``."""
    path = Path(report_dir) / "hardening.json"
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault(name, {}).update({"controls": rows, "tls_probe": seen})  # keep "audit"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    return path


def _run(command: str) -> list[str]:
    status, output = host.run_shell_command(StringCommand(command), print_output=False,
                                            **privileges(state, host))
    return output.stdout_lines if status else []


def gather(policy: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Probe and read the host now; returns (rows, TLS probe)."""
    seen = tls.parse_probe(_run(tls.probe_command()))
    extra: dict[str, Any] = {}
    nft: list[str] = []
    for line in _run(_SCRIPT):
        key, _, val = line.partition("=")
        if key == "nft":
            nft.append(val)
        else:
            extra[key] = val.strip()
    extra["firewall"] = parse_firewall(nft)
    paths = [d["path"] for d in host.get_fact(PbsList, kind="datastore") if "path" in d]
    owners = host.get_fact(DatastorePaths, paths=paths) if paths else {}
    roles = token_roles(host.get_fact(PbsList, kind="acl"))
    rows = controls(policy, seen, extra, host.get_fact(HostSurvey), roles, owners,
                    host.get_fact(PbsCertFingerprint))
    return rows, seen


@operation()
def report(policy: str, report_dir: str) -> Generator[str | PyinfraCommand, None, None]:
    """Gather, print and save the hardening report at execution time; never a change.

    + policy: the TLS policy the proxy should satisfy (``tls13``, ``modern``, ``default``)
    + report_dir: controller directory for the per-host and fleet JSON

    **Example:**

    .. code:: python

        report(name="Hardening report", policy="tls13", report_dir="reports")
    """
    if not host.state.is_executing:
        host.noop("hardening report is gathered after the other operations")
        return
    rows, seen = gather(policy)
    logger.info(table(host.name, rows))
    path = write_json(report_dir, host.name, rows, seen)
    host.noop(f"hardening report written to {path}")
    yield from ()


@deploy("Hardening report")
def hardening_report(policy: str | None = None) -> None:
    """The report for the current host (TLS policy from inventory unless given)."""
    report(name="Hardening report (table + JSON on the controller)",
           policy=policy or schema.value(host, "pbs_tls_policy"),
           report_dir=schema.value(host, "pbs_report_dir"))
