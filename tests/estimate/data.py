"""Data for estimate tests: generated chunks, a plain reference computation, a CLI runner."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import zstandard

MiB = 1024 * 1024
CHUNK = 4 * MiB
REPO = Path(__file__).resolve().parents[2]


def plain_chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def plain_totals(chunk_lists: list[list[bytes]]) -> dict[str, object]:
    """The numbers estimate must report, computed the obvious way."""
    comp = zstandard.ZstdCompressor(level=1)
    distinct: dict[bytes, bytes] = {}
    every = [c for chunks in chunk_lists for c in chunks]
    for c in every:
        distinct.setdefault(hashlib.sha256(c).digest(), c)
    unique = sum(len(c) for c in distinct.values())
    stored = sum(12 + min(len(comp.compress(c)), len(c)) for c in distinct.values())
    logical = sum(len(c) for c in every)
    return {
        "logical_bytes": logical, "chunks": len(every), "unique_chunks": len(distinct),
        "unique_bytes": unique, "compressed_bytes": stored,
        "dedup_factor": round(logical / unique, 4),
        "compression_factor": round(unique / stored, 4),
    }


def mixed_chunk(rng: random.Random, size: int = CHUNK) -> bytes:
    """Half random, half repetitive text: compresses to roughly half."""
    text = (b"backup " * (size // 7 + 1))[: size // 2]
    return rng.randbytes(size - len(text)) + text


def run_cli_unprivileged(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `pbs-agent ARGS` as nobody when we are root (so permissions apply), else as us."""
    cmd = [sys.executable, "-m", "pbs_agent", *args]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/", timeout=120)
