"""``ipmitool sdr type Temperature``: the BMC's temperature sensors, and which are inlet/ambient.

Lines look like (Dell, HPE, Supermicro, Lenovo BMCs)::

    Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C
    02-CPU 1         | 04h | ok  |  3.1 | 40 degrees C
    Temp             | 0Fh | ns  |  3.2 | Disabled
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_INLET = re.compile(r"inlet|ambient|intake", re.IGNORECASE)
_READING = re.compile(r"^(-?\d+(?:\.\d+)?) degrees C$")
#: Device nodes of the kernel IPMI driver; without one there is no BMC to ask.
BMC_NODES = ("ipmi0", "ipmi/0", "ipmidev/0")


@dataclass(frozen=True)
class Reading:
    """One temperature sensor with a reading."""

    sensor: str
    celsius: float

    @property
    def is_inlet(self) -> bool:
        """Whether the sensor measures the air entering the chassis."""
        return bool(_INLET.search(self.sensor))


def has_bmc(devfs: Path) -> bool:
    """Whether the IPMI device node exists (the ipmi_si/ipmi_devintf drivers found a BMC)."""
    return any((devfs / node).exists() for node in BMC_NODES)


def parse_sdr_temperatures(text: str, problems: list[str]) -> list[Reading]:
    """Sensors with a reading; sensors without one (``ns``, Disabled) are skipped quietly."""
    readings = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 5 or not fields[0]:
            problems.append(f"ipmitool sdr: not 5 '|'-separated fields: {line.strip()[:80]!r}")
            continue
        match = _READING.match(fields[4])
        if fields[2] == "ok" and match:
            readings.append(Reading(fields[0], float(match.group(1))))
        elif fields[2] == "ok" and fields[4] not in ("Disabled", "No Reading"):
            problems.append(f"ipmitool sdr: unreadable value: {line.strip()[:80]!r}")
    return readings
