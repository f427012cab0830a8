"""An S3 STAND-IN on loopback for tests: moto's standalone server (PyPI ``moto[server]``).

It speaks the S3 HTTP protocol (ListObjectsV2, GET/PUT/HEAD/DELETE object, buckets) over HTTPS
with a self-signed certificate, so PBS's ``fingerprint`` pinning is exercised for real. It is a
stand-in, not AWS and not any provider: it accepts any access key and does not check request
signatures (moto's default), which is why the agent's signer is also checked against botocore's
in ``tests/s3``. Ceph's radosgw would check signatures but does not run here (no cluster).

The bucket layout PBS 4 writes (pbs-datastore/src/s3.rs, datastore.rs, 4.2.3):
``<store>/.chunks/<4 hex>/<64 hex digest>`` (a chunk blob, same bytes as on a filesystem
datastore), ``<store>/.cnt/<relative path>`` for everything else (indexes, manifests, owner,
namespace markers), ``<store>/.in-use`` (JSON ``{"hostname": …}``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "pbs-fleet-test-access"
SECRET_KEY = "pbs-fleet-test-secret-not-a-credential"
REGION = "us-west-1"


@dataclass(frozen=True)
class StandIn:
    """A running stand-in: where it listens and the certificate fingerprint to pin."""

    host: str
    port: int
    fingerprint: str  # SHA-256 of the certificate, colon-separated like PBS's ``fingerprint``
    cert: Path

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def endpoint_options(self) -> dict[str, str]:
        """``s3 endpoint create`` options for this stand-in (path-style: no DNS for buckets)."""
        return {"endpoint": self.host, "port": str(self.port), "region": REGION,
                "fingerprint": self.fingerprint, "access-key": ACCESS_KEY,
                "secret-key": SECRET_KEY, "path-style": "true"}

    def boto3(self) -> Any:
        """An independent S3 client (boto3) for filling and checking buckets in tests."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION,
                            verify=str(self.cert),
                            config=Config(s3={"addressing_style": "path"}))


def make_bucket(client: Any, name: str) -> None:
    """Create *name* in the stand-in's region."""
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path, str]:
    cert, key = directory / "s3-standin.pem", directory / "s3-standin.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest()
    return cert, key, ":".join(digest[i:i + 2] for i in range(0, 64, 2))


@contextlib.contextmanager
def running(directory: Path, timeout: float = 60) -> Iterator[StandIn]:
    """Start moto's server on 127.0.0.1 with TLS; stop it (by its own pid) on exit."""
    moto = Path(sys.executable).with_name("moto_server")
    if not moto.exists():
        raise RuntimeError(f"{moto} not found: run `make bootstrap` (dev dependency moto[server])")
    cert, key, fingerprint = _self_signed(directory)
    port = _free_port()
    log = (directory / "s3-standin.log").open("w")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port), "-c", str(cert),
                             "-k", str(key)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"S3 stand-in did not start: {(directory / 's3-standin.log')}")
            time.sleep(0.2)
        yield StandIn("127.0.0.1", port, fingerprint, cert)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
