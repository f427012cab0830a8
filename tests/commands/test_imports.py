"""The commands that are not the exporter do not load it: no prometheus_client, no
pbs_agent.exporter, no pbs_agent.collectors in the process after a real run, and
``doctor --help`` offers no ``--collector.*`` flag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.demo import build_demo
from tests.doctor.hosts import Host

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("prometheus_client", "pbs_agent.exporter", "pbs_agent.collectors")
RUN = """
import json, sys
from pbs_agent.cli import main
rc = main(sys.argv[1:])
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def modules_after(argv: list[str]) -> tuple[str, list[str]]:
    """Run ``pbs-agent ARGV`` in a fresh interpreter; its output and the modules it loaded."""
    proc = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    out, sep, mods = proc.stdout.rpartition("\nMODULES ")
    assert sep, f"pbs-agent {argv[0]} did not finish: {proc.stderr[-500:]}"
    return out, json.loads(mods)


@pytest.fixture(scope="module")
def datastore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imports") / "ds"
    build_demo(str(path), vms=1, cts=1, days=2, disk_chunks=3, pxar_chunks=2, seed=3)
    return path


def test_the_probe_sees_the_exporter_when_it_is_loaded(tmp_path: Path) -> None:
    """``metrics`` is the exporter: the same probe must find what the others must not load."""
    _, mods = modules_after(["metrics", "--pbs.config-dir", str(tmp_path),
                             "--pbs.log-dir", str(tmp_path), "--pbs.lib-dir", str(tmp_path),
                             "--state-dir", str(tmp_path), "--no-collector.bench"])
    assert all(any(m == f or m.startswith(f + ".") for m in mods) for f in FORBIDDEN)


@pytest.mark.parametrize("command", ["doctor", "report", "estimate", "demo"])
def test_command_does_not_load_the_exporter(command: str, tmp_path: Path,
                                            datastore: Path) -> None:
    if command == "doctor":
        host = Host(tmp_path / "host")
        host.datastores["store1"] = datastore
        argv = ["doctor", "--json", *host.cli_args()]
    elif command == "report":
        argv = ["report", str(datastore), "--state-dir", str(tmp_path / "state")]
    elif command == "estimate":
        image = tmp_path / "disk.img"
        image.write_bytes(bytes(range(256)) * 40_000)
        argv = ["estimate", str(image), "--against", str(datastore),
                "--state-dir", str(tmp_path / "state")]
    else:
        argv = ["demo", str(tmp_path / "demo"), "--vms", "1", "--cts", "1", "--days", "1"]
    out, mods = modules_after(argv)
    assert out.strip(), f"pbs-agent {command} printed nothing"
    loaded = [m for m in mods if m.startswith(FORBIDDEN)]
    assert loaded == [], f"pbs-agent {command} loaded {loaded}"
    if command == "doctor":
        assert "pbs_agent.engine" in mods  # the missing-chunks check did scan the datastore


def test_doctor_help_has_no_collector_flags() -> None:
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "doctor", "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and "--pbs.config-dir" in proc.stdout
    assert "--collector." not in proc.stdout and "--web." not in proc.stdout
