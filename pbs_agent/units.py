"""Byte counts for people, in IEC units like PBS's HumanByte."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n: int | float) -> str:
    """IEC units like PBS (HumanByte): ``1.50 MiB``.

    >>> human_bytes(1536 * 1024)
    '1.50 MiB'
    >>> human_bytes(512)
    '512 B'
    """
    value, unit = float(n), 0
    while abs(value) >= 1024 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.2f} {UNITS[unit]}"
