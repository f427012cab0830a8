"""SSH: an sshd drop-in (no passwords, root by key only, no forwarding of any kind), refused if
it would lock us out, and verified with ``sshd -T`` after every change."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from deploys import schema, templates
from deploys.ssh.facts import SshdVersion
from deploys.ssh.operations import sshd_dropin

DROPIN = "/etc/ssh/sshd_config.d/10-pbs-fleet.conf"
ROOT_LOGIN = ("prohibit-password", "no", "forced-commands-only")
#: ``DisableForwarding`` (every kind of forwarding at once) exists since OpenSSH 7.4.
DISABLE_FORWARDING_SINCE = (7, 4)
#: How ``sshd -T`` prints a value we write differently (its canonical spelling).
_EFFECTIVE_SPELLING = {"prohibit-password": "without-password"}

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


def settings(data: dict[str, Any], version: tuple[int, int] | None) -> list[tuple[str, str]]:
    """The drop-in's ``(keyword, value)`` lines for an sshd of *version* (None: unknown, then
    only keywords every supported sshd has) (pure)."""
    lines = [
        ("PermitRootLogin", data["sshd_permit_root_login"]),
        ("PasswordAuthentication", "yes" if data["sshd_password_authentication"] else "no"),
        ("KbdInteractiveAuthentication", "no"),
        ("PermitEmptyPasswords", "no"),
    ]
    if version is not None and version >= DISABLE_FORWARDING_SINCE:
        lines.append(("DisableForwarding", "yes"))
    lines += [
        # Each kind spelled out as well: sshd -T shows them, and an older sshd still closes.
        ("AllowTcpForwarding", "no"), ("AllowStreamLocalForwarding", "no"),
        ("GatewayPorts", "no"), ("PermitTunnel", "no"),
        ("PermitOpen", "none"), ("PermitListen", "none"),
        ("X11Forwarding", "no"), ("AllowAgentForwarding", "no"),
        ("MaxAuthTries", "4"), ("LoginGraceTime", "30"),
        ("ClientAliveInterval", "300"), ("ClientAliveCountMax", "2"),
    ]
    return lines


def effective(lines: list[tuple[str, str]]) -> dict[str, str]:
    """What ``sshd -T`` must print for *lines*: ``{keyword: value}`` in its spelling (pure)."""
    return {k.lower(): _EFFECTIVE_SPELLING.get(v, v) for k, v in lines}


@deploy("SSH")
def ssh_step() -> None:
    """Refuse a lockout while planning; otherwise write, check (sshd -t), reload and verify
    the effective configuration (sshd -T)."""
    data = {k: schema.value(host, k) for k in KEYS}
    if not data["sshd_hardening"]:
        return
    connection = {k: host.data.get(k) for k in ("ssh_user", "ssh_password", "ssh_key")}
    problem = lockout_problem(data, connection)
    if problem:
        raise DeployError(f"{host.name}: sshd hardening refused: {problem}")
    lines = settings(data, host.get_fact(SshdVersion))
    content = templates.render("ssh/10-pbs-fleet.conf.j2", settings=lines)
    sshd_dropin(name=f"sshd hardening {DROPIN} (sshd -t, reload, sshd -T verified)",
                path=DROPIN, content=content, expected=effective(lines))
