"""sshd hardening: the drop-in, the lockout refusal, and sshd -t guarding the reload."""

from __future__ import annotations

import subprocess

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.node import pbs_node
from deploys.ssh.facts import parse_effective, parse_version
from deploys.ssh.operations import check_and_reload_command, mismatches, verify_command
from deploys.ssh.steps import effective, lockout_problem, settings
from deploys.templates import render
from tests.deploys import fakehost

DEFAULTS = {"sshd_hardening": True, "sshd_permit_root_login": "prohibit-password",
            "sshd_password_authentication": False}
NO_FORWARDING = ("AllowTcpForwarding no", "AllowStreamLocalForwarding no", "GatewayPorts no",
                 "PermitTunnel no", "PermitOpen none", "PermitListen none", "X11Forwarding no",
                 "AllowAgentForwarding no")


def test_dropin_content():
    text = render("ssh/10-pbs-fleet.conf.j2", settings=settings(DEFAULTS, (9, 2)))
    for line in ("PermitRootLogin prohibit-password", "PasswordAuthentication no",
                 "KbdInteractiveAuthentication no", "DisableForwarding yes", *NO_FORWARDING):
        assert line + "\n" in text.splitlines(keepends=True)


@pytest.mark.parametrize(("version", "disable_forwarding"),
                         [((7, 3), False), ((7, 4), True), ((10, 0), True), (None, False)])
def test_disable_forwarding_only_where_sshd_has_it(version, disable_forwarding):
    lines = settings(DEFAULTS, version)
    assert (("DisableForwarding", "yes") in lines) is disable_forwarding
    text = render("ssh/10-pbs-fleet.conf.j2", settings=lines)
    assert all(line + "\n" in text for line in NO_FORWARDING)  # closed on any version


@pytest.mark.parametrize(("text", "version"), [
    ("1:9.2p1-2+deb12u3", (9, 2)), ("1:10.0p1-7", (10, 0)),
    ("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025", (10, 0)),
    ("OpenSSH_7.4p1, OpenSSL 1.0.2k", (7, 4)), ("", None), ("sh: dpkg-query: not found", None)])
def test_sshd_version(text, version):
    assert parse_version(text) == version


def test_effective_uses_sshd_T_spelling():
    want = effective(settings(DEFAULTS, (9, 2)))
    assert want["permitrootlogin"] == "without-password"
    assert want["disableforwarding"] == "yes" and want["allowtcpforwarding"] == "no"
    got = parse_effective(["permitrootlogin without-password", "allowtcpforwarding yes",
                           "hostkey /a", "hostkey /b"])
    assert got["hostkey"] == "/a /b"
    assert "allowtcpforwarding" in mismatches(got, want)
    assert "permitrootlogin" not in mismatches(got, want)


