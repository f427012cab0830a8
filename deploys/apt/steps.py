"""Apt: Proxmox keyring (pinned), deb822 sources for PBS 3/4, then the node's packages."""

from __future__ import annotations

from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files
from pyinfra.operations.util import any_changed

from deploys import schema, templates
from deploys.agent.steps import AGENT_PACKAGES
from deploys.apt.operations import apt_update, pinned_keyring

ENTERPRISE_URI = "https://enterprise.proxmox.com/debian/pbs"
#: Published keyring per Debian codename and its pinned checksum. bookworm: the SHA-512 from
#: the PBS 3 documentation. trixie: the SHA-256 published in PBS 4's documentation
#: (docs/package-repositories.rst of rust-proxmox-backup 4.2.3, "Verify the SHA256 checksum";
#: no SHA-512 is published for it).
KEYRINGS: dict[str, tuple[str, str | None]] = {
    "bookworm": ("https://enterprise.proxmox.com/debian/proxmox-release-bookworm.gpg",
                 "7da6fe34168adc6e479327ba517796d4702fa2f8b4f0a9833f5ea6e6b48f6507"
                 "a6da403a274fe201595edc86a84463d50383d07f64bdde2e3658108db7d6dc87"),
    "trixie": ("https://enterprise.proxmox.com/debian/proxmox-archive-keyring-trixie.gpg",
               "sha256:136673be77aba35dcce385b28737689ad64fd785a797e57897589aed08db6e45"),
}
BASE_PACKAGES = ["proxmox-backup-server", "zfsutils-linux", "nftables", "smartmontools",
                 "prometheus-node-exporter"]
ZFS_MODULE_PACKAGES = {"dkms": ["zfs-dkms", "linux-headers-amd64"],
                       "proxmox-kernel": ["proxmox-default-kernel"], "present": []}
SOURCES_DIR = "/etc/apt/sources.list.d"


KEYS = schema.register(__name__, {
    "pbs_repository": schema.Key(
        str, default="no-subscription", check=schema.one_of("no-subscription", "enterprise"),
        doc="PBS package repository: `no-subscription` or `enterprise` (needs a subscription)."),
    "pbs_has_subscription": schema.Key(
        bool, default=False,
        doc="The node has a PBS subscription. Without one the enterprise source is written "
            "but disabled (`Enabled: no`)."),
    "apt_proxmox_mirror": schema.Key(
        str, default="http://download.proxmox.com/debian/pbs",
        doc="URI of the no-subscription repository (a local mirror, if you have one)."),
    "apt_proxmox_keyring_url": schema.Key(
        (str, type(None)), default=None,
        doc="Where the Proxmox release keyring is fetched from; default: Proxmox's URL for the "
            "host's Debian codename."),
    "apt_proxmox_keyring_sha512": schema.Key(
        (str, type(None)), default=None,
        doc="Pinned checksum of that keyring (SHA-512 hex, or sha256:<hex>). Default: the "
            "documented checksum for bookworm (SHA-512) and trixie (SHA-256, PBS 4 docs). "
            "A mismatch stops the run."),
    "apt_debian_contrib": schema.Key(
        bool, default=True, doc="Add Debian's `contrib` component (ZFS lives there)."),
    "apt_debian_mirror": schema.Key(str, default="http://deb.debian.org/debian",
                                    doc="Debian mirror for the contrib source."),
    "apt_debian_security_mirror": schema.Key(
        str, default="http://security.debian.org/debian-security",
        doc="Debian security mirror for the contrib source."),
    "zfs_module": schema.Key(
        str, default="dkms", check=schema.one_of("dkms", "proxmox-kernel", "present"),
        doc="Where the ZFS kernel module comes from: `dkms` (zfs-dkms + headers), "
            "`proxmox-kernel` (proxmox-default-kernel; reboot before pools can be built) or "
            "`present` (already there, e.g. a prebuilt image)."),
    "apt_acquire_timeout": schema.Key(
        int, default=30, check=lambda v: None if v >= 5 else "must be at least 5 seconds",
        doc="Seconds apt waits on a silent mirror/proxy before retrying (3 retries); written "
            "to /etc/apt/apt.conf.d/80pbs-fleet.conf."),
    "apt_extra_packages": schema.Key(list, default=[], item=str,
                                     doc="More Debian packages to install."),
    "test_only_skip_packages": schema.Key(
        list, default=[], item=str, test_only=True,
        doc="TEST-ONLY. Packages left out of the install list (the sandbox cannot reach the "
            "Proxmox repository, so tests skip `proxmox-backup-server` and the ZFS packages)."),
    "test_only_proxmox_sources_inactive": schema.Key(
        bool, default=False, test_only=True,
        doc="TEST-ONLY. Write the Proxmox sources with `Enabled: no` so apt never contacts the "
            "unreachable repository; files and keyring are still managed and checked."),
})


