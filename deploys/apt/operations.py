"""Fetch a signing keyring once and install it only if it matches a pinned checksum.

A pin is a SHA-512 hex digest, or ``sha256:<hex>`` where only a SHA-256 is published (the
trixie keyring: PBS 4's docs/package-repositories.rst publishes SHA-256 and MD5 only).
"""

from __future__ import annotations

import re
from collections.abc import Generator

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import Sha256File

from deploys.apt.facts import Sha512File

_PIN = re.compile(r"^(?:sha256:[0-9a-f]{64}|(?:sha512:)?[0-9a-f]{128})$")


def split_pin(pin: str) -> tuple[str, str]:
    """``(algorithm, hex)`` of a pin: ``sha256:<hex>``, ``sha512:<hex>`` or a bare SHA-512."""
    algorithm, sep, digest = pin.lower().partition(":")
    return (algorithm, digest) if sep else ("sha512", algorithm)


def fetch_command(url: str, sha512: str, dest: str) -> StringCommand:
    """Shell that downloads *url*, checks the checksum, and only then installs it at *dest*.

    A mismatch prints one line naming both checksums and exits 1: nothing is installed.
    """
    tmp = f"{dest}.download"
    algorithm, digest = split_pin(sha512)
    script = (
        'set -e; url="$1"; want="$2"; dest="$3"; tmp="$4"; '
        'mkdir -p "$(dirname "$dest")"; '
        'if command -v curl >/dev/null; then curl -fsSL --retry 2 -o "$tmp" "$url"; '
        'else wget -q -O "$tmp" "$url"; fi; '
        f'got=$({algorithm}sum "$tmp" | cut -d" " -f1); '
        'if [ "$got" != "$want" ]; then rm -f "$tmp"; '
        f'echo "keyring checksum mismatch for $url: expected {algorithm} $want, got $got" >&2; '
        'exit 1; fi; '
        'chmod 0644 "$tmp"; mv -f "$tmp" "$dest"'
    )
    return StringCommand("sh", "-c", QuoteString(script), "keyring",
                         QuoteString(url), QuoteString(digest), QuoteString(dest),
                         QuoteString(tmp))


@operation()
def pinned_keyring(url: str, sha512: str, dest: str) -> Generator[str | PyinfraCommand, None, None]:
    """Install the keyring at *url* to *dest* if *dest* does not already match its pin.

    A download whose checksum differs is never installed (see :func:`fetch_command`).

    + url: where the keyring is fetched from
    + sha512: the pin: SHA-512 hex, or ``sha256:<hex>`` when only SHA-256 is published
    + dest: the keyring file on the target

    **Example:**

    .. code:: python

        pinned_keyring(name="Proxmox keyring",
                       url="https://enterprise.proxmox.com/debian/proxmox-release-bookworm.gpg",
                       sha512="7da6fe34…", dest="/etc/apt/keyrings/proxmox-release-bookworm.gpg")
    """
    sha512 = sha512.lower()
    if not _PIN.match(sha512):
        raise OperationError(f"{host.name}: keyring checksum for {url} is not a SHA-512 hex "
                             "digest (or sha256:<hex>)")
    algorithm, digest = split_pin(sha512)
    fact = Sha256File if algorithm == "sha256" else Sha512File
    if host.get_fact(fact, path=dest) == digest:
        host.noop(f"keyring {dest} matches the pinned checksum")
        return
    yield fetch_command(url, sha512, dest)


#: Random 3-22 s: hosts that stalled together must not retry in the same second.
JITTER = "$((3 + $(od -An -N1 -tu1 /dev/urandom) % 20))"


def update_command(timeout: int, attempts: int = 3, pause: str = JITTER) -> str:
    """``apt-get update`` that can neither hang the deploy nor give up on the first stall.

    Each attempt is killed after *timeout* seconds (a proxy that drops a connection can leave
    apt waiting forever); a failed attempt is retried after a random 3-22 s pause.
    """
    return (f"for i in $(seq {attempts}); do "
            f"timeout -k 10 {timeout} apt-get update -q && exit 0; "
            "echo \"apt-get update attempt $i failed or timed out\" >&2; "
            f"sleep {pause}; done; exit 1")


@operation(is_idempotent=False)
def apt_update(timeout: int = 120) -> Generator[str | PyinfraCommand, None, None]:
    """Refresh apt's lists (bounded time, retried). Use with ``_if=`` for idempotent deploys.

    + timeout: seconds after which one ``apt-get update`` attempt is killed

    **Example:**

    .. code:: python

        apt_update(name="Apt update", timeout=120, _if=any_changed(sources))
    """
    yield update_command(timeout)