def _fake_sshd_T(tmp_path, lines: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sshd").write_text(f"#!/bin/sh\nprintf '{lines}'\n")
    (bin_dir / "sshd").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_verify_names_each_keyword_not_in_effect(tmp_path):
    env = _fake_sshd_T(tmp_path, "allowtcpforwarding yes\\nx11forwarding no\\n")
    script = verify_command("/etc/ssh/sshd_config.d/10-x.conf",
                            {"allowtcpforwarding": "no", "x11forwarding": "no",
                             "permittunnel": "no"}).get_raw_value()
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1
    assert "sshd -T: allowtcpforwarding yes, expected: allowtcpforwarding no" in proc.stderr
    assert "sshd -T: permittunnel unset, expected: permittunnel no" in proc.stderr
    assert "x11forwarding" not in proc.stderr
    assert "10-x.conf is not in effect" in proc.stderr


def test_verify_passes_when_all_in_effect(tmp_path):
    env = _fake_sshd_T(tmp_path, "allowtcpforwarding no\\npermitopen none\\n")
    script = verify_command("/x", {"allowtcpforwarding": "no",
                                   "permitopen": "none"}).get_raw_value()
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_current_dropin_overridden_elsewhere_fails_the_run():
    """The drop-in is already there, but sshd -T shows forwarding on: verify, do not noop."""
    content = render("ssh/10-pbs-fleet.conf.j2", settings=settings(DEFAULTS, (9, 2)))
    responses = {"10-pbs-fleet.conf": content, "sshd -T": "allowtcpforwarding yes"}
    run = fakehost.run(pbs_node, fakehost.host_data(responses=responses), execute=True)
    verify = [c for c in run.commands if "sshd-verify" in c]
    assert len(verify) == 1 and not [c for c in run.commands if "sshd-check" in c]


@pytest.mark.parametrize(("data", "connection", "problem"), [
    ({}, {"ssh_user": "admin", "ssh_password": "pw"}, "would disable password logins"),
    ({"sshd_permit_root_login": "no"}, {"ssh_user": "root", "ssh_key": "/k"},
     "PermitRootLogin no would lock out this deploy"),
    ({"sshd_password_authentication": True}, {"ssh_user": "root", "ssh_password": "pw"},
     "root logs in with a password"),
])
def test_lockouts_are_recognised(data, connection, problem):
    assert problem in (lockout_problem({**DEFAULTS, **data}, connection) or "")


@pytest.mark.parametrize("connection", [{"ssh_user": "root", "ssh_key": "/k"},
                                        {"ssh_user": "admin", "ssh_password": "pw",
                                         "ssh_key": "/k"}])
def test_key_logins_are_fine(connection):
    assert lockout_problem(DEFAULTS, connection) is None


def test_deploy_refuses_before_anything_runs():
    data = fakehost.host_data(ssh_user="admin", ssh_password="hunter2", _sudo=True)
    run = fakehost.run(pbs_node, data, execute=True)
    assert isinstance(run.error, DeployError) and run.executed is False
    assert str(run.error).startswith("@fake/pbs1: sshd hardening refused: would disable "
                                     "password logins")
    assert not [c for c in run.commands if "hunter2" in c]


def test_dropin_checked_before_reload():
    run = fakehost.run(pbs_node, fakehost.host_data(), execute=True)
    assert run.error is None, run.error
    check = [c for c in run.commands if "sshd-check" in c]
    assert len(check) == 1 and "sshd -t" in check[0]
    assert check[0].index("sshd -t") < check[0].index("systemctl reload ssh.service")
    verify = [c for c in run.commands if "sshd-verify" in c]
    assert len(verify) == 1 and run.commands.index(check[0]) < run.commands.index(verify[0])
    assert "'allowtcpforwarding no'" in verify[0] and "'disableforwarding yes'" in verify[0]


def test_rejected_dropin_is_rolled_back(tmp_path):
    """With a failing `sshd -t` the previous drop-in comes back and nothing is reloaded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sshd").write_text("#!/bin/sh\nexit 255\n")
    (bin_dir / "systemctl").write_text(f"#!/bin/sh\ntouch {tmp_path}/reloaded\n")
    for tool in ("sshd", "systemctl"):
        (bin_dir / tool).chmod(0o755)
    path, backup = tmp_path / "10.conf", tmp_path / "10.conf.previous"
    path.write_text("new\n")
    backup.write_text("old\n")
    script = check_and_reload_command(str(path), str(backup)).get_raw_value()
    proc = subprocess.run(["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "previous configuration restored" in proc.stderr
    assert path.read_text() == "old\n" and not backup.exists()
    assert not (tmp_path / "reloaded").exists()


@pytest.mark.parametrize(("version", "hybrids"), [
    ((9, 2), ["sntrup761x25519-sha512@openssh.com"]),
    ((10, 0), ["mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com"]),
    ((8, 4), []), (None, [])])
def test_post_quantum_key_exchange_where_sshd_has_it(version, hybrids):
    kex = dict(settings(DEFAULTS, version))["KexAlgorithms"].split(",")
    assert kex[:len(hybrids)] == hybrids and "curve25519-sha256" in kex
    assert not [k for k in kex if "nistp" in k or "sha1" in k or "group14" in k
                or "group-exchange" in k]


def test_the_deploys_own_ssh_client_keeps_a_common_algorithm():
    """paramiko (pyinfra's SSH) must share a kex, cipher, MAC and host key type with sshd."""
    from paramiko.transport import Transport

    lines = dict(settings(DEFAULTS, (9, 2)))
    for keyword, offered in (("KexAlgorithms", Transport._preferred_kex),
                             ("Ciphers", Transport._preferred_ciphers),
                             ("MACs", Transport._preferred_macs),
                             ("HostKeyAlgorithms", Transport._preferred_keys)):
        assert set(lines[keyword].split(",")) & set(offered), keyword
