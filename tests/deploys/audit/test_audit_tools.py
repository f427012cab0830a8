"""The audit tools' outputs as recorded on a Debian 12 sandbox host (fixtures/), read back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploys.audit import steps, tools
from deploys.node import harden
from tests.deploys import fakehost

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_ssh_audit_before_hardening():
    got = tools.parse_ssh_audit(read("ssh-audit-2.5.0-debian12-before.txt"))
    assert got.banner == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
    assert got.failures == [f"ecdh-sha2-nistp{n}: using weak elliptic curves"
                            for n in (256, 384, 521)]
    assert "hmac-sha1: using weak hashing algorithm" in got.warnings
    assert "umac-64@openssh.com: using small 64-bit tag size" in got.warnings
    assert len(got.warnings) == 10 and not got.ok
    # Exactly the two notes ssh-audit 2.5.0 gets wrong are set aside, nothing else.
    assert got.set_aside == ["sntrup761x25519-sha512@openssh.com: using experimental algorithm",
                             "kex-strict-s-v00@openssh.com: unknown algorithm"]
    # The recommendations section names algorithms too, but is not a finding.
    assert not [w for w in got.warnings if "to remove" in w or "to append" in w]


def test_ssh_audit_2_5_on_debian_13_sets_aside_only_the_unknown_ml_kem():
    text = ("(kex) mlkem768x25519-sha256  -- [warn] unknown algorithm\n"
            "(kex) mlkem1024nistp384-sha384 -- [warn] unknown algorithm\n")
    got = tools.parse_ssh_audit(text)
    assert got.set_aside == ["mlkem768x25519-sha256: unknown algorithm"]
    assert got.warnings == ["mlkem1024nistp384-sha384: unknown algorithm"]


def test_ssh_audit_3x_layout_and_clean_server():
    text = ("(gen) banner: SSH-2.0-OpenSSH_10.0p2 Debian-7\n"
            "(kex) mlkem768x25519-sha256  -- [info] available since OpenSSH 9.9\n"
            "(kex) curve25519-sha256      -- [warn] does not provide protection against "
            "post-quantum attacks\n"
            "                             └─ [info] available since OpenSSH 7.4\n"
            "(mac) hmac-sha2-256-etm@openssh.com -- [info] available since OpenSSH 6.2\n")
    got = tools.parse_ssh_audit(text)
    assert got.warnings == ["curve25519-sha256: does not provide protection against "
                            "post-quantum attacks"]
    assert tools.parse_ssh_audit(text.replace("[warn]", "[info]")).ok


def test_testssl_not_ok_lines_named_by_their_check():
    got = tools.parse_testssl(read("testssl-3.0.8-selfsigned.txt"))
    assert got.offered == ["TLS 1.3"]
    assert got.not_ok == ["Chain of trust: NOT ok (self signed)",
                          "OCSP URI: NOT ok -- neither CRL nor OCSP URI provided"]
    assert not got.ok


def test_lynis_report():
    got = tools.parse_lynis_report(read("lynis-3.0.8-report-before.dat"))
    assert got.index == 61
    assert got.warnings == ["PKGS-7392: Found one or more vulnerable packages."]
    assert "SSH-7408: Consider hardening SSH configuration (AllowTcpForwarding (set YES to NO))" \
        in got.suggestions
    assert tools.parse_lynis_report("").index is None


def test_oscap_counts_and_ratio():
    got = tools.parse_oscap(read("oscap-1.3.7-debian11-content-on-debian12.txt"))
    assert got.counts == {"notapplicable": 44} and got.failed == []
    assert tools.summary({"oscap": {"counts": got.counts}})["oscap_pass_ratio"] is None
    mixed = tools.parse_oscap("Rule\txccdf_org.ssgproject.content_rule_a\nResult\tpass\n"
                              "Rule\txccdf_org.ssgproject.content_rule_b\nResult\tfail\n"
                              "Rule\tc\nResult\tpass\nRule\td\nResult\tnotapplicable\n")
    assert mixed.failed == ["b"]
    assert tools.summary({"oscap": {"counts": mixed.counts}})["oscap_pass_ratio"] == 0.6667


@pytest.mark.parametrize(("line", "exposure"), [
    ("→ Overall exposure level for pbs-agent.service: 3.7 OK :-)", 3.7),
    ("→ Overall exposure level for x.service: 10.0 UNSAFE :-{", 10.0),
    ("Unit y.service not found.", None)])
def test_systemd_security(line, exposure):
    assert tools.parse_systemd_security(line) == exposure


BASE = {"ssh_audit_failures": 0, "ssh_audit_warnings": 0, "testssl_not_ok": 0,
        "lynis_index": 80, "lynis_warnings": 1, "oscap_pass_ratio": 0.9,
        "unit_exposure": {"pbs-agent.service": 1.9}}


def test_gate_passes_equal_and_better():
    assert tools.regressions(BASE, BASE) == []
    better = {**BASE, "lynis_index": 85, "lynis_warnings": 0,
              "unit_exposure": {"pbs-agent.service": 1.2}}
    assert tools.regressions(BASE, better) == []


def test_gate_names_each_drop():
    worse = {**BASE, "ssh_audit_warnings": 1, "lynis_index": 79, "oscap_pass_ratio": None,
             "unit_exposure": {"pbs-agent.service": 2.1}}
    assert tools.regressions(BASE, worse) == [
        "ssh_audit_warnings: 1 (baseline 0)", "lynis_index: 79 (baseline 80)",
        "oscap_pass_ratio: not measured (baseline 0.9)",
        "pbs-agent.service exposure: 2.1 (baseline 1.9)"]


def test_scores_from_sections_of_one_run():
    output = ["==> versions", "ssh-audit 2.5.0-1", "lynis 3.0.8-1.1",
              "==> ssh-audit", *read("ssh-audit-2.5.0-debian12-before.txt").splitlines(),
              "==> testssl", *read("testssl-3.0.8-selfsigned.txt").splitlines(),
              "==> lynis", *read("lynis-3.0.8-report-before.dat").splitlines(),
              "==> oscap", "content=none", "available=ssg-debian10-ds.xml",
              "available=ssg-debian11-ds.xml",
              "==> units", "→ Overall exposure level for pbs-agent.service: 3.7 OK :-)",
              "==> have", "ssh-audit", "testssl", "lynis", "oscap"]
    scores = steps.scores_from(steps.sections(output), tools.OSCAP_PROFILE)
    summary = scores.summary()
    assert summary["ssh_audit_failures"] == 3 and summary["testssl_not_ok"] == 2
    assert summary["lynis_index"] == 61 and summary["oscap_pass_ratio"] is None
    assert scores.oscap and "ssg-debian10-ds.xml, ssg-debian11-ds.xml" in \
        scores.oscap["unavailable"]
    assert summary["unit_exposure"] == {"pbs-agent.service": 3.7}
    assert scores.versions == {"ssh-audit": "2.5.0-1", "lynis": "3.0.8-1.1"}
    assert scores.missing_tools == []
    none = steps.scores_from(steps.sections(["==> have"]), tools.OSCAP_PROFILE)
    assert none.missing_tools == ["lynis", "oscap", "ssh-audit", "testssl"]
    assert none.summary()["lynis_index"] is None


def test_audit_script_is_valid_sh():
    script = steps.audit_script(22, tools.OSCAP_PROFILE, None)
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
    for name in ("versions", "ssh-audit", "testssl", "lynis", "oscap", "units", "have"):
        assert f'echo "==> {name} $(date +%s)"' in script


def test_sections_and_their_durations():
    lines = ["==> versions 100", "a 1", "==> lynis 103", "hardening_index=80",
             "==> units 160", "==> have 161"]
    assert steps.sections(lines)["lynis"] == "hardening_index=80"
    assert steps.durations(lines) == {"versions": 3, "lynis": 57, "units": 1}


FAKE_APT = """#!/bin/sh
# A fake apt-get over a package list DB: install adds each package and a dep-<package>;
# "-s purge P" / "-s autoremove" print what would go (a dep whose package is gone; with
# $NEEDS_BASE a purge would also take base-files).
db={db}; echo "$@" >> {log}
sim=0; [ "$1" = -s ] && {{ sim=1; shift; }}
cmd=$1; shift
case $cmd in
install) for a in "$@"; do case $a in -*) ;; *) echo $a >> $db; echo dep-$a >> $db;; esac; done;;
purge) for a in "$@"; do case $a in -*) ;; *)
    if [ $sim = 1 ]; then echo "Purg $a"; [ -n "$NEEDS_BASE" ] && echo "Remv base-files";
    else grep -vxF -e "$a" $db > $db.n; mv $db.n $db; fi;; esac; done;;
