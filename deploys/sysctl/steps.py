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

#: Kernel hardening every node gets (Lynis' scan profile, KSPP): no ICMP redirects, no source
#: routing, strict reverse-path filtering (set `net.ipv4.conf.all.rp_filter: 2` in
#: `sysctl_extra` for asymmetric routing), martians logged, protected links and FIFOs, no
#: setuid core dumps, kernel pointers and perf events hidden, no unprivileged BPF, no line
#: discipline autoload, Ctrl-Alt-Del not a reboot. `sysctl_extra` overrides any of them.
SECURITY_SYSCTL = {
    "net.ipv4.conf.all.accept_redirects": 0, "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv6.conf.all.accept_redirects": 0, "net.ipv6.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.send_redirects": 0, "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.accept_source_route": 0, "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv4.conf.all.log_martians": 1, "net.ipv4.conf.default.log_martians": 1,
    "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.tcp_syncookies": 1,
    "dev.tty.ldisc_autoload": 0, "fs.protected_fifos": 2, "fs.protected_regular": 2,
    "fs.protected_symlinks": 1, "fs.protected_hardlinks": 1, "fs.suid_dumpable": 0,
    "kernel.core_uses_pid": 1, "kernel.ctrl-alt-del": 0, "kernel.kptr_restrict": 2,
    "kernel.dmesg_restrict": 1, "kernel.perf_event_paranoid": 3,
    "kernel.unprivileged_bpf_disabled": 1,
}


def _percent(v: int) -> str | None:
    return None if 1 <= v <= 90 else "must be between 1 and 90"


KEYS = schema.register(__name__, {
    "sysctl_settings": schema.Key(
        dict, default=DEFAULT_SYSCTL, item=(int, str),
        doc="Kernel parameters written to " + DROPIN + " and applied live (the defaults "
            "raise socket buffers and backlogs for 10–25 Gb/s backup traffic). The kernel "
            "hardening settings are always added (docs/deploy.md); `sysctl_extra` overrides."),
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


def merged(settings: dict[str, int | str], extra: dict[str, int | str]) -> dict[str, int | str]:
    """:data:`SECURITY_SYSCTL`, then *settings*, then *extra* (later wins) (pure)."""
    return {**SECURITY_SYSCTL, **settings, **extra}


def ram_for_sizing(mem_total_bytes: int) -> int:
    """RAM as sized for the ARC: ``MemTotal`` rounded to the nearest GiB (at least 1 GiB).

    ``MemTotal`` moves by a few MiB between boots (kernel reservations, a new kernel); sizing
    from the rounded figure keeps the ARC file unchanged across reboots.
    """
    return max(GIB, (mem_total_bytes + GIB // 2) // GIB * GIB)


def arc_max_bytes(ram_bytes: int, percent: int) -> int:
    """ARC limit: *percent* of RAM, at least 1 GiB, rounded down to a MiB."""
    return max(GIB, ram_bytes * percent // 100) // (1024**2) * (1024**2)


@deploy("Sysctl")
def sysctl_step(ram_bytes: int) -> None:
    """Drop-in + live values; ZFS ARC limit in modprobe.d and on the loaded module."""
    settings = merged(schema.value(host, "sysctl_settings"), schema.value(host, "sysctl_extra"))
    files.put(name=f"Sysctl drop-in {DROPIN}", dest=DROPIN, mode="644",
              src=templates.render_io("sysctl/pbs-fleet.conf.j2", settings=settings))
    sysctl_apply(name="Apply sysctl settings live", settings=settings,
                 skip_unsettable=schema.value(host, "test_only_sysctl_skip_unsettable"))
    percent = schema.value(host, "zfs_arc_max_percent")
    ram_bytes = ram_for_sizing(ram_bytes)
    arc = arc_max_bytes(ram_bytes, percent)
    files.put(name=f"ZFS ARC limit {ZFS_CONF}", dest=ZFS_CONF, mode="644",
              src=templates.render_io("zfs/zfs.conf.j2", percent=percent, ram_bytes=ram_bytes,
                                      arc_max_bytes=arc))
    zfs_arc_live(name="ZFS ARC limit on the loaded module", arc_max_bytes=arc)
