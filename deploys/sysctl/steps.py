"""Sysctl: one drop-in under /etc/sysctl.d, applied live; ZFS ARC limit sized from RAM."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import schema, templates
from deploys.sysctl.operations import sysctl_apply, zfs_arc_live

DROPIN = "/etc/sysctl.d/90-pbs-fleet.conf"
ZFS_CONF = "/etc/modprobe.d/zfs.conf"
GIB = 1024**3
DEFAULT_SYSCTL = {
    "net.core.rmem_max": 16777216,
    "net.core.wmem_max": 16777216,
    "net.core.rmem_default": 1048576,
    "net.core.wmem_default": 1048576,
    "net.ipv4.tcp_rmem": "4096 1048576 16777216",
    "net.ipv4.tcp_wmem": "4096 1048576 16777216",
    "net.core.somaxconn": 4096,
    "net.ipv4.tcp_max_syn_backlog": 8192,
    "net.core.netdev_max_backlog": 30000,
}


def _percent(v: int) -> str | None:
    return None if 1 <= v <= 90 else "must be between 1 and 90"


KEYS = schema.register(__name__, {
    "sysctl_settings": schema.Key(
        dict, default=DEFAULT_SYSCTL, item=(int, str),
        doc="Kernel parameters written to " + DROPIN + " and applied live (the defaults "
            "raise socket buffers and backlogs for 10–25 Gb/s backup traffic)."),
    "sysctl_extra": schema.Key(
        dict, default={}, item=(int, str), doc="Added to (and overriding) `sysctl_settings`."),
    "zfs_arc_max_percent": schema.Key(
        int, default=50, check=_percent,
        doc="ZFS ARC limit as a percentage of RAM (written to " + ZFS_CONF + ")."),
    "test_only_sysctl_skip_unsettable": schema.Key(
        bool, default=False, test_only=True,
        doc="TEST-ONLY. Keys the host cannot set (e.g. net.core.rmem_max inside a network "
            "namespace) are reported and skipped instead of failing the run."),
})


def arc_max_bytes(ram_bytes: int, percent: int) -> int:
    """ARC limit: *percent* of RAM, at least 1 GiB, rounded down to a MiB."""
    return max(GIB, ram_bytes * percent // 100) // (1024**2) * (1024**2)


@deploy("Sysctl")
def sysctl_step(ram_bytes: int) -> None:
    """Drop-in + live values; ZFS ARC limit in modprobe.d and on the loaded module."""
    settings = {**schema.value(host, "sysctl_settings"), **schema.value(host, "sysctl_extra")}
    files.put(name=f"Sysctl drop-in {DROPIN}", dest=DROPIN, mode="644",
              src=templates.render_io("sysctl/pbs-fleet.conf.j2", settings=settings))
    sysctl_apply(name="Apply sysctl settings live", settings=settings,
                 skip_unsettable=schema.value(host, "test_only_sysctl_skip_unsettable"))
    percent = schema.value(host, "zfs_arc_max_percent")
    arc = arc_max_bytes(ram_bytes, percent)
    files.put(name=f"ZFS ARC limit {ZFS_CONF}", dest=ZFS_CONF, mode="644",
              src=templates.render_io("zfs/zfs.conf.j2", percent=percent, ram_bytes=ram_bytes,
                                      arc_max_bytes=arc))
    zfs_arc_live(name="ZFS ARC limit on the loaded module", arc_max_bytes=arc)
