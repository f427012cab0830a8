"""Which Debian release the VM tier builds and boots (no VM needed)."""

from __future__ import annotations

import pytest

from lab.sandbox.rootfs import SUITES
from lab.vm import VmError
from lab.vm.image import DEFAULT_SUITE, SUITE_ENV, cache_key, sources, vm_suite


def test_default_is_debian13_and_the_env_picks_debian12(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SUITE_ENV, raising=False)
    assert vm_suite() == DEFAULT_SUITE == "trixie"
    monkeypatch.setenv(SUITE_ENV, "bookworm")
    assert vm_suite() == "bookworm"
    assert vm_suite("trixie") == "trixie"


def test_unknown_release_is_refused_naming_the_lab_releases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SUITE_ENV, "sid")
    with pytest.raises(VmError, match=r"'sid'.*bookworm, trixie"):
        vm_suite()


def test_each_release_has_its_own_image_and_contrib_sources() -> None:
    assert len({cache_key(suite) for suite in SUITES}) == len(SUITES)
    for suite in SUITES:
        assert f"Suites: {suite} {suite}-updates\n" in sources(suite)
        assert "Components: main contrib" in sources(suite)
