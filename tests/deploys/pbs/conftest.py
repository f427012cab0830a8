"""Fixtures for the PBS configuration tests: the simulators run locally on a temp root."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

SIMULATORS = Path(__file__).resolve().parents[3] / "lab/simulators"


@pytest.fixture
def sim_root(tmp_path: Path) -> Path:
    """An empty filesystem root for the simulators (``$PBS_SIMULATOR_ROOT``)."""
    (tmp_path / "mnt/datastore").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def pbm(sim_root: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the proxmox-backup-manager SIMULATOR against *sim_root*."""

    def run(*args: str, version: str = "3.4.1") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PBS_SIMULATOR_ROOT": str(sim_root),
               "PBS_SIMULATOR_VERSION": version}
        return subprocess.run([str(SIMULATORS / "proxmox-backup-manager"), *args], env=env,
                              capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture
def pbm_json(pbm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., object]:
    """Run a list/show command with ``--output-format json`` and parse it."""

    def run(*args: str) -> object:
        proc = pbm(*args, "--output-format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return run