def keyring_for(codename: str, url: str | None, sha512: str | None) -> tuple[str, str]:
    """(url, sha512) for *codename*; DeployError when no checksum is pinned."""
    default_url, default_sum = KEYRINGS.get(codename, (None, None))
    url, sha512 = url or default_url, sha512 or default_sum
    if not url:
        raise DeployError(f"{host.name}: no Proxmox keyring known for Debian {codename}: "
                          "set apt_proxmox_keyring_url and apt_proxmox_keyring_sha512")
    if not sha512:
        raise DeployError(f"{host.name}: inventory key 'apt_proxmox_keyring_sha512': required "
                          f"for Debian {codename} (no checksum is pinned for {url})")
    return url, sha512


def sources(codename: str, keyring: str, data: dict[str, Any]) -> dict[str, str]:
    """File name -> deb822 content for the PBS sources (pure; see templates/apt). The Debian
    codename is the only release-dependent word (PBS 3 is bookworm's, PBS 4 trixie's), so the
    upgrade's suite switch turns bookworm's files into exactly what is written for trixie."""
    inactive = data["test_only_proxmox_sources_inactive"]
    note = ("TEST-ONLY: test_only_proxmox_sources_inactive forces Enabled: no" if inactive
            else "")
    enterprise = data["pbs_repository"] == "enterprise" and data["pbs_has_subscription"]
    common = {"codename": codename, "keyring": keyring, "note": note}
    out = {
        "pbs-enterprise.sources": templates.render(
            "apt/pbs.sources.j2", uri=ENTERPRISE_URI, component="pbs-enterprise",
            enabled=enterprise and not inactive, **common),
    }
    if not enterprise:
        out["pbs-no-subscription.sources"] = templates.render(
            "apt/pbs.sources.j2", uri=data["apt_proxmox_mirror"],
            component="pbs-no-subscription", enabled=not inactive, **common)
    return out


def package_list(data: dict[str, Any], kernel: str = "") -> list[str]:
    """The packages this node needs, minus the TEST-ONLY skip list.

    With ``zfs_module = "dkms"`` the headers of the running *kernel* are added, so DKMS builds
    the module for the kernel that runs now (linux-headers-amd64 only covers the newest).
    """
    module = list(ZFS_MODULE_PACKAGES[data["zfs_module"]])
    if data["zfs_module"] == "dkms" and kernel:
        module.append(f"linux-headers-{kernel}")
    wanted = [*BASE_PACKAGES, *module, *AGENT_PACKAGES, *data["apt_extra_packages"]]
    skip = set(data["test_only_skip_packages"])
    return [p for p in dict.fromkeys(wanted) if p not in skip]


@deploy("Apt")
def apt_step(codename: str, kernel: str = "") -> None:
    """Keyring, sources, packages. Nothing changes on a converged host."""
    data = {k: schema.value(host, k) for k in KEYS}
    url, sha512 = keyring_for(codename, data["apt_proxmox_keyring_url"],
                              data["apt_proxmox_keyring_sha512"])
    keyring_path = f"/etc/apt/keyrings/proxmox-release-{codename}.gpg"
    files.put(name="Apt timeouts and retries", dest="/etc/apt/apt.conf.d/80pbs-fleet.conf",
              mode="644", src=templates.render_io("apt/80pbs-fleet.conf.j2", retries=3,
                                                  timeout=data["apt_acquire_timeout"]))
    changes = [pinned_keyring(name="Proxmox release keyring (pinned checksum)", url=url,
                              sha512=sha512, dest=keyring_path)]
    for filename, content in sources(codename, keyring_path, data).items():
        changes.append(files.put(name=f"Apt source {filename}", src=StringIO(content),
                                 dest=f"{SOURCES_DIR}/{filename}", mode="644"))
    if data["pbs_repository"] == "enterprise" and data["pbs_has_subscription"]:
        changes.append(files.file(name="No no-subscription source with a subscription",
                                  path=f"{SOURCES_DIR}/pbs-no-subscription.sources",
                                  present=False))
    if data["apt_debian_contrib"]:
        changes.append(files.put(
            name="Apt source debian-contrib.sources", dest=f"{SOURCES_DIR}/debian-contrib.sources",
            src=templates.render_io("apt/debian-contrib.sources.j2", codename=codename,
                                    mirror=data["apt_debian_mirror"],
                                    security_mirror=data["apt_debian_security_mirror"]),
            mode="644"))
    apt_update(name="Apt update after source changes", _if=any_changed(*changes))
    wanted = package_list(data, kernel)
    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in wanted if p not in installed]
    if missing:
        apt_update(name="Apt update before installing packages",
                   _if=lambda: not any(op.did_change() for op in changes))
    apt.packages(name="Install PBS node packages", packages=wanted, no_recommends=True)
    for legacy in ("pbs-enterprise.list", "pbs-no-subscription.list"):
        files.file(name=f"Remove legacy {legacy} (replaced by .sources)",
                   path=f"{SOURCES_DIR}/{legacy}", present=False)
