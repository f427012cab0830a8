"""Baseline: login banners, idle shell timeout, no core dumps, unused protocols refused,
login.defs defaults, root-only sshd and cron configuration, PAM password quality and per-user
temp dirs, package integrity tools and unattended Debian security updates."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploys import schema, templates

BANNER = ("Authorized access only. This system is monitored and activity is logged; "
          "unauthorized access is prohibited and subject to legal action.")
#: Kernel modules refused on load: network protocols a PBS node does not speak and FireWire
#: storage. Not usb-storage: removable datastores are USB disks.
MODULES = ("dccp", "sctp", "rds", "tipc", "firewire-core", "firewire-ohci")
#: libpam-tmpdir: per-user $TMPDIR; libpam-pwquality: password strength; debsums: verify
#: installed files against the packages; apt-listchanges: changelogs before upgrades;
#: unattended-upgrades: Debian security updates daily.
PACKAGES = ("libpam-tmpdir", "libpam-pwquality", "debsums", "apt-listchanges",
            "unattended-upgrades")
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
               "seconds": schema.value(host, "shell_idle_timeout"), "modules": MODULES}
    for dest, template in FILES.items():
        files.put(name=f"Baseline {dest}", dest=dest, mode="644",
                  src=templates.render_io(template, **context))
    for key, value in LOGIN_DEFS.items():  # pattern in grep's basic syntax
        files.line(name=f"/etc/login.defs {key} {value}", path="/etc/login.defs",
                   line=f"^{key}[[:space:]]", replace=f"{key}\t{value}")
    for path in PRIVATE_FILES:
        files.file(name=f"{path} mode 600", path=path, mode="600")
    for path in PRIVATE_DIRS:
        files.directory(name=f"{path} mode 700", path=path, mode="700")
