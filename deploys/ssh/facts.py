"""The sshd on the host: its OpenSSH version and its effective configuration (``sshd -T``)."""

from __future__ import annotations

import re

from pyinfra.api import FactBase, QuoteString, StringCommand

_VERSION = re.compile(r"(?:OpenSSH_|^(?:\d+:)?)(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``1:9.2p1-2+deb12u3`` or ``OpenSSH_10.0p2 Debian-7``; None."""
    match = _VERSION.search(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


class SshdVersion(FactBase[tuple[int, int] | None]):
    """OpenSSH version of the installed sshd as ``(major, minor)``, None when unknown.

    Read from the ``openssh-server`` package, else from ``ssh -V`` (same source package).

    **Example:**

    .. code:: python

        host.get_fact(SshdVersion)  # (9, 2) on Debian 12, (10, 0) on Debian 13
    """

    @staticmethod
    def default() -> tuple[int, int] | None:
        return None

    def command(self) -> StringCommand:
        script = ("v=$(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null); "
                  '[ -n "$v" ] || v=$(ssh -V 2>&1); echo "sshd-version=$v"')
        return StringCommand("sh", "-c", QuoteString(script))

    def process(self, output: list[str]) -> tuple[int, int] | None:
        text = "\n".join(output).partition("sshd-version=")[2]
        return parse_version(text)


class SshdEffective(FactBase[dict[str, str]]):
    """The effective global sshd configuration, ``sshd -T``: ``{keyword: value}`` (lower case
    keywords as sshd prints them; a keyword given several times keeps its values joined by
    ``" "``). Empty when sshd cannot print it (not installed, config rejected).

    **Example:**

    .. code:: python

        host.get_fact(SshdEffective)["allowtcpforwarding"]  # "no"
    """

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def command(self) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString("sshd -T 2>/dev/null || true"))

    def process(self, output: list[str]) -> dict[str, str]:
        return parse_effective(output)


def parse_effective(lines: list[str]) -> dict[str, str]:
    """``sshd -T`` lines as ``{keyword: value}`` (repeated keywords joined by a space)."""
    out: dict[str, str] = {}
    for line in lines:
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = f"{out[key]} {value}" if key in out else value
    return out
