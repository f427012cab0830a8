"""The agent's Debian package on the controller: where `make deb` puts it, what it is."""

from __future__ import annotations

import hashlib
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "pbs-agent"


@dataclass(frozen=True)
class AgentDeb:
    """A built ``pbs-agent_<version>_all.deb``: its path, version and SHA-256."""

    path: Path
    version: str
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def default_deb(repo: Path = REPO) -> Path:
    """``dist/pbs-agent_<version>_all.deb`` of this checkout (what `make deb` writes)."""
    version = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
    return repo / "dist" / f"{PACKAGE}_{version}_all.deb"


def read_deb(path: Path) -> AgentDeb:
    """Package name and version from the .deb itself (dpkg-deb); ValueError saying what to do
    when it is missing or not the agent's package."""
    if not path.is_file():
        raise ValueError(f"{path}: no such agent package; build it with `make deb` (or set "
                         "agent_deb to a pbs-agent_<version>_all.deb)")
    proc = subprocess.run(["dpkg-deb", "-f", str(path), "Package", "Version"],
                          capture_output=True, text=True, check=False)
    fields = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    if proc.returncode != 0 or fields.get("Package") != PACKAGE or "Version" not in fields:
        raise ValueError(f"{path}: not a {PACKAGE} Debian package "
                         f"({(proc.stderr or proc.stdout).strip()[:200] or 'no Package field'})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return AgentDeb(path, fields["Version"], digest)
