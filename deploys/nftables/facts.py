"""What nftables has loaded right now."""

from __future__ import annotations

import re
from typing import Any

from pyinfra.api import FactBase

_COMMENT = re.compile(r'comment\s+"([^"]*)"')


class NftTableComment(FactBase[str]):
    """The comment of a loaded nftables table ("" if the table is not loaded).

    Our table carries the hash of its own rules in its comment, so a reload is needed
    exactly when the comment differs.

    + family: the table's family (``inet``)
    + table: the table's name

    **Example:**

    .. code:: python

        host.get_fact(NftTableComment, family="inet", table="pbs_fleet")
        # "pbs-fleet sha256:3f2a…"
    """

    @staticmethod
    def default() -> str:
        return ""

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return "nft"

    def command(self, family: str, table: str) -> str:
        return f"nft list table {family} {table} 2>/dev/null | grep -m1 'comment' || true"

    def process(self, output: list[str]) -> str:
        for line in output:
            found = _COMMENT.search(line)
            if found:
                return found.group(1)
        return ""
