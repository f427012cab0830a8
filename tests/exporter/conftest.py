"""Shared fixtures of the exporter tests: the scenario tree and settings pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbs_agent.exporter.base import CollectContext, Settings

from .scenario import build_tree


@pytest.fixture
def pbs_tree(tmp_path: Path) -> dict[str, Path]:
    return build_tree(tmp_path / "host")


@pytest.fixture
def settings(pbs_tree: dict[str, Path], tmp_path: Path) -> Settings:
    return Settings(log_dir=pbs_tree["log"], lib_dir=pbs_tree["lib"], config_dir=pbs_tree["etc"],
                    state_dir=tmp_path / "state")


def samples(families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of metric families."""
    out = {}
    for fam in families:
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(smp: dict, name: str, **labels: str) -> float:
    return smp[(name, tuple(sorted(labels.items())))]


def collect(collector, settings: Settings) -> tuple[dict, CollectContext]:
    ctx = CollectContext(settings)
    return samples(collector.collect(ctx)), ctx


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1/localhost, made by the real openssl."""
    import subprocess

    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash in the $2y$ form htpasswd writes (what exporter-toolkit docs show)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace(
        "$2b$", "$2y$", 1)
