"""Suite-wide fixtures: the lab's (sandbox hosts, the PBS simulators), see lab/pytest_plugin.py,
and the agent's Debian package built once per session with scripts/build_deb.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["lab.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]
BUILD_DEB = ROOT / "scripts" / "build_deb.py"
BUILD_TOOLS = ("dpkg-buildpackage", "dh", "dh_python3", "help2man")


def build_agent_deb(out: Path, *extra: str) -> tuple[Path, str]:
    """Build into *out*; returns (the .deb, the script's output)."""
    missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"Debian build tools missing: {missing} (scripts/apt-packages-demo.txt)")
    proc = subprocess.run([sys.executable, str(BUILD_DEB), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (deb,) = out.glob("pbs-agent_*_all.deb")
    return deb, proc.stdout


@pytest.fixture(scope="session")
def agent_deb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(dist-like .deb of this checkout, build+lintian output)."""
    return build_agent_deb(tmp_path_factory.mktemp("deb"), "--lint")


@pytest.fixture(scope="session")
def agent_deb_next(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tree as a newer version: what an upgrade installs."""
    return build_agent_deb(tmp_path_factory.mktemp("deb-next"), "--version", "99.0.0")[0]
