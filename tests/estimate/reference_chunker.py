"""A literal, byte-at-a-time Python transcription of PBS's chunker state machine (slow).

Used only to cross-check the vectorised chunker in pbs_agent.estimate.buzhash.
"""

from __future__ import annotations

from pbs_agent.estimate.buzhash import TABLE

_T = [int(x) for x in TABLE]


def _rol(x: int, n: int) -> int:
    n %= 32
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF if n else x


def reference_lengths(data: bytes, avg: int) -> list[int]:
    """Chunk lengths as PBS's scan loop produces them, plus the final short chunk."""
    mask, minimum = avg * 2 - 1, avg * 2 - 1 - 2
    cmin, cmax = avg >> 2, avg << 2
    h = size = wsize = 0
    window = [0] * 64
    out, start = [], 0
    for pos, byte in enumerate(data):
        if wsize < 64:  # filling the window: no cut test
            window[wsize] = byte
            wsize += 1
            h = _rol(h, 1) ^ _T[byte]
            size += 1
            continue
        idx = size & 0x3F
        h = _rol(h, 1) ^ _rol(_T[window[idx]], 64) ^ _T[byte]
        window[idx] = byte
        size += 1
        if size >= cmax or (size >= cmin and (h & mask) >= minimum):
            out.append(pos + 1 - start)
            start = pos + 1
            h = size = wsize = 0
    if start < len(data):
        out.append(len(data) - start)
    return out
