"""Shared fixtures of the estimate tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(42)


@pytest.fixture
def world_dir():
    """A directory another (unprivileged) user can traverse."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="estimate-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)
