"""Run-wide helpers shared by the PBS and PVE steps: the fleet view, peer fingerprints, the
secret store of a PBS host.

A peer's certificate fingerprint is read from the peer itself (``cert info``) when it is in
this run, or computed from the custom certificate the inventory uploads to it, so a remote or
a PVE storage is always pinned to the certificate the peer actually serves.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Literal, overload

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploys import schema
from deploys.pbs import settings
from deploys.pbs.desired import HostView
from deploys.pbs.facts import PbsCertFingerprint
from deploys.secrets import SecretStore, default_path

_FINGERPRINTS: dict[tuple[int, str], str] = {}


def fleet() -> list[HostView]:
    """Every inventory host as a :class:`HostView`."""
    return [HostView(h.name, tuple(h.groups), h.data.dict())  # type: ignore[no-untyped-call]  # unannotated in pyinfra
            for h in host.inventory]


def view(name: str) -> HostView:
    return next(hv for hv in fleet() if hv.name == name)


def pem_fingerprint(pem: bytes) -> str:
    """SHA-256 of the first certificate's DER, colon hex (what PBS and PVE pin)."""
    cert = x509.load_pem_x509_certificate(pem)
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


@overload
def fingerprint_of(name: str, required: Literal[True] = True) -> str: ...


@overload
def fingerprint_of(name: str, required: bool) -> str | None: ...


def fingerprint_of(name: str, required: bool = True) -> str | None:
    """The certificate fingerprint PBS host *name* serves (or will serve after this run).

    Not *required*: None while the peer has no certificate yet (PBS is installed later in
    this run); the remote is then pinned when the operation executes.
    """
    key = (id(host.state), name)
    if key in _FINGERPRINTS:
        return _FINGERPRINTS[key]
    custom = view(name).value("pbs_certificate")
    value: str | None
    if custom:
        value = pem_fingerprint(Path(custom["cert"]).expanduser().read_bytes())
    else:
        peer = host.inventory.get_host(name)
        try:
            value = peer.get_fact(PbsCertFingerprint)
        except Exception as exc:  # the peer is not connected (e.g. --limit)
            raise DeployError(f"{host.name}: cannot read the certificate fingerprint of {name} "
                              f"({exc}); include {name} in the run or set 'fingerprint'") from None
        if not value and not required:
            return None
        if not value:
            raise DeployError(f"{host.name}: {name} has no proxy certificate yet "
                              "(proxmox-backup-manager cert info shows none)")
    _FINGERPRINTS[key] = value
    return value


def peer_fingerprint_later(name: str) -> str | None:
    """:func:`fingerprint_of` for remotes: None (pin at execution) instead of an error."""
    return fingerprint_of(name, required=False)


def store_path(pbs_host: str) -> str:
    """The controller secret store used for tokens issued by *pbs_host*."""
    return str(default_path(view(pbs_host).value("pbs_secrets_file")))


def store(pbs_host: str) -> SecretStore:
    return SecretStore(Path(store_path(pbs_host)))


def validate_for_config() -> None:
    """Inventory validation for the PBS-config/PVE entries: unknown keys and wrong types of
    every step are errors, but other steps' *required* keys (e.g. firewall networks) are not
    needed here (a PVE node has none)."""
    schema.load_all()
    relaxed = {name: key if (key.owner == settings.__name__ or not key.required)
               else dataclasses.replace(key, default=None)
               for name, key in schema.REGISTRY.items()}
    found = schema.problems(host.data.dict(), relaxed)  # type: ignore[no-untyped-call]  # unannotated in pyinfra
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise schema.InventoryError(f"{host.name}: {found[0]}{more}")
