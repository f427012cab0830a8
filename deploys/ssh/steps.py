"""SSH: an sshd drop-in (no passwords, root by key only), refused if it would lock us out."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from deploys import schema, templates
from deploys.ssh.operations import sshd_dropin

DROPIN = "/etc/ssh/sshd_config.d/10-pbs-fleet.conf"
ROOT_LOGIN = ("prohibit-password", "no", "forced-commands-only")

KEYS = schema.register(__name__, {
    "sshd_hardening": schema.Key(bool, default=True,
                                doc="Manage the sshd drop-in " + DROPIN + "."),
    "sshd_permit_root_login": schema.Key(
        str, default="prohibit-password",
        check=schema.one_of(*ROOT_LOGIN),
        doc="sshd PermitRootLogin. `no` is refused while the deploy itself logs in as root."),
    "sshd_password_authentication": schema.Key(
        bool, default=False,
        doc="Allow password logins. Disabling them is refused while the deploy itself logs in "
            "with `ssh_password`."),
})


def lockout_problem(data: dict[str, Any], connection: dict[str, Any]) -> str | None:
    """Why the drop-in would lock the deploy's own login out, or None (pure)."""
    uses_password = bool(connection.get("ssh_password")) and not connection.get("ssh_key")
    if uses_password and not data["sshd_password_authentication"]:
        return ("would disable password logins while this deploy logs in with ssh_password; "
                "use ssh_key or set sshd_password_authentication: True")
    user = connection.get("ssh_user") or "root"
    if user == "root" and data["sshd_permit_root_login"] == "no":
        return ("PermitRootLogin no would lock out this deploy, which logs in as root; "
                "log in as a sudo user (ssh_user + _sudo) first")
    if user == "root" and uses_password:
        return "root logs in with a password, which PermitRootLogin prohibit-password refuses"
    return None


@deploy("SSH")
def ssh_step() -> None:
    """Refuse a lockout while planning; otherwise write, check (sshd -t) and reload."""
    data = {k: schema.value(host, k) for k in KEYS}
    if not data["sshd_hardening"]:
        return
    connection = {k: host.data.get(k) for k in ("ssh_user", "ssh_password", "ssh_key")}
    problem = lockout_problem(data, connection)
    if problem:
        raise DeployError(f"{host.name}: sshd hardening refused: {problem}")
    content = templates.render("ssh/10-pbs-fleet.conf.j2",
                               permit_root_login=data["sshd_permit_root_login"],
                               password_authentication=data["sshd_password_authentication"])
    sshd_dropin(name=f"sshd hardening {DROPIN} (checked with sshd -t, reloaded)",
                path=DROPIN, content=content)
