"""Apply sysctl settings live, verifying each value reads back."""

from __future__ import annotations

from collections.abc import Generator, Mapping

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import FileContents

from deploys.sysctl.facts import SysctlState


def normalise(value: object) -> str:
    """``"4096  87380\t6291456"`` → ``"4096 87380 6291456"`` (how /proc/sys prints it)."""
    return " ".join(str(value).split())


def set_command(key: str, value: str) -> StringCommand:
    """``sysctl -w`` then read back: procps exits 0 even when the kernel refuses the value."""
    script = ('sysctl -q -w "$1=$2" || exit 1; got=$(sysctl -n "$1" | tr -s "\\t " "  "); '
              'if [ "$got" != "$2" ]; then echo "sysctl $1: kernel kept \'$got\' instead of '
              '\'$2\' (not settable on this host)" >&2; exit 1; fi')
    return StringCommand("sh", "-c", QuoteString(script), "sysctl-set",
                         QuoteString(key), QuoteString(value))


@operation()
def sysctl_apply(settings: Mapping[str, object],
                 skip_unsettable: bool = False) -> Generator[str | PyinfraCommand, None, None]:
    """Make the live values match *settings*; each value is read back after it is set.

    + settings: kernel parameter → value
    + skip_unsettable: (TEST-ONLY data switch) report and skip keys this host cannot write
      instead of failing

    **Example:**

    .. code:: python

        sysctl_apply(name="Apply sysctl", settings={"net.core.somaxconn": 4096})
    """
    wanted = {k: normalise(v) for k, v in settings.items()}
    live = host.get_fact(SysctlState, keys=sorted(wanted))
    for key, value in sorted(wanted.items()):
        state = live.get(key, {"value": None, "writable": False})
        if state["value"] == value:
            continue
        if skip_unsettable and not state["writable"]:
            logger.warning(f"{host.name}: sysctl {key} not settable on this host, skipped "
                           "(test_only_sysctl_skip_unsettable)")
            host.noop(f"sysctl {key} skipped: not settable here")
            continue
        yield set_command(key, value)


@operation()
def zfs_arc_live(arc_max_bytes: int) -> Generator[str | PyinfraCommand, None, None]:
    """Set ``zfs_arc_max`` on the loaded ZFS module (no-op when the module is not loaded).

    + arc_max_bytes: the ARC limit in bytes

    **Example:**

    .. code:: python

        zfs_arc_live(name="ARC limit", arc_max_bytes=8 << 30)
    """
    param = "/sys/module/zfs/parameters/zfs_arc_max"
    current = host.get_fact(FileContents, path=param)
    if current is None:
        host.noop("zfs module not loaded: ARC limit applies at next module load")
        return
    if normalise(" ".join(current)) != str(arc_max_bytes):
        yield StringCommand("echo", str(arc_max_bytes), ">", param)
