"""``ecc`` (EDAC memory controllers in sysfs) and ``aes-ni`` (CPU flags in cpuinfo)."""

from __future__ import annotations

import re
from pathlib import Path

from .model import Check, DoctorEnv, Verdict

ID_ECC, ID_AES = "ecc", "aes-ni"


def _count(env: DoctorEnv, path: Path) -> int:
    text = (env.read(path) or "0").strip()
    return int(text) if text.isdigit() else 0


def check_ecc(env: DoctorEnv) -> Check:
    mc_root = env.settings.sysfs / "devices" / "system" / "edac" / "mc"
    mcs = sorted(p for p in mc_root.glob("mc*") if re.fullmatch(r"mc\d+", p.name))
    if not mcs:
        return Check(ID_ECC, Verdict.WARN,
                     f"no EDAC memory controller under {mc_root}: ECC absent or not reported",
                     "use ECC memory for a backup server; if it has ECC, load its EDAC driver "
                     "(e.g. modprobe amd64_edac or skx_edac)")
    parts, ce, ue = [], 0, 0
    for mc in mcs:
        c, u = _count(env, mc / "ce_count"), _count(env, mc / "ue_count")
        ce, ue = ce + c, ue + u
        name = (env.read(mc / "mc_name") or "").strip()
        parts.append(f"{mc.name} {name}: {c} corrected, {u} uncorrected".replace("  ", " "))
    evidence = "ECC reported by EDAC: " + "; ".join(parts)
    if ue:
        return Check(ID_ECC, Verdict.FAIL, evidence,
                     "replace the failing DIMM (edac-util -v names it); verify the datastores")
    if ce:
        return Check(ID_ECC, Verdict.WARN, evidence,
                     "a DIMM is correcting errors: plan its replacement (edac-util -v)")
    return Check(ID_ECC, Verdict.OK, evidence)


def check_aes(env: DoctorEnv) -> Check:
    text = env.read(env.settings.procfs / "cpuinfo")
    if text is None:
        return Check(ID_AES, Verdict.WARN, f"{env.settings.procfs}/cpuinfo unreadable")
    flags: set[str] = set()
    model = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("flags", "Features"):  # x86, arm64
            flags.update(value.split())
        elif key == "model name" and not model:
            model = value.strip()
    cpu = model or "CPU"
    if "aes" in flags:
        return Check(ID_AES, Verdict.OK, f"{cpu}: aes flag present (AES-256-GCM in hardware)")
    return Check(ID_AES, Verdict.WARN, f"{cpu}: no aes flag: client-side encryption and TLS "
                 "run in software", "enable AES-NI in the BIOS/hypervisor CPU type "
                 "(e.g. PVE cpu: host)")
