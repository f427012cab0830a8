"""``smartctl -j -n standby`` output: identity, temperature, wear, and whether the disk sleeps.

``-n standby`` makes smartctl return without touching a disk in STANDBY or SLEEP: it exits with
bit 1 set and says so in ``smartctl.messages`` (and ``power_mode`` since 7.4). Such a report
has no readings, and nothing else should wake the disk either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: ATA attributes whose normalised value is the percentage of rated life LEFT (100 = new),
#: in order of preference. Matched by name: ids mean different things per vendor (202 is
#: Percent_Lifetime_Remain on Micron but Exception_Mode_Status on Samsung).
WEAR_ATTRIBUTES = (
    "Media_Wearout_Indicator",   # 233, Intel
    "Wear_Leveling_Count",       # 177, Samsung
    "Percent_Lifetime_Remain",   # 202, Micron/Crucial
    "Percent_Lifetm_Remain",     # 202, Crucial (older drivedb spelling)
    "SSD_Life_Left",             # 231, Kingston, SandForce
    "Remaining_Lifetime_Perc",   # 169, Toshiba/Kioxia
)

_ASLEEP = re.compile(r"Device is in (STANDBY|SLEEP)\w* mode")
_OPEN_FAILED = 0x03  # bit 0: command line/device type, bit 1: open failed


@dataclass(frozen=True)
class SmartReport:
    """What one smartctl run says about a disk (None = not reported)."""

    standby: bool
    opened: bool = True  # False: smartctl could not open or identify it (exit status bits 0-1)
    model: str | None = None
    serial: str | None = None
    temperature_celsius: float | None = None
    wearout_ratio: float | None = None  # share of rated endurance used; > 1 past it


def parse_smartctl_json(text: str) -> SmartReport:
    """Parse ``smartctl --json`` output; ValueError if it is not smartctl JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("smartctl"), dict):
        raise ValueError("no 'smartctl' object: not smartctl --json output")
    if _is_asleep(doc):
        return SmartReport(standby=True)
    status = doc["smartctl"].get("exit_status", 0)
    return SmartReport(
        standby=False,
        opened=not (isinstance(status, int) and status & _OPEN_FAILED),
        model=_model(doc),
        serial=_text(doc.get("serial_number")),
        temperature_celsius=_temperature(doc),
        wearout_ratio=_wearout(doc),
    )


def _is_asleep(doc: dict[str, Any]) -> bool:
    mode = doc.get("power_mode")
    if isinstance(mode, dict) and str(mode.get("name", "")).upper() in ("STANDBY", "SLEEP"):
        return True
    messages = doc["smartctl"].get("messages") or []
    return any(isinstance(m, dict) and _ASLEEP.search(str(m.get("string", "")))
               for m in messages)


def _text(value: Any) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def _model(doc: dict[str, Any]) -> str | None:
    model = _text(doc.get("model_name")) or _text(doc.get("scsi_model_name"))
    if model:
        return model
    parts = [_text(doc.get("scsi_vendor")), _text(doc.get("scsi_product"))]
    return " ".join(p for p in parts if p) or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _temperature(doc: dict[str, Any]) -> float | None:
    temperature = doc.get("temperature")
    if isinstance(temperature, dict):
        return _number(temperature.get("current"))
    return None


def _wearout(doc: dict[str, Any]) -> float | None:
    nvme = doc.get("nvme_smart_health_information_log")
    if isinstance(nvme, dict) and _number(nvme.get("percentage_used")) is not None:
        return _number(nvme["percentage_used"]) / 100.0
    scsi = _number(doc.get("scsi_percentage_used_endurance_indicator"))
    if scsi is not None:
        return scsi / 100.0
    table = doc.get("ata_smart_attributes", {})
    rows = table.get("table", []) if isinstance(table, dict) else []
    by_name = {row.get("name"): row for row in rows if isinstance(row, dict)}
    for name in WEAR_ATTRIBUTES:
        left = _number(by_name.get(name, {}).get("value"))
        if left is not None:
            return (100.0 - min(max(left, 0.0), 100.0)) / 100.0
    return None
