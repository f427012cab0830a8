"""Install an sshd drop-in only if ``sshd -t`` accepts the result, reload sshd, then verify the
effective configuration with ``sshd -T``."""

from __future__ import annotations

from collections.abc import Generator
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import FileContents

from deploys.ssh.facts import SshdEffective


def check_and_reload_command(path: str, backup: str) -> StringCommand:
    """``sshd -t``; on failure restore the previous drop-in (or none) and fail, else reload."""
    script = ('p="$1"; b="$2"; if sshd -t; then systemctl reload ssh.service; exit 0; fi; '
              'echo "sshd -t rejected $p: previous configuration restored" >&2; '
              'if [ -e "$b" ]; then mv -f "$b" "$p"; else rm -f "$p"; fi; exit 1')
    return StringCommand("sh", "-c", QuoteString(script), "sshd-check", QuoteString(path),
                         QuoteString(backup))


def verify_command(path: str, expected: dict[str, str]) -> StringCommand:
    """Fail, naming each keyword, unless ``sshd -T`` prints every ``keyword value`` expected."""
    script = ('p="$1"; shift; out=$(sshd -T) || { echo "sshd -T failed" >&2; exit 1; }; '
              'bad=0; for want in "$@"; do '
              'printf "%s\\n" "$out" | grep -qxF -- "$want" && continue; k=${want%% *}; '
              'got=$(printf "%s\\n" "$out" | grep -m1 "^$k "); '
              'echo "sshd -T: ${got:-$k unset}, expected: $want" >&2; bad=1; done; '
              '[ $bad = 0 ] || echo "$p is not in effect: an earlier file in '
              '/etc/ssh/sshd_config.d or a setting before the Include in /etc/ssh/sshd_config '
              'overrides it; remove that setting and run the deploy again" >&2; exit $bad')
    return StringCommand("sh", "-c", QuoteString(script), "sshd-verify", QuoteString(path),
                         *(QuoteString(f"{k} {v}") for k, v in expected.items()))


def mismatches(effective: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Keywords whose effective value differs from the expected one (pure)."""
    return [k for k, v in expected.items() if effective.get(k) != v]


@operation()
def sshd_dropin(path: str, content: str,
                expected: dict[str, str] | None = None) -> Generator[str | PyinfraCommand, None,
                                                                     None]:
    """Write the sshd drop-in *path*; keep it only if ``sshd -t`` passes; reload sshd; then
    check that ``sshd -T`` prints every *expected* value.

    A rejected drop-in is replaced by the previous one (or removed) and the operation fails. A
    drop-in that is current but not in effect (another file overrides it) fails too, naming
    the keywords.

    + path: the drop-in file under ``/etc/ssh/sshd_config.d``
    + content: its text
    + expected: ``{keyword: value}`` as ``sshd -T`` prints them (lower-case keywords)

    **Example:**

    .. code:: python

        sshd_dropin(name="sshd hardening", path="/etc/ssh/sshd_config.d/10-x.conf",
                    content="PasswordAuthentication no\\n",
                    expected={"passwordauthentication": "no"})
    """
    expected = expected or {}
    current = host.get_fact(FileContents, path=path)
    if current is not None and "\n".join(current) + "\n" == content:
        if not mismatches(host.get_fact(SshdEffective), expected):
            host.noop(f"{path} is current and in effect (sshd -T)")
            return
        yield verify_command(path, expected)  # fails, naming what overrides the drop-in
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
    if expected:
        yield verify_command(path, expected)
