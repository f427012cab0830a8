"""``ipmitool sdr type Temperature``: the BMC's temperature sensors, and which one is the air inlet.

Lines look like (Dell, HPE, Supermicro, Intel, Lenovo BMCs)::

    Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C
    Temp             | 0Fh | ns  |  3.2 | Disabled
    SSB Therm Trip   | 0Dh | ok  |  7.1 |
    P1 Therm Ctrl %  | 78h | ok  |  3.1 | 0 percent

(name, sensor number, status, entity ``id.instance``, reading; ipmitool ``lib/ipmi_sdr.c``,
``sdr_extended`` print). The status of a threshold sensor is ``ok``, ``ns`` (no reading) or the
threshold it crossed (``unc``, ``ucr``, ``unr``, ``lnc``…): a hot inlet reads ``unc``, not
``ok``. Discrete sensors have no reading or a state text; sensors in other units are skipped.

The air inlet is the sensor whose entity is IPMI's "Air Inlet" (ID 55 = 0x37; DCMI uses 64 =
0x40; ipmitool ``lib/ipmi_strings.c`` names both "Air Inlet"). Many BMCs put the inlet sensor
on the system board (entity 7, e.g. Dell "Inlet Temp"), so without an entity 55/64 sensor the
name decides: inlet, ambient or intake, but not when the name or entity points at a component
(``DIMM_Inlet_TEMP`` measures the air reaching the DIMMs, a PSU "Ambient Temp" its own air).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: Entity IDs of "Air Inlet" (IPMI v2.0 table 43-13 0x37; DCMI 0x40).
AIR_INLET_ENTITIES = frozenset({55, 64})
#: Entities that are components, never room air: processor, memory module, power supply,
#: power module, memory device, DCMI processor.
_COMPONENT_ENTITIES = frozenset({3, 8, 10, 20, 32, 65})
_INLET = re.compile(r"inlet|ambient|intake", re.IGNORECASE)
_COMPONENT = re.compile(r"dimm|cpu|proc|mem|vr|pch|psu|ps\d|power|gpu|nic|hdd|nvme|riser",
                        re.IGNORECASE)
_READING = re.compile(r"^(-?\d+(?:\.\d+)?) degrees C$")
_OTHER_UNIT = re.compile(r"^-?\d+(?:\.\d+)? \S.*$")
_ENTITY = re.compile(r"^(\d{1,3})\.(\d{1,3})$")
#: Device nodes of the kernel IPMI driver; without one there is no BMC to ask.
BMC_NODES = ("ipmi0", "ipmi/0", "ipmidev/0")


@dataclass(frozen=True)
class Reading:
    """One temperature sensor with a reading."""

    sensor: str
    celsius: float
    entity: str = ""  # "<id>.<instance>" as ipmitool prints it; "" if unreadable

    @property
    def entity_id(self) -> int | None:
        match = _ENTITY.match(self.entity)
        return int(match.group(1)) if match else None

    @property
    def is_air_inlet_entity(self) -> bool:
        """The BMC says this sensor measures the air inlet (entity 55 or 64)."""
        return self.entity_id in AIR_INLET_ENTITIES

    @property
    def is_inlet_by_name(self) -> bool:
        """The name says inlet/ambient/intake and neither name nor entity is a component."""
        return (bool(_INLET.search(self.sensor)) and not _COMPONENT.search(self.sensor)
                and self.entity_id not in _COMPONENT_ENTITIES)


def has_bmc(devfs: Path) -> bool:
    """Whether the IPMI device node exists (the ipmi_si/ipmi_devintf drivers found a BMC)."""
    return any((devfs / node).exists() for node in BMC_NODES)


def inlet_sensors(readings: list[Reading]) -> list[Reading]:
    """The air-inlet sensors: by entity ID 55/64 if the BMC marks any, else by name."""
    by_entity = [r for r in readings if r.is_air_inlet_entity]
    return by_entity or [r for r in readings if r.is_inlet_by_name]


def parse_sdr_temperatures(text: str, problems: list[str]) -> list[Reading]:
    """Sensors with a temperature reading; sensors without one are skipped quietly."""
    readings = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 5 or not fields[0]:
            problems.append(f"ipmitool sdr: not 5 '|'-separated fields: {line.strip()[:80]!r}")
            continue
        name, _number, status, entity, value = fields
        match = _READING.match(value)
        if status != "ns" and match:
            readings.append(Reading(name, float(match.group(1)),
                                    entity if _ENTITY.match(entity) else ""))
        elif status != "ns" and not _quiet(value):
            problems.append(f"ipmitool sdr: unreadable value: {line.strip()[:80]!r}")
    return readings


def _quiet(value: str) -> bool:
    """Valid non-temperature values: empty (discrete), other units, state texts, Disabled."""
    return not value or bool(_OTHER_UNIT.match(value)) or value[:1].isupper()
