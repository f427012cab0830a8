"""datastore-space (real statvfs, and a real full tmpfs in the sandbox tier) and certificate
(certificates built with the cryptography library)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pbs_agent.doctor import Verdict, certificate, space

from .hosts import Host


def test_space_verdict_thresholds() -> None:
    assert space.verdict_for(100, 50) == Verdict.OK
    assert space.verdict_for(100, 19) == Verdict.WARN
    assert space.verdict_for(100, 4) == Verdict.FAIL
    assert space.verdict_for(0, 0) == Verdict.FAIL


def test_space_reports_real_filesystem(host: Host, tmp_path: Path) -> None:
    host.datastores["s"] = tmp_path
    c = space.check(host.env())
    st = os.statvfs(tmp_path)
    expected = space.verdict_for(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)
    assert c.verdict == expected and "s: " in c.evidence and "% used" in c.evidence
    host.datastores["gone"] = tmp_path / "absent"
    c = space.check(host.env())
    assert c.verdict == Verdict.FAIL and "No such file or directory" in c.evidence


@pytest.mark.sandbox
def test_space_fail_on_a_full_tmpfs(host: Host, tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        host.datastores["full"] = mnt
        assert space.check(host.env()).verdict == Verdict.OK
        (mnt / "fill").write_bytes(b"x" * (3900 * 1024))
        c = space.check(host.env())
        assert c.verdict == Verdict.FAIL and "garbage-collection start full" in c.fix
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _cert(host: Host, days_left: float) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbs1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days_left))
            .sign(key, hashes.SHA256()))
    host.write("etc/proxy.pem", cert.public_bytes(serialization.Encoding.PEM).decode())


def test_certificate_verdicts(host: Host) -> None:
    _cert(host, 300)
    c = certificate.check(host.env())
    assert c.verdict == Verdict.OK and "CN=pbs1" in c.evidence and "days left" in c.evidence
    _cert(host, 10)
    c = certificate.check(host.env())
    assert c.verdict == Verdict.WARN and "fingerprint" in c.fix
    _cert(host, -3)
    c = certificate.check(host.env())
    assert c.verdict == Verdict.FAIL and "expired 3 days ago" in c.evidence


def test_certificate_missing_or_garbage(host: Host) -> None:
    assert certificate.check(host.env()).verdict == Verdict.WARN
    host.write("etc/proxy.pem", "not a certificate\n")
    assert certificate.check(host.env()).verdict == Verdict.FAIL
