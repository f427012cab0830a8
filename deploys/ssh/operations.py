"""Install an sshd drop-in only if ``sshd -t`` accepts the result, then reload sshd."""

from __future__ import annotations

from collections.abc import Generator
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import FileContents


def check_and_reload_command(path: str, backup: str) -> StringCommand:
    """``sshd -t``; on failure restore the previous drop-in (or none) and fail, else reload."""
    script = ('p="$1"; b="$2"; if sshd -t; then systemctl reload ssh.service; exit 0; fi; '
              'echo "sshd -t rejected $p: previous configuration restored" >&2; '
              'if [ -e "$b" ]; then mv -f "$b" "$p"; else rm -f "$p"; fi; exit 1')
    return StringCommand("sh", "-c", QuoteString(script), "sshd-check", QuoteString(path),
                         QuoteString(backup))


@operation()
def sshd_dropin(path: str, content: str) -> Generator[str | PyinfraCommand, None, None]:
    """Write the sshd drop-in *path*; keep it only if ``sshd -t`` passes; reload sshd.

    A rejected drop-in is replaced by the previous one (or removed) and the operation fails.

    + path: the drop-in file under ``/etc/ssh/sshd_config.d``
    + content: its text

    **Example:**

    .. code:: python

        sshd_dropin(name="sshd hardening", path="/etc/ssh/sshd_config.d/10-x.conf",
                    content="PasswordAuthentication no\\n")
    """
    current = host.get_fact(FileContents, path=path)
    if current is not None and "\n".join(current) + "\n" == content:
        host.noop(f"{path} is current")
        return
    backup = f"{path}.pbs-fleet-previous"
    if current is not None:
        yield StringCommand("cp", "-p", QuoteString(path), QuoteString(backup))
    else:
        yield StringCommand("rm", "-f", QuoteString(backup))
    yield FileUploadCommand(StringIO(content), path)
    yield StringCommand("chmod", "644", QuoteString(path))
    yield check_and_reload_command(path, backup)
    yield StringCommand("rm", "-f", QuoteString(backup))
