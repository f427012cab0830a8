"""Fixtures for tests on sandbox hosts (systemd-nspawn hosts reached over real SSH).

Every test in this directory is marked ``sandbox``. Without root or systemd-nspawn the tests
FAIL with the reason; set ``PBS_FLEET_SKIP_SANDBOX=1`` to skip them instead.

Fixtures: ``sandbox`` (the session's :class:`~lab.sandbox.Sandbox`), ``sandbox_hosts``
(factory: ``sandbox_hosts(n)`` boots n new hosts kept for the session), ``sandbox_host``
(one host shared by the session), ``fresh_sandbox_host`` (a new clean host per test),
``client_allowed`` / ``client_denied`` and ``host_kernel_baseline``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lab.sandbox import (
    NetClient,
    Sandbox,
    SandboxHost,
    SandboxUnavailable,
    host_kernel_snapshot,
    require_sandbox,
)

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
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
