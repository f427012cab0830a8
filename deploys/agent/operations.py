"""Install the pbs_agent package tree shipped from the controller."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Generator, Mapping

from pyinfra import host
from pyinfra.api import FileUploadCommand, HiddenValue, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import File, FileContents, Sha256File

#: Where the agent's package tree is installed on the target.
LIB_DIR = "/usr/lib/pbs-agent"


@operation()
def agent_tree(tarball: str, digest: str,
               dest: str = LIB_DIR) -> Generator[str | PyinfraCommand, None, None]:
    """Unpack *tarball* into *dest* unless ``dest/VERSION`` already names *digest*.

    The tree is unpacked next to the old one and swapped in with one rename.

    + tarball: the ``pbs_agent-<digest>.tar`` on the controller (from
      :func:`deploys.agent.package.build_tarball`)
    + digest: the tree digest the tarball was built from; written to ``dest/VERSION``
    + dest: directory on the target that holds ``pbs_agent/``

    **Example:**

    .. code:: python

        agent_tree(name="pbs_agent", tarball="/tmp/pbs_agent-ab12.tar", digest="ab12…")
    """
    installed = host.get_fact(FileContents, path=f"{dest}/VERSION")
    if installed and installed[0].strip() == digest:
        host.noop(f"pbs_agent {digest[:12]} already installed in {dest}")
        return
    staged = f"/tmp/pbs_agent-{digest[:16]}.tar"
    yield FileUploadCommand(tarball, staged)
    script = ('set -e; dest="$1"; tar="$2"; digest="$3"; mkdir -p "$dest"; '
              'rm -rf "$dest/.new"; mkdir "$dest/.new"; tar -xf "$tar" -C "$dest/.new"; '
              'rm -rf "$dest/pbs_agent.old"; '
              'if [ -d "$dest/pbs_agent" ]; then mv "$dest/pbs_agent" "$dest/pbs_agent.old"; fi; '
              'mv "$dest/.new/pbs_agent" "$dest/pbs_agent"; rm -rf "$dest/.new" '
              '"$dest/pbs_agent.old" "$tar"; chmod -R u=rwX,go=rX "$dest"; '
              'python3 -m compileall -q "$dest/pbs_agent" >/dev/null || true; '
              'echo "$digest" > "$dest/VERSION"')
    yield StringCommand("sh", "-c", QuoteString(script), "agent-tree", QuoteString(dest),
                        QuoteString(staged), QuoteString(digest))


@operation()
def secret_file(path: str, secret: HiddenValue | str, owner: str, group: str,
                mode: str = "640") -> Generator[str | PyinfraCommand, None, None]:
    """Write *secret* to *path* without ever printing it (no diff, masked in logs).

    The content is compared by SHA-256, uploaded from memory into a 0700 directory and then
    moved into place with its final owner and mode.

    + path: the file on the target
    + secret: its content (a trailing newline is added); a ``HiddenValue`` stays masked in logs
    + owner: user owning the file
    + group: group owning the file
    + mode: octal file mode

    **Example:**

    .. code:: python

        secret_file(name="token", path="/etc/pbs-agent/api-token",
                    secret=HiddenValue("…"), owner="root", group="pbs-agent")
    """
    raw = secret.unmask() if isinstance(secret, HiddenValue) else str(secret)
    content = raw.encode() + b"\n"
    found = host.get_fact(File, path=path)
    info: Mapping[str, object] = found or {}
    current_ok = (host.get_fact(Sha256File, path=path) == hashlib.sha256(content).hexdigest()
                  and info.get("user") == owner and info.get("group") == group
                  and f"{info.get('mode')}" == mode)
    if current_ok:
        host.noop(f"{path} is current")
        return
    staging = "/root/.pbs-fleet-staging"
    yield StringCommand("install", "-d", "-m", "700", staging)
    yield FileUploadCommand(io.BytesIO(content), f"{staging}/secret")
    yield StringCommand("install", "-o", owner, "-g", group, "-m", mode,
                        f"{staging}/secret", QuoteString(path), "&&", "rm", "-f",
                        f"{staging}/secret")
