"""Audit: run the auditors' own tools on each host and put their scores in the hardening report.

``ssh-audit`` (against the host's sshd), ``testssl.sh`` (against the PBS API port 8007),
``lynis audit system``, OpenSCAP (``oscap xccdf eval`` with Debian's ``ssg-debian`` content)
and ``systemd-analyze security`` for the units the deploy installs. The tools run on the host
itself (over loopback for the network ones), so the audit needs nothing but the deploy's SSH.
They are Debian packages; with ``audit_install_tools`` the missing ones are installed first and
exactly those packages (with the dependencies they pulled in) are purged afterwards.

    pyinfra inventories/site.py deploys/harden.py --data hardening_audit=only \\
        --data audit_install_tools=True
"""

from __future__ import annotations

import itertools
import json
import shlex
import threading
from collections.abc import Generator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import files, server

from deploys import schema
from deploys.audit import tools
from deploys.connection import privileges
from deploys.conventions import PBS_PORT

AUDIT_MODES = ("off", "after", "only")
#: Units the deploy installs or configures (the PBS simulator's units are not ours).
UNITS = ("pbs-agent.service", "pbs-config-backup.service", "prometheus-node-exporter.service")
#: The packages this audit installed, so that exactly they are purged afterwards.
INSTALLED_LIST = "/var/lib/pbs-fleet/audit-installed-packages"
#: Where an SCAP datastream from the controller (``audit_ssg_datastream``) is put for the audit.
UPLOADED_DATASTREAM = "/var/tmp/pbs-fleet-audit-ds.xml"
_LOCK = threading.Lock()

KEYS = schema.register(__name__, {
    "hardening_audit": schema.Key(
        str, default="off", check=schema.one_of(*AUDIT_MODES),
        doc="Run the auditors' tools (ssh-audit, testssl.sh, lynis, OpenSCAP, systemd-analyze "
            "security) and add their scores to the hardening report: `after` the hardening "
            "steps, `only` (deploys/harden.py changes nothing else), or `off`."),
    "audit_install_tools": schema.Key(
        bool, default=False,
        doc="Install the audit tools that are missing (Debian packages " + ", ".join(
            tools.PACKAGES) + ") for the audit and purge exactly those afterwards. Without "
            "it, a missing tool is reported as not measured."),
    "audit_oscap_profile": schema.Key(
        str, default=tools.OSCAP_PROFILE,
        doc="XCCDF profile of Debian's ssg-debian content to evaluate."),
    "audit_ssg_datastream": schema.Key(
        (str, type(None)), default=None,
        doc="Controller path of an SCAP source datastream to evaluate instead of the host's "
            "ssg-debian content, e.g. `ssg-debian12-ds.xml` from Debian 13's ssg-debian 0.1.76 "
            "for Debian 12 hosts (Debian 12's ssg-debian 0.1.65 has Debian 10/11 content "
            "only). Uploaded for the audit, removed after."),
    "audit_tls_ca": schema.Key(
        (str, type(None)), default=None,
        doc="Host path of the CA certificate(s) testssl.sh checks 8007's chain against. "
            "Default: the proxy's own certificate, the one PBS clients pin by fingerprint."),
})


def install_command() -> StringCommand:
    """Install the missing audit packages; list what apt added in :data:`INSTALLED_LIST`."""
    script = ('list="$1"; shift; missing=""; for p in "$@"; do '
              'dpkg-query -W -f=\'${Status}\' "$p" 2>/dev/null | grep -q "ok installed" '
              '|| missing="$missing $p"; done; [ -n "$missing" ] || exit 0; '
              'before=$(mktemp); dpkg-query -W -f=\'${Package}\\n\' | sort > "$before"; '
              'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends '
              '$missing >/dev/null || { rm -f "$before"; exit 1; }; mkdir -p "${list%/*}"; '
              'dpkg-query -W -f=\'${Package}\\n\' | sort | comm -13 "$before" - >> "$list"; '
              'rm -f "$before"')
    return StringCommand("sh", "-c", shlex.quote(script), "audit-install",
                         INSTALLED_LIST, *tools.PACKAGES)


def remove_command() -> StringCommand:
    """Purge what :func:`install_command` added, and nothing else: first the audit tools it
    installed (refused if apt would remove any package it did not add), then those of the
    packages it added that nothing needs any more (``apt-get -s autoremove``). A package it
    added that another one now depends on (pulled in by an upgrade) stays, and is named."""
    script = (
        'list="$1"; shift; [ -s "$list" ] || { rm -f "$list"; exit 0; }; '
        'export DEBIAN_FRONTEND=noninteractive; mine() { grep -qxF -- "$1" "$list"; }; '
        'others() { awk \'/^(Purg|Remv) / {print $2}\' | while read -r p; do mine "$p" '
        '|| echo "$p"; done; }; '
        'tools=""; for p in "$@"; do mine "$p" && tools="$tools $p"; done; '
        'if [ -n "$tools" ]; then extra=$(apt-get -s purge $tools | others); '
        'if [ -n "$extra" ]; then echo "audit tools kept:$tools (purging them would also '
        'remove" $extra")" >&2; exit 1; fi; apt-get purge -y -q $tools >/dev/null || exit 1; '
        'fi; deps=$(apt-get -s autoremove | awk \'/^Remv / {print $2}\' | while read -r p; do '
        'mine "$p" && echo "$p"; done); [ -z "$deps" ] || apt-get purge -y -q $deps '
        '>/dev/null || exit 1; kept=$(sort -u "$list" | while read -r p; do dpkg-query -W '
        '-f=\'${Status}\' "$p" 2>/dev/null | grep -q "ok installed" && echo "$p"; done); '
        '[ -z "$kept" ] || echo "kept, now needed by other packages:" $kept; '
        'rm -f "$list"; rmdir "${list%/*}" 2>/dev/null; true')
    return StringCommand("sh", "-c", shlex.quote(script), "audit-remove", INSTALLED_LIST,
                         *tools.PACKAGES)


