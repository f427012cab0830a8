"""``smartctl -j -n standby -i -H -A`` output: identity, health, temperature, wear, errors,
power-on time, and whether the disk sleeps.

``-n standby`` makes smartctl return without touching a disk in STANDBY or SLEEP: it exits with
bit 1 set and says so in ``smartctl.messages`` — ``Device is in STANDBY mode, exit(2)`` for ATA
(plus a ``power_mode`` object since 7.5), ``Device is in STANDBY BY COMMAND mode, exit(2)`` and
the other SCSI power conditions (``LOW POWER``, ``STANDBY BY TIMER``, ``STANDBY_Y …``) for SAS
disks since 7.2 (smartmontools ``scsiprint.cpp``). Such a report has no readings, and nothing
else should wake the disk either; it is not an open failure.
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

#: ``jinf("Device is in %s mode, exit(%d)")`` of ataprint.cpp/scsiprint.cpp/smartctl.cpp.
_ASLEEP = re.compile(r"Device is in (?:STANDBY|SLEEP|LOW POWER)[A-Z_ ()]* mode")
_OPEN_FAILED = 0x03  # bit 0: command line/device type, bit 1: open failed
_DISK_FAILING = 0x08  # bit 3: SMART status check returned "DISK FAILING"


@dataclass(frozen=True)
class SmartReport:
    """What one smartctl run says about a disk (None = not reported)."""

    standby: bool
    opened: bool = True  # False: smartctl could not open or identify it (exit status bits 0-1)
    model: str | None = None
    serial: str | None = None
    temperature_celsius: float | None = None
    wearout_ratio: float | None = None  # share of rated endurance used; > 1 past it
    healthy: bool | None = None  # smart_status.passed (-H); None when not reported
    nvme_critical_warning: int | None = None  # NVMe SMART log byte 0, a bit field
    power_on_seconds: float | None = None
    #: NVMe "Media and Data Integrity Errors"; SCSI: length of the grown defect list.
    media_errors: int | None = None


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
    status = status if isinstance(status, int) and not isinstance(status, bool) else 0
    nvme = doc.get("nvme_smart_health_information_log")
    nvme = nvme if isinstance(nvme, dict) else {}
    return SmartReport(
        standby=False,
        opened=not status & _OPEN_FAILED,
        model=_model(doc),
        serial=_text(doc.get("serial_number")),
        temperature_celsius=_temperature(doc),
        wearout_ratio=_wearout(doc),
        healthy=_healthy(doc, status),
        nvme_critical_warning=_count(nvme.get("critical_warning")),
        power_on_seconds=_power_on_seconds(doc),
        media_errors=_media_errors(doc, nvme),
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


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _healthy(doc: dict[str, Any], status: int) -> bool | None:
    smart_status = doc.get("smart_status")
    if isinstance(smart_status, dict) and isinstance(smart_status.get("passed"), bool):
        return bool(smart_status["passed"])
    return False if status & _DISK_FAILING else None


def _power_on_seconds(doc: dict[str, Any]) -> float | None:
    power_on = doc.get("power_on_time")
    if not isinstance(power_on, dict):
        return None
    hours, minutes = _number(power_on.get("hours")), _number(power_on.get("minutes"))
    if hours is None or hours < 0:
        return None
    return hours * 3600.0 + (minutes * 60.0 if minutes is not None and minutes >= 0 else 0.0)


def _media_errors(doc: dict[str, Any], nvme: dict[str, Any]) -> int | None:
    errors = _count(nvme.get("media_errors"))
    return errors if errors is not None else _count(doc.get("scsi_grown_defect_list"))


def _temperature(doc: dict[str, Any]) -> float | None:
    temperature = doc.get("temperature")
    if isinstance(temperature, dict):
        return _number(temperature.get("current"))
    return None


def _wearout(doc: dict[str, Any]) -> float | None:
    nvme = doc.get("nvme_smart_health_information_log")
    used = _number(nvme.get("percentage_used")) if isinstance(nvme, dict) else None
    if used is not None:
        return used / 100.0
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
