"""``zfs-pool`` ("ZFS pool suspended"), ``zfs-module`` and ``memory-arc``.

zfs-pool: ``zpool status`` (JSON where zpool has ``-j``) state per pool (ONLINE ok, DEGRADED
warn, anything else, such as SUSPENDED, FAULTED, UNAVAIL: fail); an ONLINE pool is not ok
either when a disk counted read/write/checksum errors or is not ONLINE (warn, ZFS-8000-9P) or
when the pool has permanent data errors (fail, ZFS-8000-8A); plus kernel log lines (``dmesg``,
else ``journalctl -k -b``) of SATA/SAS link resets or I/O timeouts naming the pool's disks.
zfs-module: module loaded (``<procfs>/modules`` or ``<sysfs>/module/zfs``), ``dkms status``
for the running kernel (``<procfs>/sys/kernel/osrelease``), headers under
``<modules-dir>/<release>/build``. memory-arc: ``MemTotal`` against the ARC maximum
(``arcstats c_max``, else ``zfs_arc_max``, else OpenZFS's Linux default of half the RAM):
PBS wants 4 GiB for the OS and its daemons besides the ARC (warn below, fail below 2 GiB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import SourceError
from ..hw.blockdev import ByIdIndex, disk_device_dir
from ..hw.topology import pool_disks
from ..hw.zpool import Pool, Vdev, ZpoolStatus
from .model import Check, DoctorEnv, Verdict

ID_POOL, ID_MODULE, ID_ARC = "zfs-pool", "zfs-module", "memory-arc"
GiB = 1024**3

_DISK_TROUBLE = re.compile(
    r"hard resetting link|SATA link down|link is slow to respond|COMRESET failed|"
    r"exception Emask|failed command|limiting SATA link speed|timing out command|"
    r"I/O error|task abort|device reset|Medium Error|blk_update_request|"
    r"DID_TIME_OUT|FAILED Result|command timeout|Device offlined", re.IGNORECASE)
_STATE_VERDICT = {"ONLINE": Verdict.OK, "DEGRADED": Verdict.WARN}
#: Leaf states that are no trouble: in use, or a spare waiting / standing in.
_LEAF_OK = frozenset({"ONLINE", "AVAIL", "INUSE"})


def _leaf_names(pool: Pool) -> set[str]:
    """Kernel-ish names of the leaf vdevs from their paths alone (sdb1 -> sdb)."""
    names = set()
    for leaf in pool.leaves():
        path = leaf.name if leaf.name.startswith("/") else leaf.former_path
        base = re.sub(r"-part\d+$", "", path.rsplit("/", 1)[-1]) if path else ""
        base = re.sub(r"^((?:sd|vd|xvd)[a-z]+)\d+$", r"\1", base)
        base = re.sub(r"^(nvme\d+n\d+)p\d+$", r"\1", base)
        if base:
            names.add(base)
    return names


def disk_ids(pool: Pool, env: DoctorEnv) -> set[str]:
    """Names the kernel log may use for the pool's disks: sdX, ataN, by-id names."""
    sysfs, devfs = env.settings.sysfs, env.settings.devfs
    ids = _leaf_names(pool)
    for disk, by_id in pool_disks(pool, sysfs, devfs, ByIdIndex(devfs)):
        ids.update(x for x in (disk, by_id) if x)
        device = disk_device_dir(sysfs, disk)
        port = re.search(r"/(ata\d+)/", str(device)) if device else None
        if port:
            ids.add(port.group(1))
    return ids


def kernel_log(env: DoctorEnv) -> tuple[str, str]:
    """(source, text) of the kernel log: dmesg, else journalctl -k of this boot."""
    for argv in (["dmesg"], ["journalctl", "-k", "-b", "--no-pager", "-q"]):
        try:
            return argv[0], env.host.run_tool(argv)
        except SourceError:
            continue
    return "", ""


def trouble_lines(text: str, ids: set[str], pool: str) -> list[str]:
    """Kernel log lines of link resets / I/O timeouts naming one of *ids*, and ZFS I/O lines."""
    if not ids:
        return []
    alt = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    who = re.compile(rf"(?<![\w-])(?:{alt})(?:\.\d+|p?\d+)?(?![\w-])")
    zfs = re.compile(rf"zio pool={re.escape(pool)}\b|[Pp]ool '{re.escape(pool)}'")
    return [line.strip() for line in text.splitlines()
            if (_DISK_TROUBLE.search(line) and who.search(line)) or zfs.search(line)]


