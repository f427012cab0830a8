"""The vectorised chunker cuts exactly where PBS's byte-at-a-time state machine cuts."""

from __future__ import annotations

import random

import pytest

from pbs_agent.estimate.buzhash import DynamicChunker, chunk_lengths, window_hashes

from .reference_chunker import reference_lengths


def _data() -> bytes:
    r = random.Random(5)
    text = b"".join(r.choice([b"alpha ", b"beta ", b"gamma\n"]) for _ in range(60_000))
    return r.randbytes(500_000) + bytes(300_000) + text[:250_000] + r.randbytes(150_000)


DATA = _data()
REFERENCE = reference_lengths(DATA, 16384)


@pytest.mark.parametrize("block", [1, 63, 64, 1000, 65536, 1 << 22])
def test_matches_reference_for_any_feed_size(block: int) -> None:
    if block == 1:  # byte by byte: a short stream and a small average keep it quick
        data = DATA[:20_000]
        assert list(chunk_lengths(data, 1024, block)) == reference_lengths(data, 1024)
    else:
        assert list(chunk_lengths(DATA, 16384, block)) == REFERENCE


def test_reference_sanity_bounds() -> None:
    assert sum(REFERENCE) == len(DATA)
    assert all(4096 <= n <= 65536 for n in REFERENCE[:-1])
    assert 65536 in REFERENCE  # the zero run forces cuts at the maximum


def test_window_hash_depends_on_last_64_bytes_only() -> None:
    r = random.Random(1)
    tail = r.randbytes(64)
    a = window_hashes(r.randbytes(500) + tail)[-1]
    b = window_hashes(r.randbytes(77) + tail)[-1]
    assert a == b
    assert window_hashes(tail)[-1] != window_hashes(r.randbytes(64))[-1]


def test_default_average_is_4mib_with_16mib_forced_cut() -> None:
    c = DynamicChunker()
    assert (c.min, c.max) == (1 << 20, 1 << 24)
    assert c.feed(bytes(40 << 20)) == [1 << 24, 1 << 24]
    assert c.finish() == 8 << 20


def test_rejects_non_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        DynamicChunker(3 * 1024 * 1024)
