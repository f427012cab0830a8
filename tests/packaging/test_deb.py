"""`make deb`: what the package holds and promises, read from the built .deb itself."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from deploys.agent.steps import AGENT_MODULE_PACKAGES

ROOT = Path(__file__).resolve().parents[2]


def _field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def _files(deb: Path) -> list[str]:
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[-1].removeprefix(".") for line in out.splitlines()]


def _member(deb: Path, member: str, tmp_path: Path) -> str:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    return (tmp_path / member.lstrip("/")).read_text()


def _control(deb: Path, name: str, tmp_path: Path) -> str:
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "DEBIAN")], check=True)
    return (tmp_path / "DEBIAN" / name).read_text()


def test_name_version_and_lintian(agent_deb: tuple[Path, str]) -> None:
    deb, out = agent_deb
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert deb.name == f"pbs-agent_{version}_all.deb"
    assert _field(deb, "Architecture") == "all"
    assert "lintian: no errors" in out and "E: " not in out


def test_depends_only_on_debian_packages(agent_deb: tuple[Path, str]) -> None:
    """Exactly the Debian packages the deploy knows for the agent's imports (both releases
    have them), python3 and systemd's sysusers: nothing from PyPI."""
    depends = _field(agent_deb[0], "Depends")
    names = {re.sub(r"\s*\(.*\)", "", alt).strip()
             for dep in depends.split(",") for alt in dep.split("|")}
    assert names == {*AGENT_MODULE_PACKAGES.values(), "python3:any", "systemd",
                     "systemd-standalone-sysusers", "systemd-sysusers"}


def test_files_config_and_unit(agent_deb: tuple[Path, str], tmp_path: Path) -> None:
    deb = agent_deb[0]
    files = _files(deb)
    assert "/usr/bin/pbs-agent" in files and "/usr/share/man/man1/pbs-agent.1.gz" in files
    assert "/usr/lib/python3/dist-packages/pbs_agent/cli.py" in files
    assert not [f for f in files if "/deploys/" in f or "/tests/" in f or "/lab/" in f]
    assert _control(deb, "conffiles", tmp_path).split() == ["/etc/pbs-agent/config.toml"]
    unit = _member(deb, "/lib/systemd/system/pbs-agent.service", tmp_path)
    for line in ("User=pbs-agent", "SupplementaryGroups=backup", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=", "StateDirectory=pbs-agent",
                 "ExecStart=/usr/bin/pbs-agent serve --config /etc/pbs-agent/config.toml"):
        assert line in unit.splitlines(), line
    sysusers = _member(deb, "/usr/lib/sysusers.d/pbs-agent.conf", tmp_path)
    assert "m pbs-agent backup" in sysusers
    postrm = _control(deb, "postrm", tmp_path)
    assert "rm -rf /var/lib/pbs-agent" in postrm and "rm -rf /etc/pbs-agent" in postrm
    assert "systemd-sysusers" in _control(deb, "postinst", tmp_path)
