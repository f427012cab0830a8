"""Deploys on sandbox hosts (systemd-nspawn hosts reached over real SSH).

Every test in this directory is marked ``sandbox``. The fixtures (``sandbox``,
``sandbox_hosts``, ``sandbox_host``, ``fresh_sandbox_host``, ``client_allowed`` /
``client_denied``, ``host_kernel_baseline``) come from the lab: lab/pytest_plugin.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.sandbox)