def audit_script(ssh_port: int, profile: str, tls_ca: str | None,
                 datastream: str | None = None) -> str:
    """One shell run on the host: each tool's output between ``==> name`` markers.
    *datastream* (a host path) replaces the host's ssg-debian content for its release."""
    ca = tls_ca or "/etc/proxmox-backup/proxy.pem"
    units = " ".join(UNITS)
    return "\n".join([
        'tmp=$(mktemp -d); trap \'rm -rf "$tmp"\' EXIT; have() { command -v "$1" >/dev/null; }',
        "echo \"==> versions $(date +%s)\"",
        "dpkg-query -W -f='${Package} ${Version}\\n' " + " ".join(tools.VERSIONED_PACKAGES)
        + " 2>/dev/null",
        "echo \"==> ssh-audit $(date +%s)\"",
        f"have ssh-audit && ssh-audit -n -p {ssh_port} 127.0.0.1 2>&1",
        "echo \"==> testssl $(date +%s)\"",
        f"have testssl && {{ if ss -ltn | grep -q ':{PBS_PORT} '; then testssl --quiet "
        f"--color 0 --warnings off --add-ca {shlex.quote(ca)} -p -s -f -S -U "
        f"127.0.0.1:{PBS_PORT} 2>&1; else echo 'nothing listens on {PBS_PORT}'; fi; }}",
        "echo \"==> lynis $(date +%s)\"",
        'have lynis && lynis audit system --quick --no-colors --report-file "$tmp/lynis.dat" '
        '--logfile "$tmp/lynis.log" >/dev/null 2>&1; cat "$tmp/lynis.dat" 2>/dev/null',
        "echo \"==> oscap $(date +%s)\"",
        '. /etc/os-release; ds=' + (shlex.quote(datastream) if datastream else
                                    tools.SSG_CONTENT.format(version="${VERSION_ID}")),
        'if ! have oscap; then :; elif [ -e "$ds" ]; then echo "content=$ds"; '
        f'oscap xccdf eval --profile {shlex.quote(profile)} "$ds" 2>/dev/null; '
        'else echo "content=none"; ls /usr/share/xml/scap/ssg/content/ 2>/dev/null '
        "| grep -o 'ssg-debian[0-9]*-ds.xml' | sed 's/^/available=/'; fi",
        "echo \"==> units $(date +%s)\"",
        f"for u in {units}; do systemctl cat \"$u\" >/dev/null 2>&1 || continue; "
        "systemd-analyze security --no-pager \"$u\" 2>/dev/null | tail -n 1; done",
        "echo \"==> have $(date +%s)\"",
        "for t in ssh-audit testssl lynis oscap; do have $t && echo $t; done",
        "exit 0",
    ])


def sections(lines: list[str]) -> dict[str, str]:
    """Split the script's output at its ``==> name [epoch]`` markers (pure)."""
    out: dict[str, list[str]] = {}
    name = ""
    for line in lines:
        if line.startswith("==> "):
            name = line[4:].split()[0]
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def durations(lines: list[str]) -> dict[str, int]:
    """Seconds each section of the script took, from its markers' timestamps (pure)."""
    marks = [line[4:].split() for line in lines if line.startswith("==> ")]
    stamps = [(m[0], int(m[1])) for m in marks if len(m) == 2 and m[1].isdigit()]
    return {name: later - start for (name, start), (_, later) in itertools.pairwise(stamps)}


def scores_from(parts: dict[str, str], profile: str) -> tools.Scores:
    """The :class:`~deploys.audit.tools.Scores` of one run of :func:`audit_script` (pure)."""
    have = set(parts.get("have", "").split())
    scores = tools.Scores(missing_tools=sorted({"ssh-audit", "testssl", "lynis", "oscap"}
                                               - have))
    for line in parts.get("versions", "").splitlines():
        name, _, version = line.partition(" ")
        if version:
            scores.versions[name] = version
    if "ssh-audit" in have:
        scores.ssh_audit = asdict(tools.parse_ssh_audit(parts.get("ssh-audit", "")))
    if "testssl" in have:
        scores.testssl = asdict(tools.parse_testssl(parts.get("testssl", "")))
    if "lynis" in have:
        scores.lynis = asdict(tools.parse_lynis_report(parts.get("lynis", "")))
    if "oscap" in have:
        text = parts.get("oscap", "")
        scap = tools.parse_oscap(text)
        scap.profile = profile
        content = [ln.partition("=")[2] for ln in text.splitlines()
                   if ln.startswith("content=")]
        scap.content = content[0] if content else ""
        if scap.content == "none":
            available = [ln.partition("=")[2] for ln in text.splitlines()
                         if ln.startswith("available=")]
            scap.unavailable = ("ssg-debian has no content for this Debian release (it has "
                                + (", ".join(available) or "none") + ")")
        scores.oscap = asdict(scap)
    for line in parts.get("units", "").splitlines():
        exposure = tools.parse_systemd_security(line)
        unit = line.split("Overall exposure level for ")[-1].split(":")[0]
        if exposure is not None:
            scores.units[unit] = exposure
    return scores


