"""`pbs-agent doctor`: the PBS troubleshooting matrix as checks with a verdict, evidence and fix.

Each check family lives in its own module; :data:`CHECKS` lists them in report order. A check
never raises for what it finds: an unreadable source is evidence (usually a warning).
"""

from __future__ import annotations

from collections.abc import Callable

from . import (
    certificate,
    chunks,
    datastores,
    gc,
    hardware,
    network,
    permissions,
    prune,
    space,
    zfs,
)
from .model import Check, DoctorEnv, Endpoint, Verdict, worst

CHECKS: dict[str, Callable[[DoctorEnv], Check]] = {
    datastores.ID: datastores.check,
    permissions.ID: permissions.check,
    chunks.ID: chunks.check,
    space.ID: space.check,
    network.ID_PORT: network.check_port,
    certificate.ID: certificate.check,
    zfs.ID_POOL: zfs.check_pool,
    zfs.ID_MODULE: zfs.check_module,
    hardware.ID_ECC: hardware.check_ecc,
    hardware.ID_AES: hardware.check_aes,
    zfs.ID_ARC: zfs.check_arc,
    network.ID_LATENCY: network.check_latency,
    gc.ID: gc.check,
    prune.ID: prune.check,
}


def run_checks(env: DoctorEnv, only: list[str] | None = None) -> list[Check]:
    """Run the checks (all, or those named in *only*) in report order."""
    return [fn(env) for cid, fn in CHECKS.items() if not only or cid in only]


__all__ = ["CHECKS", "Check", "DoctorEnv", "Endpoint", "Verdict", "run_checks", "worst"]
