"""Baseline: login banners, idle shell timeout, no core dumps, unused protocols refused,
login.defs defaults, root-only sshd and cron configuration, PAM password quality and per-user
temp dirs, package integrity tools and unattended Debian security updates."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from deploys import schema, templates
from deploys.conventions import PBS_PORT

BANNER = ("Authorized access only. This system is monitored and activity is logged; "
          "unauthorized access is prohibited and subject to legal action.")
#: Kernel modules refused on load: network protocols a PBS node does not speak and FireWire
#: storage. Not usb-storage: removable datastores are USB disks.
MODULES = ("dccp", "sctp", "rds", "tipc", "firewire-core", "firewire-ohci")
#: libpam-tmpdir: per-user $TMPDIR; libpam-pwquality: password strength; debsums: verify
#: installed files against the packages (weekly); apt-listchanges: changelogs before upgrades;
#: unattended-upgrades: Debian security updates daily; needrestart (list only, below): which
#: daemons still run replaced libraries; fail2ban (+ python3-systemd for its journal backend):
#: bans addresses that guess PBS API passwords.
PACKAGES = ("libpam-tmpdir", "libpam-pwquality", "debsums", "apt-listchanges",
            "unattended-upgrades", "needrestart", "fail2ban", "python3-systemd")
FAIL2BAN_JAIL = "proxmox-backup-server"
FAIL2BAN_FILTER = "pbs-fleet-proxmox-backup"
#: /etc/login.defs values for accounts created later (keys: login only, root by key).
LOGIN_DEFS = {"UMASK": "027", "PASS_MIN_DAYS": "1", "PASS_MAX_DAYS": "365"}
#: Readable by root only: sshd's configuration, cron's job directories (nothing in them is
#: meant for other users).
PRIVATE_FILES = ("/etc/ssh/sshd_config",)
PRIVATE_DIRS = ("/etc/cron.d", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly")
FILES = {
    "/etc/issue": "baseline/issue.j2",
    "/etc/issue.net": "baseline/issue.j2",
    "/etc/profile.d/pbs-fleet.sh": "baseline/profile.sh.j2",
    "/etc/security/limits.d/90-pbs-fleet.conf": "baseline/limits.conf.j2",
    "/etc/systemd/coredump.conf.d/90-pbs-fleet.conf": "baseline/coredump.conf.j2",
    "/etc/modprobe.d/90-pbs-fleet-unused.conf": "baseline/modprobe.conf.j2",
    "/etc/apt/apt.conf.d/20auto-upgrades": "baseline/20auto-upgrades.j2",
    "/etc/default/debsums": "baseline/debsums.j2",  # after the package: it is its conffile
    "/etc/needrestart/conf.d/90-pbs-fleet.conf": "baseline/needrestart.conf.j2",
    f"/etc/fail2ban/filter.d/{FAIL2BAN_FILTER}.conf": "baseline/fail2ban-filter.conf.j2",
    # .local: read after every jail.d/*.conf, so it wins over Debian's defaults-debian.conf
    "/etc/fail2ban/jail.d/pbs-fleet.local": "baseline/fail2ban-jail.conf.j2",
}

KEYS = schema.register(__name__, {
    "baseline_hardening": schema.Key(
        bool, default=True,
        doc="Apply the OS baseline (banners, idle shell timeout, no core dumps, unused "
            "protocols refused, login.defs, PAM, unattended security updates)."),
    "login_banner": schema.Key(str, default=BANNER, doc="Text of /etc/issue and /etc/issue.net."),
    "shell_idle_timeout": schema.Key(
        int, default=900, check=lambda v: None if v >= 60 else "must be at least 60 (seconds)",
        doc="Seconds after which an idle interactive shell ends (TMOUT)."),
})


@deploy("Baseline")
def baseline_step() -> None:
    """Packages, then each file from its template, the login.defs lines, root-only modes."""
    if not schema.value(host, "baseline_hardening"):
        return
    apt.packages(name="Baseline packages (PAM, debsums, unattended-upgrades)",
                 packages=list(PACKAGES), no_recommends=True)
    context = {"banner": schema.value(host, "login_banner"),
               "seconds": schema.value(host, "shell_idle_timeout"), "modules": MODULES,
               "ignore": schema.value(host, "firewall_management_networks"),
               "jail": FAIL2BAN_JAIL, "filter": FAIL2BAN_FILTER, "port": PBS_PORT}
    written = {dest: files.put(name=f"Baseline {dest}", dest=dest, mode="644",
                               src=templates.render_io(template, **context))
               for dest, template in FILES.items()}
    systemd.service(name="fail2ban enabled and running", service="fail2ban", running=True,
                    enabled=True)
    systemd.service(name="Restart fail2ban after changes", service="fail2ban", restarted=True,
                    _if=any_changed(*(op for dest, op in written.items()
                                      if dest.startswith("/etc/fail2ban/"))))
    for key, value in LOGIN_DEFS.items():  # pattern in grep's basic syntax
        files.line(name=f"/etc/login.defs {key} {value}", path="/etc/login.defs",
                   line=f"^{key}[[:space:]]", replace=f"{key}\t{value}")
    for path in PRIVATE_FILES:
        files.file(name=f"{path} mode 600", path=path, mode="600")
    for path in PRIVATE_DIRS:
        files.directory(name=f"{path} mode 700", path=path, mode="700")
