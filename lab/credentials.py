"""Throwaway credentials for the lab: a self-signed certificate and a bcrypt password hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1/localhost, made by the real openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return cert, key


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash in the $2y$ form htpasswd writes (what exporter-toolkit docs show)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace(
        "$2b$", "$2y$", 1)