def table(name: str, scores: tools.Scores) -> str:
    """The audit's figures for the log."""
    s = scores.summary()
    lines = [f"Audit of {name} (tools on the host; versions in the JSON report):"]
    lines.append(f"  ssh-audit   {_n(s['ssh_audit_failures'])} failures, "
                 f"{_n(s['ssh_audit_warnings'])} warnings")
    lines.append(f"  testssl.sh  {_n(s['testssl_not_ok'])} NOT ok")
    lines.append(f"  lynis       hardening index {_n(s['lynis_index'])}, "
                 f"{_n(s['lynis_warnings'])} warnings")
    scap = scores.oscap or {}
    lines.append(f"  openscap    pass ratio {_n(s['oscap_pass_ratio'])} "
                 f"{scap.get('counts') or scap.get('unavailable') or ''}".rstrip())
    for unit, exposure in s["unit_exposure"].items():
        lines.append(f"  exposure    {unit} {exposure}")
    if scores.missing_tools:
        lines.append(f"  not measured (not installed): {', '.join(scores.missing_tools)}; "
                     "set audit_install_tools: True")
    return "\n".join(lines)


def _n(value: Any) -> str:
    return "not measured" if value is None else str(value)


def write_json(report_dir: str, name: str, scores: tools.Scores) -> Path:
    """Merge this host's audit into ``<report_dir>/hardening.json`` under ``audit``."""
    path = Path(report_dir) / "hardening.json"
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.exists() else {}
        entry = data.setdefault(name, {})
        entry["audit"] = {**scores.as_dict(), "summary": scores.summary()}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    return path


@operation()
def audit(ssh_port: int, profile: str, tls_ca: str | None, report_dir: str,
          datastream: str | None = None) -> Generator[str | PyinfraCommand, None, None]:
    """Run the audit tools on the host at execution time; scores into the report; no change.

    + ssh_port: the port sshd listens on
    + profile: the ssg-debian XCCDF profile id
    + tls_ca: CA file (on the host) for testssl.sh's chain check, None for proxy.pem
    + report_dir: controller directory of ``hardening.json``
    + datastream: host path of the SCAP datastream, None for the host's ssg-debian content

    **Example:**

    .. code:: python

        audit(name="Audit", ssh_port=22, profile=tools.OSCAP_PROFILE, tls_ca=None,
              report_dir="reports")
    """
    if not host.state.is_executing:
        host.noop("the audit runs after the other operations")
        return
    status, output = host.run_shell_command(
        StringCommand("sh", "-c", shlex.quote(audit_script(ssh_port, profile, tls_ca,
                                                           datastream))),
        print_output=False, **privileges(state, host))
    if not status:
        raise OperationError(f"audit could not run: {output.stderr[-400:]}")
    scores = scores_from(sections(output.stdout_lines), profile)
    scores.seconds = durations(output.stdout_lines)
    logger.info(table(host.name, scores))
    path = write_json(report_dir, host.name, scores)
    host.noop(f"audit written to {path}")
    yield from ()


@deploy("Audit")
def audit_step() -> None:
    """Install the tools if asked, run the audit, purge what was installed for it."""
    if schema.value(host, "hardening_audit") == "off":
        return
    install = schema.value(host, "audit_install_tools")
    if install:
        server.shell(name="Install the audit tools that are missing (listed for removal)",
                     commands=[install_command().get_raw_value()])
    datastream = schema.value(host, "audit_ssg_datastream")
    if datastream:
        files.put(name="SCAP datastream for the audit (removed after)", src=datastream,
                  dest=UPLOADED_DATASTREAM, mode="644")
    audit(name="Audit with ssh-audit, testssl.sh, lynis, OpenSCAP, systemd-analyze security",
          ssh_port=schema.value(host, "firewall_ssh_port"),
          profile=schema.value(host, "audit_oscap_profile"),
          tls_ca=schema.value(host, "audit_tls_ca"),
          report_dir=schema.value(host, "pbs_report_dir"),
          datastream=UPLOADED_DATASTREAM if datastream else None)
    if datastream:
        files.file(name="Remove the uploaded SCAP datastream", path=UPLOADED_DATASTREAM,
                   present=False)
    if install:
        server.shell(name="Purge the audit tools this audit installed",
                     commands=[remove_command().get_raw_value()])
