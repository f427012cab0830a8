"""Session fixtures of the real-kernel tier: one VM per session, torn down at the end.

The guest runs Debian 13 "trixie" (OpenZFS 2.3); ``PBS_FLEET_VM_SUITE=bookworm make test-vm``
runs the same tier on Debian 12 (its own cached image).

The VM is booted once (about a minute under TCG) and shared: tests are ordered by file name
(smoke, safety, converge, reboot) and each states what it expects from the ones before.
Wall times (image, boot, each test) go to ``$PBS_FLEET_STATE/vm/last-run.json`` and are
printed at the end of the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.vm import (
    DISK_SERIALS,
    Image,
    Machine,
    Paths,
    Shell,
    VmUnavailable,
    ensure_image,
    remove_stale_runs,
    require_vm_tools,
)
from tests.vm.records import RECORDS, TIMINGS


@pytest.fixture(scope="session")
def vm_paths() -> Paths:
    return Paths.from_env()


@pytest.fixture(scope="session")
def vm_image(vm_paths: Paths) -> Image:
    """The cached image of the chosen release (built here on a cold cache); skips only when
    QEMU cannot run at all."""
    try:
        require_vm_tools()
    except VmUnavailable as exc:
        pytest.skip(f"real-kernel tier unavailable: {exc}")
    started = time.monotonic()
    image = ensure_image(vm_paths)
    TIMINGS[f"image {image.manifest['suite']} (build or reuse)"] = time.monotonic() - started
    return image


@pytest.fixture(scope="session")
def vm(vm_image: Image, vm_paths: Paths) -> Iterator[Machine]:
    """The booted guest with the standard eight blank data disks."""
    remove_stale_runs(vm_paths.state, vm_image)
    machine = Machine(vm_image, vm_paths.state / f"pytest-{time.strftime('%Y%m%dT%H%M%S')}",
                      disks=DISK_SERIALS)
    machine.prepare()
    try:
        TIMINGS["boot to SSH"] = machine.start()
        yield machine
    finally:
        started = time.monotonic()
        machine.stop()
        TIMINGS["stop"] = time.monotonic() - started


@pytest.fixture
def guest(vm: Machine) -> Iterator[Shell]:
    """A root SSH connection to the guest for the test's own checks."""
    with vm.shell() as shell:
        yield shell


#: The first test builds the image on a cold cache (about 10 min, more on a busy machine).
TIER_TIMEOUT = 3600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIER_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Fixture set-up that takes time (a deploy run, the reboot) is listed on its own."""
    started = time.monotonic()
    yield
    if time.monotonic() - started > 1:
        TIMINGS[f"{item.nodeid} (set-up)"] = time.monotonic() - started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    started = time.monotonic()
    yield
    TIMINGS[item.nodeid] = time.monotonic() - started


def pytest_sessionstart(session: pytest.Session) -> None:
    TIMINGS["session start"] = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # type: ignore[no-untyped-def]
    if len(TIMINGS) <= 1:
        return
    TIMINGS["total"] = time.time() - TIMINGS.pop("session start")
    terminalreporter.section("real-kernel tier wall times")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {name}")
    for name, value in RECORDS.items():
        terminalreporter.write_line(f"{value:8.1f}    {name}")
    out = Paths.from_env().state / "last-run.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"timings": TIMINGS, "records": RECORDS}, indent=2) + "\n")
