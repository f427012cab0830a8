"""Config backup: a systemd timer archiving /etc/proxmox-backup with rotation."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys import schema, templates

SCRIPT = "/usr/local/sbin/pbs-config-backup"
UNIT_DIR = "/etc/systemd/system"


def _absolute(v: str) -> str | None:
    return None if v.startswith("/") and "\n" not in v else "must be an absolute path"


def _positive(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


KEYS = schema.register(__name__, {
    "config_backup_dir": schema.Key(str, default="/var/backups/pbs-config", check=_absolute,
                                    doc="Where the archives of /etc/proxmox-backup go."),
    "config_backup_keep": schema.Key(int, default=30, check=_positive,
                                     doc="How many archives to keep (oldest removed first)."),
    "config_backup_schedule": schema.Key(str, default="daily",
                                         doc="systemd OnCalendar= of the backup timer."),
})


@deploy("Config backup")
def config_backup_step() -> None:
    """Script, service and timer; the timer enabled and started."""
    dest = schema.value(host, "config_backup_dir")
    changed = [
        files.put(name=f"Config backup script {SCRIPT}", dest=SCRIPT, mode="755",
                  src=templates.render_io("config_backup/pbs-config-backup.j2", dest=dest,
                                          keep=schema.value(host, "config_backup_keep"))),
        files.put(name="pbs-config-backup.service", dest=f"{UNIT_DIR}/pbs-config-backup.service",
                  mode="644", src=templates.render_io(
                      "config_backup/pbs-config-backup.service.j2", dest=dest)),
        files.put(name="pbs-config-backup.timer", dest=f"{UNIT_DIR}/pbs-config-backup.timer",
                  mode="644", src=templates.render_io(
                      "config_backup/pbs-config-backup.timer.j2",
                      schedule=schema.value(host, "config_backup_schedule"))),
    ]
    files.directory(name=f"Config backup directory {dest}", path=dest, mode="700")
    systemd.daemon_reload(name="systemd daemon-reload for config backup",
                          _if=any_changed(*changed))
    systemd.service(name="pbs-config-backup.timer enabled and running",
                    service="pbs-config-backup.timer", running=True, enabled=True)
