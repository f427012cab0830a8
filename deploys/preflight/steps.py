"""Preflight: survey the host and refuse (one line, before any change) if it cannot run PBS."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from deploys import schema
from deploys.conventions import DEBIAN_RELEASES, debian_release
from deploys.fact_overrides import OVERRIDE_FILE
from deploys.host_facts import HostSurvey

GIB = 1024**3
RAID_DRIVERS = ("megaraid_sas", "hpsa", "aacraid", "smartpqi")
HBA_DRIVERS = ("mpt3sas", "mpt2sas")
_RAID_MODEL = re.compile(r"PERC|LOGICAL VOLUME|ServeRAID|MR9\d{3}|RAID", re.IGNORECASE)

CHECKS = ("arch", "debian", "aes_ni", "ram", "ecc", "controller", "nic", "zfs_module")


def _overrides_ok(value: Any) -> str | None:
    unknown = [c for c in value if c not in CHECKS]
    return f"unknown check(s) {unknown}; known: {', '.join(CHECKS)}" if unknown else None


KEYS = schema.register(__name__, {
    "preflight_override": schema.Key(
        list, default=[], item=str, check=_overrides_ok,
        doc="Preflight checks to turn from refusals into warnings (for the brave), e.g. "
            "`['ram', 'nic']`. Names: " + ", ".join(CHECKS) + "."),
    "preflight_min_ram_gib": schema.Key(
        int, default=8, doc="Refuse below this much RAM (GiB); warn below 32."),
})


@dataclass
class Verdict:
    """The outcome of preflight: refusals stop the run, warnings are printed."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    codename: str = ""
    pbs_major: int = 0

    def add(self, check: str, message: str, overridden: list[str]) -> None:
        if check in overridden:
            self.warnings.append(f"{message} (refusal overridden by preflight_override)")
        else:
            self.refusals.append(message)


def _check_platform(s: dict[str, Any], v: Verdict, over: list[str]) -> None:
    if s.get("arch") not in ("amd64", "x86_64"):
        v.add("arch", f"architecture {s.get('arch') or 'unknown'} is not amd64", over)
    major = str(s.get("os_version", "")).split(".")[0]
    release = debian_release(major) if major.isdigit() else None
    if s.get("os_id") != "debian" or release is None:
        names = " or ".join(r.version for r in DEBIAN_RELEASES)
        v.add("debian", f"OS {s.get('os_id') or '?'} {s.get('os_version') or '?'} "
                        f"is not Debian {names}", over)
    else:
        v.codename, v.pbs_major = release.codename, release.pbs_major
    if not s.get("aes_ni"):
        v.add("aes_ni", "CPU lacks AES-NI (PBS encryption and TLS would crawl)", over)


def _check_memory(s: dict[str, Any], v: Verdict, over: list[str], min_gib: int) -> None:
    ram = int(s.get("mem_total_bytes") or 0)
    # MemTotal excludes kernel reservations: allow 5 % below the nominal size.
    if ram < min_gib * GIB * 0.95:
        v.add("ram", f"RAM {ram / GIB:.1f} GiB is below {min_gib} GiB", over)
    elif ram < 32 * GIB * 0.95:
        v.warnings.append(f"RAM {ram / GIB:.1f} GiB is below the recommended 32 GiB")
    if not s.get("edac"):
        v.warnings.append("no ECC memory controller found (EDAC): ECC RAM is recommended")


def _check_storage(s: dict[str, Any], v: Verdict, over: list[str]) -> None:
    raid = [d for d in s.get("storage_drivers", []) if d in RAID_DRIVERS]
    if raid:
        v.add("controller", f"RAID controller driver {', '.join(raid)} found: ZFS needs "
                            "disks on an HBA in IT mode (mpt3sas/mpt2sas)", over)
    hidden = [m for m in s.get("disk_models", []) if _RAID_MODEL.search(m)]
    if hidden:
        v.add("controller", f"disks behind hardware RAID: {'; '.join(hidden)}", over)


def _check_network(s: dict[str, Any], v: Verdict, over: list[str]) -> None:
    nics = s.get("nics") or {}
    known = {n: sp for n, sp in nics.items() if isinstance(sp, int) and sp > 0}
    if not known:
        v.warnings.append("no physical NIC with a known link speed found")
        return
    best_name, best = max(known.items(), key=lambda kv: kv[1])
    if best < 1000:
        v.add("nic", f"fastest NIC {best_name} links at {best} Mb/s (< 1 Gb/s)", over)
    elif best < 10000:
        v.warnings.append(f"fastest NIC {best_name} links at {best} Mb/s (< 10 Gb/s)")


def _check_zfs(s: dict[str, Any], v: Verdict, over: list[str], needs_zfs: bool) -> None:
    kernel = s.get("kernel", "?")
    if s.get("zfs_loaded") or s.get("zfs_modinfo"):
        return
    if f", {kernel}," in s.get("dkms", "") and "installed" in s.get("dkms", ""):
        return
    if s.get("headers"):
        v.warnings.append(f"ZFS module not built yet for kernel {kernel}: DKMS will build it")
        return
    if s.get("headers_available"):
        v.warnings.append(f"ZFS module not built yet: linux-headers-{kernel} will be installed "
                          "and DKMS will build it")
        return
    message = (f"ZFS module cannot be loaded: no zfs module and no headers for the running "
               f"kernel {kernel} (install linux-headers-{kernel} or boot the newest kernel)")
    if needs_zfs:
        v.add("zfs_module", message, over)
    else:
        v.warnings.append(message + "; no zfs_pools configured, continuing")


def evaluate(survey: dict[str, Any], overridden: list[str], min_ram_gib: int = 8,
             needs_zfs: bool = True) -> Verdict:
    """Pure preflight logic: the survey (from :class:`HostSurvey`) in, a :class:`Verdict` out."""
    v = Verdict()
    _check_platform(survey, v, overridden)
    _check_memory(survey, v, overridden, min_ram_gib)
    _check_storage(survey, v, overridden)
    _check_network(survey, v, overridden)
    _check_zfs(survey, v, overridden, needs_zfs)
    return v


@deploy("Preflight")
def preflight() -> dict[str, Any]:
    """Survey the host; raise DeployError (nothing executed anywhere) on any refusal.

    Returns the survey, with ``codename`` and ``pbs_major`` added, for the later steps.
    """
    survey = host.get_fact(HostSurvey)
    if survey.get("overridden"):
        logger.warning(f"{host.name}: TEST-ONLY fact overrides in effect "
                       f"({OVERRIDE_FILE}): {', '.join(survey['overridden'])}")
    verdict = evaluate(survey, schema.value(host, "preflight_override"),
                       schema.value(host, "preflight_min_ram_gib"),
                       bool(schema.value(host, "zfs_pools")))
    for warning in verdict.warnings:
        logger.warning(f"{host.name}: preflight warning: {warning}")
    if verdict.refusals:
        raise DeployError(f"{host.name}: preflight refused: {'; '.join(verdict.refusals)}")
    return {**survey, "codename": verdict.codename, "pbs_major": verdict.pbs_major}
