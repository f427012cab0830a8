"""Operations of the 3 → 4 upgrade: the all-or-nothing apt source switch, the post-checks."""

from __future__ import annotations

import shlex
from collections.abc import Generator, Sequence
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand

from deploys.connection import privileges


def switch_command(files: Sequence[str], old: str = "bookworm", new: str = "trixie"
                   ) -> StringCommand:
    """Shell that rewrites the suite in every file of *files*, or in none of them.

    Each file is staged (``sed``) and checked before any is replaced; the originals are kept
    in the staging directory and put back if a replacement fails or a file still names
    *old* afterwards. Prints one line on failure.
    """
    script = (
        'set -u; old="$1"; new="$2"; shift 2; '
        'stage=$(mktemp -d /etc/apt/.pbs-fleet-suite-switch.XXXXXX) || exit 1; '
        'i=0; for f in "$@"; do i=$((i+1)); cp -p "$f" "$stage/$i.orig" && '
        'sed "s/\\b$old\\b/$new/g" "$f" > "$stage/$i.new" && '
        '! grep -qw "$old" "$stage/$i.new" || '
        '{ echo "cannot stage $f: nothing changed" >&2; rm -rf "$stage"; exit 1; }; done; '
        'restore() { j=0; for g in "$@"; do j=$((j+1)); cp -p "$stage/$j.orig" "$g"; done; }; '
        'i=0; for f in "$@"; do i=$((i+1)); '
        '{ cat "$stage/$i.new" > "$f.pbs-fleet-new" && '
        'chmod --reference="$f" "$f.pbs-fleet-new" && mv -f "$f.pbs-fleet-new" "$f"; } '
        '2>/dev/null || '
        '{ restore "$@"; rm -f "$f.pbs-fleet-new" 2>/dev/null; '
        'echo "replacing $f failed: every source file restored to $old" >&2; '
        'rm -rf "$stage"; exit 1; }; done; '
        'if grep -qw "$old" "$@"; then restore "$@"; '
        'echo "a source still names $old after the switch: every file restored" >&2; '
        'rm -rf "$stage"; exit 1; fi; rm -rf "$stage"'
    )
    return StringCommand("sh", "-c", QuoteString(script), "switch", QuoteString(old),
                         QuoteString(new), *(QuoteString(f) for f in files))


@operation()
def switch_suite(files: list[str], old: str = "bookworm",
                 new: str = "trixie") -> Generator[str | PyinfraCommand, None, None]:
    """Point every apt source file in *files* from *old* to *new*, all or none (never a
    half-switched source list, which ``pbs3to4`` would fail).

    + files: the source files that name *old* (``.list`` and deb822 ``.sources``)
    + old: the suite to replace (``bookworm``; ``-updates``/``-security`` follow)
    + new: the suite to write (``trixie``)

    **Example:**

    .. code:: python

        switch_suite(name="Apt sources bookworm -> trixie",
                     files=["/etc/apt/sources.list.d/debian.sources"])
    """
    if not files:
        host.noop(f"no apt source names {old}")
        return
    yield switch_command(files, old, new)


def zfs_module_command(boot: str = "/boot") -> StringCommand:
    """Shell that fails with one line when the host has ZFS pools and the kernel the reboot
    starts (the highest ``vmlinuz-*`` in *boot*, GRUB's default) has no ``zfs`` module."""
    script = (
        'boot="$1"; command -v zpool >/dev/null 2>&1 || exit 0; '
        '[ -n "$(zpool list -H -o name 2>/dev/null)" ] || exit 0; '
        'k=$(ls "$boot" | sed -n "s/^vmlinuz-//p" | sort -V | tail -n1); [ -n "$k" ] || exit 0; '
        'modinfo -k "$k" zfs >/dev/null 2>&1 && exit 0; '
        'echo "kernel $k (the one the reboot starts) has no zfs module: the pools would not '
        'be imported; not rebooting. Install linux-headers-$k and run dkms autoinstall -k $k '
        '(zfs-dkms), then run this deploy again" >&2; exit 1'
    )
    return StringCommand("sh", "-c", QuoteString(script), "zfs-check", QuoteString(boot))


@operation(is_idempotent=False)
def zfs_module_for_next_kernel(boot: str = "/boot") -> Generator[str | PyinfraCommand, None, None]:
    """Refuse to reboot a host with ZFS pools into a kernel without ``zfs.ko`` (a DKMS build
    that failed or had no headers for the new kernel), which would leave the datastores
    without their pools.

    + boot: where the kernels are (the highest ``vmlinuz-<version>`` is the one booted)

    **Example:**

    .. code:: python

        zfs_module_for_next_kernel(name="ZFS module for the kernel the reboot starts")
    """
    yield zfs_module_command(boot)


#: ``is-system-running --wait`` returns when the boot has finished (running or degraded):
#: the checks below must not race the units that start after sshd.
WAIT_BOOT = ('state=$(timeout 900 systemctl is-system-running --wait); '
             'echo "boot finished: ${state:-timed out after 900 s}"')


#: What must hold after the reboot: (what, shell test). Each prints nothing on success.
POST_CHECKS: tuple[tuple[str, str], ...] = (
    ("Debian 13", "[ \"$(cut -d. -f1 /etc/debian_version)\" = 13 ]"),
    ("PBS 4", "proxmox-backup-manager versions | grep -q '^proxmox-backup-server 4\\.'"),
    ("services active", "systemctl is-active --quiet proxmox-backup.service "
                        "proxmox-backup-proxy.service"),
    ("datastores listed", "proxmox-backup-manager datastore list --output-format json "
                          ">/dev/null"),
    ("ZFS pools ONLINE", "! command -v zpool >/dev/null || "
                         "[ -z \"$(zpool list -H -o health | grep -vx ONLINE)\" ]"),
    ("firewall loaded", "! command -v nft >/dev/null || nft list tables | grep -q ."),
    ("agent running", "! systemctl cat pbs-agent.service >/dev/null 2>&1 || "
                      "systemctl is-active --quiet pbs-agent.service"),
)


def run_post_checks(state: Any, host: Any, checks: Sequence[tuple[str, str]]) -> bool:
    """Run each check; False with one line naming the first that fails."""
    for what, test in checks:
        status, output = host.run_shell_command(
            StringCommand("sh", "-c", QuoteString(test)), print_output=False,
            **privileges(state, host))
        if not status:
            text = " ".join(output.stderr.split())[:200]
            detail = f" ({text})" if text else ""
            host.log_styled(f"post-upgrade check failed: {what}{detail}; the host runs trixie "
                            f"now: fix it, then check with {shlex.join(['sh', '-c', test])}",
                            fg="red", log_func=logger.error)
            return False
    return True


@operation(is_idempotent=False)
def post_checks(checks: Sequence[tuple[str, str]] = POST_CHECKS
                ) -> Generator[str | PyinfraCommand, None, None]:
    """After the reboot: Debian 13, PBS 4, services, datastores, pools, firewall, agent.

    + checks: (what, shell test) pairs; the first failing one stops the run with one line

    **Example:**

    .. code:: python

        post_checks(name="Post-upgrade checks")
    """
    yield FunctionCommand(run_post_checks, (checks,), {})
