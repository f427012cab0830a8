"""The auditors' own tools against a freshly provisioned sandbox PBS node, per Debian release.

One host per release (module fixture): deploys/pbs_host.py with a certificate from a test CA
(with a CRL distribution point, as a CA-issued certificate has) for the proxmox-backup-proxy
SIMULATOR's listener on 8007, and ``hardening_audit: after`` with ``audit_install_tools``: the
deploy installs ssh-audit, testssl.sh, lynis, OpenSCAP + ssg-debian on the host, runs them,
puts the scores in the hardening report and purges the tools again. The tests then check:

- ssh-audit from the management side (this machine's ssh-audit, its netns): no failure, no
  warning, and the deploy's own paramiko login still works (a second run changes nothing);
- the report's scores meet the goals and do not fall below the recorded baseline
  (``hardening_baseline.json``: date, tool versions, figures per release) — the regression gate;
- with ``-m audit_network``: testssl.sh from the backup network (the allowed client netns).

``PBS_FLEET_RECORD_BASELINE=1`` rewrites the baseline of the releases run from their scores.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from deploys.audit import tools
from deploys.conventions import DEBIAN_RELEASES
from lab.deploy_data import HEALTHY_OVERRIDES, keyring_server, pbs_host_data
from lab.pbs_setup import prepare_pbs
from lab.sandbox import HarnessError, run_pyinfra
from lab.ssg import datastream
from tests.sandbox.releases import RELEASES, start_release_host

BASELINE = Path(__file__).with_name("hardening_baseline.json")
DEPLOY = "deploys/pbs_host.py"
CA_ON_HOST = "/etc/pbs-fleet-test-ca.pem"
#: The goals of issue 17 (docs/hardening.md): what every release's audit must reach.
AGENT_EXPOSURE_GOAL = 2.0
LYNIS_GOAL = 80
DEBIAN_VERSION = {release.codename: int(release.version) for release in DEBIAN_RELEASES}


def scap_content(release: str) -> tuple[Path | None, str]:
    """The ssg-debian datastream for *release* from the newest Debian that ships one, or
    (None, why): the audit then uses the host's own ssg-debian package."""
    try:
        return datastream(DEBIAN_VERSION[release])
    except HarnessError as exc:
        return None, str(exc)


def make_ca_and_cert(tmp: Path, host_name: str, address: str) -> dict[str, Path]:
    """A test CA and a server certificate for the host, signed by it (real OpenSSL), with a
    CRL distribution point and a one-year validity, as a CA-issued certificate would be."""
    ext = tmp / "server.ext"
    ext.write_text(f"subjectAltName=DNS:{host_name},IP:{address},IP:127.0.0.1\n"
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "crlDistributionPoints=URI:http://ca.pbs-fleet.test/test-ca.crl\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=120)

    openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "3650",
            "-subj", "/CN=pbs-fleet TEST-ONLY CA", "-keyout", str(tmp / "ca.key"),
            "-out", str(tmp / "ca.pem"), "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:3072", "-nodes", "-subj", f"/CN={host_name}",
            "-keyout", str(tmp / "proxy.key"), "-out", str(tmp / "proxy.csr"))
    openssl("x509", "-req", "-in", str(tmp / "proxy.csr"), "-CA", str(tmp / "ca.pem"),
            "-CAkey", str(tmp / "ca.key"), "-CAcreateserial", "-days", "365",
            "-extfile", str(ext), "-out", str(tmp / "proxy.pem"))
    return {"ca": tmp / "ca.pem", "cert": tmp / "proxy.pem", "key": tmp / "proxy.key"}


@pytest.fixture(scope="module", params=RELEASES)
def audited(request, sandbox, agent_deb, tmp_path_factory):
    """A provisioned and audited host of one release: dict with host, runs, report, pki."""
    release = request.param
    tmp = tmp_path_factory.mktemp(f"audit-{release}")
    host = start_release_host(sandbox, release)
    try:
        prepare_pbs(host)
        host.install_fact_overrides(HEALTHY_OVERRIDES)
        pki = make_ca_and_cert(tmp, host.name, host.address)
        content, content_source = scap_content(release)
        host.exec(f"cat > {CA_ON_HOST}", input=pki["ca"].read_text())
        with keyring_server() as url:
            data = pbs_host_data(
                url, agent_deb=str(agent_deb[0]), pbs_datastores={"store1": {}},
                pbs_secrets_file=str(tmp / "secrets.json"), pbs_report_dir=str(tmp / "reports"),
                pbs_certificate={"cert": str(pki["cert"]), "key": str(pki["key"])},
                hardening_audit="after", audit_install_tools=True, audit_tls_ca=CA_ON_HOST,
                audit_ssg_datastream=str(content) if content else None)
            inventory = host.write_inventory(tmp / "inventory.py", data, groups=["pbs"])
            first = run_pyinfra(inventory, DEPLOY)
            # A new paramiko login after the sshd drop-in is live; the audit off.
            second = run_pyinfra(inventory, DEPLOY, "--data", "hardening_audit=off")
        report = json.loads((tmp / "reports" / "hardening.json").read_text())[host.name]
        yield {"release": release, "host": host, "first": first, "second": second,
               "audit": report["audit"], "pki": pki, "scap": (content, content_source)}
    finally:
        sandbox.stop_host(host)


def test_deploy_with_audit_converges_and_its_login_still_works(audited):
    audited["first"].check()
    second = audited["second"].check()
    assert second.changed_ops == 0, second.changed


