"""Apt facts pyinfra lacks: the SHA-512 of a file (keyrings are pinned by SHA-512)."""

from __future__ import annotations

from pyinfra.facts.files import HashFileFactBase


class Sha512File(HashFileFactBase, digits=128, cmds=["sha512sum", "shasum -a 512"]):
    """SHA-512 of a file, None if absent.

    + path: the file on the target

    **Example:**

    .. code:: python

        host.get_fact(Sha512File, path="/etc/apt/keyrings/x.gpg")  # "7da6…"
    """