def check_pool(env: DoctorEnv) -> Check:
    problems: list[str] = []
    try:
        pools = ZpoolStatus().read(env.host.run_tool, problems)
    except SourceError as exc:
        return Check(ID_POOL, Verdict.OK, f"no ZFS pools ({exc})")
    if not pools:
        return Check(ID_POOL, Verdict.OK, "no ZFS pools")
    source, log = kernel_log(env)
    verdict, parts, fixes = Verdict.OK, [], []
    for pool in pools:
        v, part, fix = _rate_pool(pool)
        lines = trouble_lines(log, disk_ids(pool, env), pool.name)
        if lines:
            v = max(v, Verdict.WARN)
            part += f", {len(lines)} {source} lines of link resets/I/O errors, " \
                    f"last: {lines[-1][:160]!r}"
            fix = fix or (f"zpool status -v {pool.name}; replace the failing disk "
                          f"(zpool replace) or reseat its cable before the pool suspends")
        verdict = max(verdict, v)
        parts.append(part)
        if fix:
            fixes.append(fix)
    if problems:
        verdict = max(verdict, Verdict.WARN)
        worst = next((p for p in problems if "vdevs unknown" in p), problems[0])
        parts.append(f"{len(problems)} parts of zpool status unreadable: {worst[:160]}")
        fixes.append("run 'zpool status -P -p' by hand: the disks of a pool whose vdevs are "
                     "unknown are not checked")
    return Check(ID_POOL, verdict, "; ".join(parts), fixes[0] if fixes else "")


def _errors(vdev: Vdev) -> str:
    counts = vdev.errors or {}
    return f"{counts.get('read', 0)}/{counts.get('write', 0)}/{counts.get('checksum', 0)}"


def _rate_pool(pool: Pool) -> tuple[Verdict, str, str]:
    """(verdict, evidence, fix) from the pool state, its disks and its data errors."""
    verdict = _STATE_VERDICT.get(pool.state, Verdict.FAIL)
    part = f"{pool.name}: {pool.state or 'unknown state'}"
    fix = ""
    if verdict == Verdict.FAIL:
        fix = (f"check cabling/controller/power of the disks of {pool.name}, then "
               f"zpool clear {pool.name}")
    elif verdict == Verdict.WARN:
        fix = (f"zpool status -v {pool.name}; replace the failing disk (zpool replace) or "
               f"reseat its cable")
    leaves = pool.leaves()
    erring = [v for v in leaves if any((v.errors or {}).values())]
    unwell = [v for v in leaves if v.state and v.state not in _LEAF_OK]
    if erring:
        part += ", read/write/checksum errors on " + ", ".join(
            f"{v.name} {_errors(v)}" for v in erring[:3]) + (" …" if len(erring) > 3 else "")
    if unwell:
        part += ", " + ", ".join(f"{v.name} {v.state}" for v in unwell[:3])
    if (erring or unwell) and verdict == Verdict.OK:
        verdict = Verdict.WARN
        fix = (f"a disk of {pool.name} had errors (ZFS-8000-9P): zpool status -v {pool.name}; "
               f"replace it (zpool replace) or reseat its cable, then zpool clear {pool.name} "
               f"and zpool scrub {pool.name}")
    if pool.data_errors:
        verdict = Verdict.FAIL
        part += f", {pool.data_errors} data errors (permanent, ZFS-8000-8A)"
        fix = (f"zpool status -v {pool.name} lists the damaged files: restore them from a "
               f"backup or delete them, then zpool scrub {pool.name}; verify the datastores")
    return verdict, part, fix


@dataclass(frozen=True)
class DkmsEntry:
    module: str
    version: str
    kernel: str
    status: str


def parse_dkms_status(text: str) -> list[DkmsEntry]:
    """``zfs/2.1.11, 6.1.0-18-amd64, x86_64: installed`` (and the older ``zfs, 2.1.11, …``)."""
    out = []
    for line in text.splitlines():
        head, sep, status = line.rpartition(":")
        if not sep:
            continue
        fields = [f.strip() for f in head.split(",")]
        if "/" in fields[0]:
            module, _, version = fields[0].partition("/")
            rest = fields[1:]
        elif len(fields) >= 2:
            module, version, rest = fields[0], fields[1], fields[2:]
        else:
            continue
        out.append(DkmsEntry(module, version, rest[0] if rest else "", status.strip()))
    return out