def test_ssh_audit_from_the_management_side(audited):
    """This machine's ssh-audit (Debian package) in the management network: clean."""
    host = audited["host"]
    proc = subprocess.run(["ssh-audit", "-n", "-p", str(host.ssh_port), host.address],
                          capture_output=True, text=True, timeout=120, check=False)
    verdict = tools.parse_ssh_audit(proc.stdout)
    assert verdict.banner.startswith("SSH-2.0-OpenSSH"), proc.stdout[-500:]
    assert verdict.failures == [] and verdict.warnings == [], proc.stdout


def test_report_carries_every_score(audited):
    audit = audited["audit"]
    assert audit["missing_tools"] == []
    for package in (*tools.PACKAGES, "openssh-server", "systemd"):
        assert audit["versions"].get(package), package
    summary = audit["summary"]
    assert summary["ssh_audit_failures"] is not None and summary["lynis_index"] is not None
    assert set(summary["unit_exposure"]) == {"pbs-agent.service", "pbs-config-backup.service",
                                             "prometheus-node-exporter.service"}


def test_openscap_evaluated_with_debians_content(audited):
    """Debian 12: ssg-debian12-ds.xml (Debian 13's package), standard profile, rules pass.
    Debian 13: no Debian package has Debian 13 content yet; the report says so."""
    scap = audited["audit"]["oscap"]
    content, why = audited["scap"]
    if content is None:
        assert scap["unavailable"] and "no content for this Debian release" in \
            scap["unavailable"], (scap, why)
        return
    assert scap["content"] == "/var/tmp/pbs-fleet-audit-ds.xml" and not scap["unavailable"]
    assert scap["counts"].get("pass", 0) > 0, scap
    assert audited["host"].exec("test -e /var/tmp/pbs-fleet-audit-ds.xml",
                                check=False).returncode != 0  # removed after the audit


def test_goals(audited):
    """ssh-audit 0/0, testssl no NOT ok, Lynis >= 80, agent unit exposure <= 2.0."""
    summary = audited["audit"]["summary"]
    assert summary["ssh_audit_failures"] == 0 and summary["ssh_audit_warnings"] == 0, \
        audited["audit"]["ssh_audit"]
    assert summary["testssl_not_ok"] == 0, audited["audit"]["testssl"]
    assert summary["lynis_index"] >= LYNIS_GOAL, audited["audit"]["lynis"]
    assert summary["unit_exposure"]["pbs-agent.service"] <= AGENT_EXPOSURE_GOAL


def test_scores_do_not_fall_below_the_recorded_baseline(audited):
    """The regression gate: hardening can only go up."""
    summary, release = audited["audit"]["summary"], audited["release"]
    recorded = json.loads(BASELINE.read_text()) if BASELINE.exists() else {"releases": {}}
    if os.environ.get("PBS_FLEET_RECORD_BASELINE") == "1":
        recorded["releases"][release] = {
            "date": datetime.date.today().isoformat(),
            "tool_versions": audited["audit"]["versions"], "summary": summary,
            "scap_content": (f"{audited['scap'][1]}: {audited['scap'][0].name}"
                             if audited["scap"][0] else f"none: {audited['scap'][1]}")}
        BASELINE.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    baseline = recorded["releases"].get(release)
    if baseline is None:
        pytest.skip(f"no baseline recorded for {release} in {BASELINE.name}: run this test "
                    "with PBS_FLEET_RECORD_BASELINE=1 and commit the file")
    assert tools.regressions(baseline["summary"], summary) == [], (baseline, summary)


def test_fail2ban_guards_the_pbs_api_and_never_the_management_network(audited):
    """The jail reads proxmox-backup-proxy's journal; PBS's failure lines (its source's two
    formats) match, a success does not; the management networks are ignored."""
    host = audited["host"]
    status = host.exec("fail2ban-client status proxmox-backup-server").stdout
    assert "Currently banned:\t0" in status, status
    filter_ = "/etc/fail2ban/filter.d/pbs-fleet-proxmox-backup.conf"
    for line, matched in (
            ("authentication failure; rhost=::ffff:10.231.1.10 user=root@pam "
             "msg=authentication failed - invalid credentials", 1),
            ("authentication failure; rhost=10.231.1.10 msg=no authentication credentials "
             "provided.", 1),
            ("successful auth for user 'root@pam'", 0)):
        out = host.exec(f"fail2ban-regex '{line}' {filter_}").stdout
        assert f"Failregex: {matched} total" in out, (line, out)
    ignored = host.exec("fail2ban-client get proxmox-backup-server ignoreip").stdout
    assert "10.231.0.0/24" in ignored, ignored


def test_audit_tools_are_purged_afterwards(audited):
    host = audited["host"]
    left = host.exec("dpkg-query -W -f='${Package} ${Status}\\n' " + " ".join(tools.PACKAGES)
                     + " 2>/dev/null | grep 'ok installed'; true").stdout
    assert left.strip() == ""
    assert host.exec("test -e /var/lib/pbs-fleet/audit-installed-packages",
                     check=False).returncode != 0


@pytest.mark.audit_network
def test_testssl_from_the_backup_network(audited, client_allowed):
    """testssl.sh from the allowed client netns against the proxy SIMULATOR's 8007 listener."""
    host = audited["host"]
    proc = client_allowed.exec(f"testssl --quiet --color 0 --warnings off --add-ca "
                               f"{audited['pki']['ca']} -p -s -f -S -U {host.address}:8007",
                               timeout=600)
    verdict = tools.parse_testssl(proc.stdout)
    assert verdict.offered == ["TLS 1.3"], proc.stdout
    assert verdict.not_ok == [], proc.stdout