autoremove) grep '^dep-' $db | while read -r d; do grep -qxF "${{d#dep-}}" $db || \
    echo "Remv $d [1.0]"; done;;
esac
"""


def _fake_apt(tmp_path, installed: str):
    bin_dir, db = tmp_path / "bin", tmp_path / "db"
    bin_dir.mkdir()
    db.write_text(installed)
    (bin_dir / "dpkg-query").write_text(
        f"#!/bin/sh\nif [ \"$1\" = -W ] && [ \"$2\" = \"-f=\\${{Status}}\" ]; then "
        f"grep -qx \"$3\" {db} && printf 'install ok installed'; exit 0; fi\ncat {db}\n")
    (bin_dir / "apt-get").write_text(FAKE_APT.format(db=db, log=tmp_path / "apt.log"))
    for tool in ("dpkg-query", "apt-get"):
        (bin_dir / tool).chmod(0o755)
    return db, {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def _run(command, listing, env):
    argv = ["sh", "-c", command.get_raw_value().replace(steps.INSTALLED_LIST, str(listing))]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def test_install_and_purge_exactly_what_was_missing(tmp_path):
    """Only the missing tools are installed and listed; they and their orphaned dependencies
    are purged again, nothing else."""
    db, env = _fake_apt(tmp_path, "lynis\ndep-lynis\nbase-files\n")
    listing = tmp_path / "installed"
    assert _run(steps.install_command(), listing, env).returncode == 0
    added = set(listing.read_text().split())
    assert "lynis" not in added and {"ssh-audit", "dep-ssh-audit", "ssg-debian"} <= added
    proc = _run(steps.remove_command(), listing, env)
    assert proc.returncode == 0, proc.stderr
    assert db.read_text().split() == ["lynis", "dep-lynis", "base-files"]
    assert not listing.exists()


def test_purge_refused_when_apt_would_remove_more(tmp_path):
    """On Debian 13 apt wanted to take an essential package along: nothing is purged then."""
    db, env = _fake_apt(tmp_path, "base-files\n")
    listing = tmp_path / "installed"
    assert _run(steps.install_command(), listing, env).returncode == 0
    before = db.read_text()
    proc = _run(steps.remove_command(), listing, {**env, "NEEDS_BASE": "1"})
    assert proc.returncode == 1
    assert "purging them would also remove base-files" in proc.stderr
    assert db.read_text() == before and listing.exists()


def test_audit_only_changes_nothing_else():
    data = fakehost.host_data(hardening_audit="only", audit_install_tools=True)
    run = fakehost.run(harden, data)
    assert run.error is None, run.error
    assert run.op_names() == ["Audit | Install the audit tools that are missing (listed for "
                            "removal)",
                            "Audit | Audit with ssh-audit, testssl.sh, lynis, OpenSCAP, "
                            "systemd-analyze security",
                            "Audit | Purge the audit tools this audit installed"]


def test_audit_off_by_default_and_without_install():
    assert not [n for n in fakehost.run(harden, fakehost.host_data()).op_names()
                if n.startswith("Audit")]
    names = fakehost.run(harden, fakehost.host_data(hardening_audit="after")).op_names()
    assert [n for n in names if n.startswith("Audit")] == [
        "Audit | Audit with ssh-audit, testssl.sh, lynis, OpenSCAP, systemd-analyze security"]
