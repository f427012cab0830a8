"""The lab's pytest fixtures, loaded for the whole suite by ``tests/conftest.py``.

Sandbox hosts (systemd-nspawn hosts reached over real SSH): ``sandbox`` (the session's
:class:`~lab.sandbox.Sandbox`), ``sandbox_hosts`` (factory: ``sandbox_hosts(n)`` boots n new
hosts kept for the session), ``sandbox_host`` (one host shared by the session),
``fresh_sandbox_host`` (a new clean host per test), ``client_allowed`` / ``client_denied`` and
``host_kernel_baseline``. Every test using them is marked ``sandbox``. Without root or
systemd-nspawn such tests FAIL with the reason; ``PBS_FLEET_SKIP_SANDBOX=1`` skips them instead.

The PBS SIMULATORS run locally: ``sim_root`` (their filesystem root), ``pbm`` (run the
proxmox-backup-manager simulator there), ``pbm_json`` (a list/show command, parsed).

Full size (issue 12): ``full_size_datastore`` (a datastore of real shape built once per
session by :mod:`lab.datastore_gen`: 65,536 chunk dirs, 100,920 chunks; read-only for
tests) and ``scratch_dir`` (an empty 0755 directory per test). Both live on a tmpfs when
there is one (``/dev/shm``): 165,000 files are written in ~4 s there, ~70 s on a busy disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab import datastore_gen, simulators
from lab.sandbox import (
    NetClient,
    Sandbox,
    SandboxHost,
    SandboxUnavailable,
    host_kernel_snapshot,
    require_sandbox,
)

TMPFS = "/dev/shm"


def _scratch(prefix: str) -> str:
    """A new 0755 directory on the tmpfs (else in the system temp dir)."""
    base = TMPFS if os.path.isdir(TMPFS) and os.access(TMPFS, os.W_OK) else None
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(path, 0o755)
    return path


def _remove(path: str) -> None:
    def retry(func: Callable[[str], object], failed: str, _exc: object) -> None:
        os.chmod(os.path.dirname(failed), 0o755)  # a test left a directory unreadable
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o755)
            shutil.rmtree(failed, ignore_errors=True)
        else:
            func(failed)

    shutil.rmtree(path, onerror=retry)


@pytest.fixture(scope="session")
def full_size_datastore() -> Iterator[Path]:
    """A datastore of real shape (:data:`lab.datastore_gen.SUITE`), built once per session.
    Tests must not change it (copy what they change into ``scratch_dir``)."""
    base = _scratch("pbs-fleet-fullsize-")
    root = os.path.join(base, "ds")
    datastore_gen.build(root, datastore_gen.SUITE)
    try:
        yield Path(root)
    finally:
        _remove(base)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """An empty 0755 directory on the tmpfs (other users can enter it), removed after."""
    path = _scratch("pbs-fleet-scratch-")
    try:
        yield Path(path)
    finally:
        _remove(path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture(scope="session")
def host_kernel_baseline() -> dict[str, str]:
    """This machine's kernel-wide sysctls before any sandbox host started."""
    return host_kernel_snapshot()


@pytest.fixture(scope="session")
def sandbox(host_kernel_baseline: dict[str, str]) -> Iterator[Sandbox]:
    if os.environ.get("PBS_FLEET_SKIP_SANDBOX") == "1":
        pytest.skip("PBS_FLEET_SKIP_SANDBOX=1: sandbox hosts are not started on this machine")
    try:
        require_sandbox()
    except SandboxUnavailable as exc:
        pytest.fail(f"sandbox unavailable: {exc} (set PBS_FLEET_SKIP_SANDBOX=1 to skip)",
                    pytrace=False)
    box = Sandbox().open()
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="session")
def sandbox_hosts(sandbox: Sandbox) -> Callable[[int], list[SandboxHost]]:
    """Factory: ``sandbox_hosts(n)`` boots n new hosts (removed at the end of the session)."""
    return sandbox.start_hosts


@pytest.fixture(scope="session")
def sandbox_host(sandbox: Sandbox) -> SandboxHost:
    """One host for the whole session (tests must leave it usable for the next one)."""
    return sandbox.start_host()


@pytest.fixture
def fresh_sandbox_host(sandbox: Sandbox) -> Iterator[SandboxHost]:
    """A new, clean host for this test only."""
    host = sandbox.start_host()
    try:
        yield host
    finally:
        sandbox.stop_host(host)


@pytest.fixture(scope="session")
def client_allowed(sandbox: Sandbox) -> NetClient:
    """Client namespace in the allowed network (10.231.1.0/24)."""
    return sandbox.allowed


@pytest.fixture(scope="session")
def client_denied(sandbox: Sandbox) -> NetClient:
    """Client namespace in the denied network (10.231.2.0/24)."""
    return sandbox.denied


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
        return subprocess.run([str(simulators.DIRECTORY / "proxmox-backup-manager"), *args],
                              env=env, capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture
def pbm_json(pbm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., object]:
    """Run a list/show command with ``--output-format json`` and parse it."""

    def run(*args: str) -> object:
        proc = pbm(*args, "--output-format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return run
