"""A real block device (loop device over a generated image) is estimated as an image."""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pbs_agent.estimate import estimate

from .data import CHUNK, mixed_chunk

pytestmark = pytest.mark.sandbox


def test_loop_device_equals_its_backing_file(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("needs root and losetup")
    rng = random.Random(3)
    img = tmp_path / "disk.raw"
    a = mixed_chunk(rng)
    img.write_bytes(a + a + rng.randbytes(CHUNK // 2))  # loop sizes are 512-byte multiples
    dev = subprocess.run(["losetup", "--find", "--show", "--read-only", str(img)],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        assert stat.S_ISBLK(os.stat(dev).st_mode)
        by_dev = estimate([dev], progress=False).as_dict()
        by_file = estimate([img], progress=False).as_dict()
    finally:
        subprocess.run(["losetup", "--detach", dev], check=False)
    assert by_dev["inputs"][0]["kind"] == "image"
    assert by_dev["logical_bytes"] == 2 * CHUNK + CHUNK // 2
    keys = ("logical_bytes", "chunks", "unique_chunks", "unique_bytes", "compressed_bytes")
    assert {k: by_dev[k] for k in keys} == {k: by_file[k] for k in keys}
    assert by_dev["unique_chunks"] == 2
