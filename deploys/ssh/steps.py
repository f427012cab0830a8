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
#: Key exchange, strongest first: the post-quantum hybrids where this sshd has them (ML-KEM
#: since OpenSSH 9.9, sntrup761 since 8.5), then X25519 and the 4096/8192-bit MODP groups,
#: which paramiko (the deploy's own SSH client) speaks. No NIST curves, no SHA-1, no 2048-bit
#: group (ssh-audit flags them), no group exchange (its moduli include 2048-bit ones).
KEX_POST_QUANTUM = ((9, 9), "mlkem768x25519-sha256"), ((8, 5), "sntrup761x25519-sha512@openssh.com")
KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "diffie-hellman-group16-sha512",
       "diffie-hellman-group18-sha512")
#: AEAD ciphers first; CTR for older clients (with encrypt-then-MAC only, below).
CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr")
#: Encrypt-then-MAC with SHA-2 or a 128-bit UMAC tag only.
MACS = ("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
        "umac-128-etm@openssh.com")
#: Host key signatures: Ed25519, RSA with SHA-2 (no ECDSA on NIST curves, no SHA-1 ssh-rsa).
HOST_KEY_ALGORITHMS = ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256")
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
        # MaxSessions stays sshd's 10: pyinfra holds an SFTP and command sessions at once, and
        # "MaxSessions 2" refused its third ("no more sessions") mid-run in the sandbox.
        ("MaxAuthTries", "3"), ("LoginGraceTime", "30"),
        ("ClientAliveInterval", "300"), ("ClientAliveCountMax", "2"), ("TCPKeepAlive", "no"),
        ("Compression", "no"), ("LogLevel", "VERBOSE"),
        ("KexAlgorithms", ",".join(kex_algorithms(version))),
        ("Ciphers", ",".join(CIPHERS)), ("MACs", ",".join(MACS)),
        ("HostKeyAlgorithms", ",".join(HOST_KEY_ALGORITHMS)),
    ]
    return lines


def kex_algorithms(version: tuple[int, int] | None) -> list[str]:
    """:data:`KEX`, after the post-quantum hybrids this sshd *version* has (pure)."""
    hybrids = [name for since, name in KEX_POST_QUANTUM if version is not None and version >= since]
    return [*hybrids, *KEX]


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
