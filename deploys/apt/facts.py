"""File facts pyinfra lacks."""

from __future__ import annotations

from pyinfra.facts.files import HashFileFactBase


class Sha512File(HashFileFactBase, digits=128, cmds=["sha512sum", "shasum -a 512"]):
    """SHA-512 of a file, None if absent.

    Example: ``host.get_fact(Sha512File, path="/etc/apt/keyrings/x.gpg")`` → ``"7da6…"``
    """
