"""Install an nftables ruleset file: checked with ``nft -c`` before it is ever loaded."""

from __future__ import annotations

from collections.abc import Generator
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import FileContents

from deploys.nftables.facts import NftTableComment


@operation()
def nft_ruleset(path: str, content: str, family: str, table: str,
                comment: str) -> Generator[str | PyinfraCommand, None, None]:
    """Write *content* to *path* and load it, unless file and live table are current.

    The new file is uploaded next to *path*, validated with ``nft -c -f``, and only then moved
    into place and loaded: an invalid ruleset never reaches the kernel.

    + path: the ruleset file on the target
    + content: the ruleset text
    + family: nftables family of the table (``inet``)
    + table: name of the table the ruleset defines
    + comment: the table's comment when current (it carries the hash of the rules)

    **Example:**

    .. code:: python

        nft_ruleset(name="Firewall", path="/etc/nftables.d/pbs-fleet.nft", content=rules,
                    family="inet", table="pbs_fleet", comment="pbs-fleet sha256:…")
    """
    on_disk = host.get_fact(FileContents, path=path)
    file_ok = on_disk is not None and "\n".join(on_disk) + "\n" == content
    live_ok = host.get_fact(NftTableComment, family=family, table=table) == comment
    if file_ok and live_ok:
        host.noop(f"nftables table {family} {table} is loaded and current")
        return
    staged = f"{path}.new"
    yield StringCommand("mkdir", "-p", QuoteString(path.rsplit("/", 1)[0]))
    yield FileUploadCommand(StringIO(content), staged, remote_temp_filename=None)
    yield StringCommand("nft", "-c", "-f", QuoteString(staged))
    yield StringCommand("chmod", "644", QuoteString(staged), "&&",
                        "mv", "-f", QuoteString(staged), QuoteString(path))
    yield StringCommand("nft", "-f", QuoteString(path))
