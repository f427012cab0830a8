"""sshd hardening: the drop-in, the lockout refusal, and sshd -t guarding the reload."""

from __future__ import annotations

import subprocess

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.node import pbs_node
from deploys.ssh.operations import check_and_reload_command
from deploys.ssh.steps import lockout_problem
from deploys.templates import render
from tests.deploys import fakehost

DEFAULTS = {"sshd_hardening": True, "sshd_permit_root_login": "prohibit-password",
            "sshd_password_authentication": False}


def test_dropin_content():
    text = render("ssh/10-pbs-fleet.conf.j2", permit_root_login="prohibit-password",
                  password_authentication=False)
    for line in ("PermitRootLogin prohibit-password", "PasswordAuthentication no",
                 "KbdInteractiveAuthentication no", "X11Forwarding no"):
        assert line + "\n" in text


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
