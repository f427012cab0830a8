"""Install the agent's Debian package and its secret files."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Generator, Mapping
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, HiddenValue, QuoteString, StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, Sha256File

#: Where uploaded agent packages are kept on the target (one file per version).
CACHE_DIR = "/var/cache/pbs-fleet"
#: apt-get as the deploy runs it: no questions, the admin's conffiles kept.
APT_GET = ("DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef "
           "-o Dpkg::Options::=--force-confold")


@operation()
def agent_package(src: str, version: str, sha256: str,
                  cache_dir: str = CACHE_DIR) -> Generator[str | PyinfraCommand, None, None]:
    """Install the agent's Debian package with ``apt-get install ./pbs-agent_….deb``, so its
    dependencies come from the host's own mirror; nothing happens when that very file (same
    SHA-256) is already there and its version is installed.

    + src: the ``pbs-agent_<version>_all.deb`` on the controller (``make deb``)
    + version: its version (``dpkg-deb -f DEB Version``)
    + sha256: its SHA-256: a rebuild of the same version is installed again
    + cache_dir: directory on the target that keeps the uploaded package

    **Example:**

    .. code:: python

        agent_package(name="pbs-agent package", src="dist/pbs-agent_0.1.0_all.deb",
                      version="0.1.0", sha256="ab12…")
    """
    dest = f"{cache_dir}/{Path(src).name}"
    uploaded = host.get_fact(Sha256File, path=dest) == sha256
    installed = version in (host.get_fact(DebPackages).get("pbs-agent") or set())
    if uploaded and installed:
        host.noop(f"pbs-agent {version} installed from {dest}")
        return
    if not uploaded:
        yield StringCommand("install", "-d", "-m", "755", cache_dir)
        yield FileUploadCommand(src, dest)
    # --reinstall: a rebuild of an installed version (same number, new file) goes in too
    yield StringCommand(APT_GET, "install", "--reinstall", QuoteString(dest))


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
