"""Host benchmark with the rows of ``proxmox-backup-client benchmark``.

Each test runs over a 4 MiB chunk of realistic data (part random, part compressible text,
part zeros: zstd level 1 shrinks it to roughly half) for ``seconds`` and reports bytes of
*plain* chunk data processed per second, as PBS does: compression counts input bytes,
decompression and verification count the decompressed bytes. The reference figures are the
ones PBS's client prints beside its own results (a 2020 Ryzen 7 2700X,
``proxmox-backup-client/src/benchmark.rs``).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK_SIZE = 4 * 1024 * 1024
MB = 1_000_000  # PBS renders decimal megabytes

#: test id -> (table label, PBS reference speed in bytes/s); order as PBS prints them.
TESTS: dict[str, tuple[str, float]] = {
    "tls": ("TLS (maximal backup upload speed)", 1235 * MB),
    "sha256": ("SHA256 checksum computation speed", 2022 * MB),
    "compress": ("ZStd level 1 compression speed", 752 * MB),
    "decompress": ("ZStd level 1 decompression speed", 1198 * MB),
    "verify": ("Chunk verification speed", 758 * MB),
    "aes256_gcm": ("AES256 GCM encryption speed", 3645 * MB),
}
LOCAL_TESTS = ("sha256", "compress", "decompress", "verify", "aes256_gcm")


def sample_chunk(size: int = CHUNK_SIZE, seed: int = 0) -> bytes:
    """A deterministic chunk of mixed data: 40 % random, 40 % repetitive text, 20 % zeros."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9)))
             for _ in range(300)]
    text = b" ".join(rng.choices(words, k=size // 4))[: size * 2 // 5]
    noise = rng.randbytes(size * 2 // 5)
    out = bytearray()
    for i in range(0, len(noise), 65536):  # interleave so every region is mixed
        out += noise[i:i + 65536] + text[i:i + 65536] + bytes(32768)
    return bytes(out[:size].ljust(size, b"\0"))


@dataclass(frozen=True)
class BenchResult:
    """One measured row: *speed* in bytes/s (None = not tested) and PBS's reference."""

    test: str
    speed: float | None
    top: float

    @property
    def label(self) -> str:
        return TESTS[self.test][0]

    def as_dict(self) -> dict[str, float]:
        out = {"top": self.top}
        if self.speed is not None:
            out["speed"] = self.speed
        return out

    def render(self) -> str:
        if self.speed is None:
            return "not tested"
        return f"{self.speed / MB:.2f} MB/s ({self.speed * 100 / self.top:.0f}%)"


def _measure(op: Callable[[], object], nbytes: int, seconds: float) -> float:
    """Run *op* repeatedly for about *seconds* (at least once); bytes per second."""
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        op()
        done += nbytes
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def _operations(chunk: bytes) -> dict[str, Callable[[], object]]:
    compressor = zstandard.ZstdCompressor(level=1)
    decompressor = zstandard.ZstdDecompressor()
    packed = compressor.compress(chunk)
    digest = hashlib.sha256(chunk).digest()
    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(16)  # PBS uses a 16-byte IV with AES-256-GCM

    def verify() -> None:
        plain = decompressor.decompress(packed, max_output_size=len(chunk))
        if hashlib.sha256(plain).digest() != digest:
            raise AssertionError("verify benchmark: digest mismatch")

    return {
        "sha256": lambda: hashlib.sha256(chunk).digest(),
        "compress": lambda: compressor.compress(chunk),
        "decompress": lambda: decompressor.decompress(packed, max_output_size=len(chunk)),
        "verify": verify,
        "aes256_gcm": lambda: aead.encrypt(nonce, chunk, None),
    }


def run_benchmark(
    seconds: float = 1.0, tests: Iterable[str] = LOCAL_TESTS, chunk: bytes | None = None,
) -> list[BenchResult]:
    """Measure *tests* (ids of :data:`LOCAL_TESTS`); rows in PBS order, ``tls`` not tested."""
    chunk = chunk if chunk is not None else sample_chunk()
    wanted = set(tests)
    unknown = wanted - set(LOCAL_TESTS)
    if unknown:
        raise ValueError(f"unknown benchmark test(s): {', '.join(sorted(unknown))}")
    ops = _operations(chunk)
    results = []
    for test, (_label, top) in TESTS.items():
        speed = _measure(ops[test], len(chunk), seconds) if test in wanted else None
        results.append(BenchResult(test, speed, top))
    return results


def render_table(results: list[BenchResult]) -> str:
    """The PBS-style two-column table: name, then 'speed (percent of reference)'."""
    rows = [("Name", "Value")] + [(r.label, r.render()) for r in results]
    w0 = max(len(a) for a, _ in rows)
    w1 = max(len(b) for _, b in rows)
    line = f"+-{'-' * w0}-+-{'-' * w1}-+"
    out = [line, f"| {rows[0][0]:<{w0}} | {rows[0][1]:<{w1}} |", line.replace("-", "=")]
    for a, b in rows[1:]:
        out += [f"| {a:<{w0}} | {b:<{w1}} |", line]
    return "\n".join(out)