def module_loaded(env: DoctorEnv) -> bool:
    modules = env.read(env.settings.procfs / "modules") or ""
    if any(line.split(" ", 1)[0] == "zfs" for line in modules.splitlines()):
        return True
    return (env.settings.sysfs / "module" / "zfs").is_dir()


def check_module(env: DoctorEnv) -> Check:
    release = (env.read(env.settings.procfs / "sys" / "kernel" / "osrelease") or "").strip()
    loaded = module_loaded(env)
    try:
        dkms = [e for e in parse_dkms_status(env.host.run_tool(["dkms", "status"]))
                if e.module == "zfs"]
    except SourceError:
        dkms = []
    headers = (env.modules_dir / release / "build").exists() if release else False
    built = [e for e in dkms if e.kernel == release and e.status == "installed"]
    facts = (f"kernel {release or '?'}, module {'loaded' if loaded else 'not loaded'}, "
             f"dkms zfs: {', '.join(f'{e.version}/{e.kernel}: {e.status}' for e in dkms) or 'none'}"
             f", headers {'present' if headers else 'missing'}")
    fix_build = (f"apt install linux-headers-{release or '$(uname -r)'} && dkms autoinstall "
                 f"-k {release or '$(uname -r)'} && modprobe zfs")
    if not loaded and not dkms:
        return Check(ID_MODULE, Verdict.OK, f"ZFS not in use: {facts}")
    if not loaded:
        return Check(ID_MODULE, Verdict.FAIL, facts, fix_build)
    if dkms and not built:
        return Check(ID_MODULE, Verdict.WARN, f"{facts}: zfs not built by dkms for the "
                     f"running kernel (a reboot keeps it, a new kernel may lose it)", fix_build)
    if dkms and not headers:
        return Check(ID_MODULE, Verdict.WARN, f"{facts}: dkms cannot rebuild zfs",
                     f"apt install linux-headers-{release}")
    return Check(ID_MODULE, Verdict.OK, facts)


def _meminfo_total(env: DoctorEnv) -> int | None:
    for line in (env.read(env.settings.procfs / "meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def arc_max(env: DoctorEnv, total: int) -> tuple[int | None, str]:
    """(ARC maximum in bytes or None if ZFS is not loaded, where the number came from)."""
    stats = env.read(env.settings.procfs / "spl" / "kstat" / "zfs" / "arcstats") or ""
    for line in stats.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "c_max":
            return int(f[2]), "arcstats c_max"
    param = env.read(env.settings.sysfs / "module" / "zfs" / "parameters" / "zfs_arc_max")
    if param is None:
        return None, ""
    value = int(param.strip() or 0)
    return (value, "zfs_arc_max") if value else (total // 2, "default (half of RAM)")


def _gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


def check_arc(env: DoctorEnv) -> Check:
    total = _meminfo_total(env)
    if total is None:
        return Check(ID_ARC, Verdict.WARN, f"no MemTotal in {env.settings.procfs}/meminfo")
    arc, source = arc_max(env, total)
    low_ram = total < 4 * GiB
    if arc is None:
        verdict = Verdict.WARN if low_ram else Verdict.OK
        return Check(ID_ARC, verdict, f"RAM {_gib(total)}, ZFS not loaded"
                     + (" (PBS wants at least 4 GiB)" if low_ram else ""),
                     "add memory: PBS needs 4 GiB plus 1 GiB per TiB of datastore"
                     if low_ram else "")
    rest = total - arc
    evidence = f"RAM {_gib(total)}, ARC max {_gib(arc)} ({source}), {_gib(rest)} left"
    target = max(total - 4 * GiB, total // 4)
    fix = (f"echo {target} > /sys/module/zfs/parameters/zfs_arc_max and put "
           f"'options zfs zfs_arc_max={target}' in /etc/modprobe.d/zfs.conf")
    if rest < 2 * GiB:
        return Check(ID_ARC, Verdict.FAIL, evidence + " for OS and PBS (< 2 GiB)", fix)
    if rest < 4 * GiB:
        return Check(ID_ARC, Verdict.WARN, evidence + " for OS and PBS (< 4 GiB)", fix)
    return Check(ID_ARC, Verdict.OK, evidence)
