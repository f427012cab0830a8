"""``certificate``: expiry of the proxy's TLS certificate ``<config-dir>/proxy.pem``.

PVE pins the certificate fingerprint, so an expired or renewed certificate breaks backups
until the storage's fingerprint is updated. Warn within 30 days of expiry, fail once expired.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from .model import Check, DoctorEnv, Verdict

ID = "certificate"
WARN_DAYS = 30


def _not_after(cert: x509.Certificate) -> dt.datetime:
    """Expiry as an aware UTC datetime (``not_valid_after_utc`` is cryptography >= 42;
    Debian 12's 38 only has the naive-UTC ``not_valid_after``)."""
    aware = getattr(cert, "not_valid_after_utc", None)
    return aware if aware is not None else cert.not_valid_after.replace(tzinfo=dt.UTC)


def check(env: DoctorEnv) -> Check:
    path = env.settings.config_dir / "proxy.pem"
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        return Check(ID, Verdict.WARN, f"{path}: {exc.strerror}")
    except ValueError as exc:
        return Check(ID, Verdict.FAIL, f"{path}: not a PEM certificate ({exc})",
                     "proxmox-backup-manager cert update --force")
    end = _not_after(cert)
    now = dt.datetime.fromtimestamp(env.now, dt.UTC)
    days = (end - now).total_seconds() / 86400
    subject = cert.subject.rfc4514_string()
    evidence = f"{path} ({subject}) valid until {end:%Y-%m-%d %H:%M} UTC"
    renew = ("proxmox-backup-manager cert update --force (or ACME), then update the "
             "fingerprint in every PVE storage.cfg")
    if days < 0:
        return Check(ID, Verdict.FAIL, f"{evidence}: expired {-days:.0f} days ago", renew)
    if days < WARN_DAYS:
        return Check(ID, Verdict.WARN, f"{evidence}: {days:.0f} days left", renew)
    return Check(ID, Verdict.OK, f"{evidence}: {days:.0f} days left")
