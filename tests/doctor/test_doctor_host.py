"""zfs-pool, zfs-module, memory-arc, ecc and aes-ni on fixture procfs/sysfs/devfs trees and
recorded tool outputs."""

from __future__ import annotations

from pathlib import Path

from pbs_agent.doctor import Verdict, hardware, zfs
from pbs_agent.hw.zpool import parse_zpool_status

from .hosts import Host

GiB = 1024**3


def _zpool(state: str, leaf: str = "/dev/disk/by-id/ata-WDC_WD40-part1") -> str:
    return (f"  pool: tank\n state: {state}\n  scan: none requested\nconfig:\n\n"
            f"\tNAME                                 STATE     READ WRITE CKSUM\n"
            f"\ttank                                 {state}   0     0     0\n"
            f"\t  mirror-0                           {state}   0     0     0\n"
            f"\t    {leaf}  {state}   0     0     0\n"
            f"\t    /dev/sdc1                        ONLINE    0     0     0\n\n"
            f"errors: No known data errors\n")


def _disk_tree(host: Host) -> None:
    """sdb on SATA port ata3 (sysfs), partition sdb1, by-id link (devfs)."""
    dev = "sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0"
    host.write(f"{dev}/block/sdb/sdb1/partition", "1\n")
    host.symlink(f"{dev}/block/sdb/device", "../../../2:0:0:0")
    host.symlink("sys/class/block/sdb", f"../../{dev[4:]}/block/sdb")
    host.symlink("sys/class/block/sdb1", f"../../{dev[4:]}/block/sdb/sdb1")
    host.write("dev/sdb1", "")
    host.symlink("dev/disk/by-id/ata-WDC_WD40-part1", "../../sdb1")


DMESG_OURS = (
    "[ 100.1] ata3: hard resetting link\n"
    "[ 100.2] ata3.00: failed command: READ FPDMA QUEUED\n"
    "[ 100.3] ata5: hard resetting link\n"  # another port: not the pool's
    "[ 100.4] usb 1-1: new high-speed USB device\n"
)


def test_pool_ok(host: Host) -> None:
    _disk_tree(host)
    host.tool(["zpool", "status", "-P", "-p"], _zpool("ONLINE"))
    host.tool(["dmesg"], "[ 100.3] ata5: hard resetting link\n[ 1.0] sdd: I/O error\n")
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.OK and c.evidence == "tank: ONLINE"


def test_pool_warn_degraded(host: Host) -> None:
    host.tool(["zpool", "status", "-P", "-p"], _zpool("DEGRADED"))
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN and "tank: DEGRADED" in c.evidence
    assert "zpool replace" in c.fix


def test_pool_warn_on_link_resets_of_its_disks(host: Host) -> None:
    _disk_tree(host)
    host.tool(["zpool", "status", "-P", "-p"], _zpool("ONLINE"))
    host.tool(["dmesg"], DMESG_OURS)
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN
    assert "2 dmesg lines" in c.evidence and "ata3.00: failed command" in c.evidence
    assert zfs.disk_ids(parse_zpool_status(_zpool("ONLINE"), [])[0], host.env()) >= {
        "sdb", "ata3", "ata-WDC_WD40", "sdc"}


def test_pool_kernel_log_falls_back_to_journalctl(host: Host) -> None:
    host.tool(["zpool", "status", "-P", "-p"], _zpool("ONLINE", "/dev/sdb1"))
    host.tool(["journalctl", "-k", "-b", "--no-pager", "-q"],
              "Nov 27 kernel: blk_update_request: I/O error, dev sdb, sector 2048\n")
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN and "1 journalctl lines" in c.evidence


def test_pool_fail_suspended(host: Host) -> None:
    host.tool(["zpool", "status", "-P", "-p"], _zpool("SUSPENDED"))
    host.tool(["dmesg"], "WARNING: Pool 'tank' has encountered an uncorrectable I/O failure "
              "and has been suspended.\n")
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.FAIL
    assert "tank: SUSPENDED" in c.evidence and "has been suspended" in c.evidence
    assert "zpool clear tank" in c.fix


ZPOOL_REAL = Path(__file__).parents[1] / "hw" / "fixtures" / "zpool"


def test_pool_online_with_a_faulted_erring_disk_is_not_ok(host: Host) -> None:
    """Real OpenZFS 2.2.7 output: the pool says ONLINE, one disk is FAULTED with errors."""
    host.tool(["zpool", "status", "-P", "-p"],
              (ZPOOL_REAL / "online-faulted-leaf-zfs22.txt").read_text())
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN
    assert "12/753/83" in c.evidence and "FAULTED" in c.evidence
    assert "ZFS-8000-9P" in c.fix and "zpool clear tank" in c.fix


def test_pool_online_with_checksum_errors_warns(host: Host) -> None:
    host.tool(["zpool", "status", "-P", "-p"],
              _zpool("ONLINE").replace("/dev/sdc1                        ONLINE    0     0     0",
                                       "/dev/sdc1                        ONLINE    0     0     7"))
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN and "/dev/sdc1 0/0/7" in c.evidence


def test_pool_with_data_errors_fails(host: Host) -> None:
    """``errors: %llu data errors, use '-v' for a list`` (zpool_main.c, status_callback)."""
    host.tool(["zpool", "status", "-P", "-p"], _zpool("ONLINE").replace(
        "errors: No known data errors", "errors: 3 data errors, use '-v' for a list"))
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.FAIL and "3 data errors" in c.evidence
    assert "ZFS-8000-8A" in c.evidence and "zpool status -v tank" in c.fix


def test_pool_read_from_json_when_zpool_has_it(host: Host) -> None:
    host.tool(["zpool", "status", "-j", "--json-int", "-P"],
              (ZPOOL_REAL / "json-degraded-faulted-constructed.json").read_text())
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN
    assert "local-zfs: DEGRADED" in c.evidence and "wwn-0x5000cca245c1984b 1/29/4" in c.evidence


def test_pool_config_that_cannot_be_read_is_not_ok(host: Host) -> None:
    host.tool(["zpool", "status", "-P", "-p"], "  pool: tank\n state: ONLINE\nconfig:\n\n"
              "NAME STATE\ntank ONLINE 0 0 0\n\nerrors: No known data errors\n")
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.WARN and "vdevs unknown" in c.evidence


def test_pool_without_zfs_is_ok(host: Host) -> None:
    c = zfs.check_pool(host.env())
    assert c.verdict == Verdict.OK and "no ZFS pools" in c.evidence


def _kernel(host: Host, release: str = "6.8.12-4-pve") -> str:
    host.write("proc/sys/kernel/osrelease", release + "\n")
    return release


def test_module_ok_with_dkms_and_headers(host: Host) -> None:
    r = _kernel(host, "6.1.0-18-amd64")
    host.write("proc/modules", "zfs 6107328 6 - Live 0x0000000000000000 (PO)\nspl 1 1 zfs,\n")
    host.tool(["dkms", "status"], f"zfs/2.1.11, {r}, x86_64: installed\n")
    (host.root / "modules" / r / "build").mkdir(parents=True)
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.OK, c.evidence
    assert "module loaded" in c.evidence and f"2.1.11/{r}: installed" in c.evidence


def test_module_ok_builtin_without_dkms(host: Host) -> None:
    _kernel(host)
    (host.root / "sys" / "module" / "zfs").mkdir(parents=True)
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.OK and "dkms zfs: none" in c.evidence


def test_module_warn_not_built_for_running_kernel(host: Host) -> None:
    r = _kernel(host, "6.1.0-20-amd64")
    host.write("proc/modules", "zfs 6107328 6 - Live 0x0 (PO)\n")
    host.tool(["dkms", "status"], "zfs, 2.1.11, 6.1.0-18-amd64, x86_64: installed\n")
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.WARN and "not built by dkms" in c.evidence
    assert f"linux-headers-{r}" in c.fix and "headers missing" in c.evidence


def test_module_warn_missing_headers(host: Host) -> None:
    r = _kernel(host, "6.1.0-18-amd64")
    host.write("proc/modules", "zfs 6107328 6 - Live 0x0 (PO)\n")
    host.tool(["dkms", "status"], f"zfs/2.1.11, {r}, x86_64: installed\n")
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.WARN and "dkms cannot rebuild" in c.evidence


def test_module_fail_not_loaded(host: Host) -> None:
    r = _kernel(host, "6.1.0-18-amd64")
    host.write("proc/modules", "ext4 1 1 - Live 0x0\n")
    host.tool(["dkms", "status"], "zfs/2.1.11, 6.1.0-17-amd64, x86_64: installed\n")
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.FAIL and "module not loaded" in c.evidence
    assert c.fix == (f"apt install linux-headers-{r} && dkms autoinstall -k {r} && "
                     f"modprobe zfs")


def test_module_not_in_use(host: Host) -> None:
    _kernel(host)
    c = zfs.check_module(host.env())
    assert c.verdict == Verdict.OK and c.evidence.startswith("ZFS not in use")


def test_parse_dkms_status_formats() -> None:
    entries = zfs.parse_dkms_status("zfs/2.1.11, 6.1.0-18-amd64, x86_64: installed\n"
                                    "zfs, 0.8.6, 5.10.0-9-amd64, x86_64: built\n"
                                    "nvidia/535: added\n")
    assert [(e.module, e.version, e.kernel, e.status) for e in entries] == [
        ("zfs", "2.1.11", "6.1.0-18-amd64", "installed"),
        ("zfs", "0.8.6", "5.10.0-9-amd64", "built"),
        ("nvidia", "535", "", "added")]


def _mem(host: Host, total: int, c_max: int | None = None, param: int | None = None) -> None:
    host.write("proc/meminfo", f"MemTotal:       {total // 1024} kB\nMemFree: 1 kB\n")
    if c_max is not None:
        host.write("proc/spl/kstat/zfs/arcstats",
                   f"13 1 0x01 123 33456 1 2\nname type data\nc 4 {c_max // 2}\n"
                   f"c_max 4 {c_max}\nsize 4 100\n")
    if param is not None:
        host.write("sys/module/zfs/parameters/zfs_arc_max", f"{param}\n")


def test_arc_ok(host: Host) -> None:
    _mem(host, 32 * GiB, c_max=16 * GiB)
    c = zfs.check_arc(host.env())
    assert c.verdict == Verdict.OK
    assert c.evidence == "RAM 32.0 GiB, ARC max 16.0 GiB (arcstats c_max), 16.0 GiB left"


def test_arc_warn_default_half_of_small_ram(host: Host) -> None:
    _mem(host, 6 * GiB, param=0)
    c = zfs.check_arc(host.env())
    assert c.verdict == Verdict.WARN and "default (half of RAM)" in c.evidence
    assert f"zfs_arc_max={2 * GiB}" in c.fix  # RAM - 4 GiB


def test_arc_fail_when_arc_takes_almost_everything(host: Host) -> None:
    _mem(host, 16 * GiB, c_max=15 * GiB, param=15 * GiB)
    c = zfs.check_arc(host.env())
    assert c.verdict == Verdict.FAIL and "1.0 GiB left" in c.evidence
    assert f"zfs_arc_max={12 * GiB}" in c.fix


def test_arc_without_zfs(host: Host) -> None:
    _mem(host, 8 * GiB)
    assert zfs.check_arc(host.env()).verdict == Verdict.OK
    _mem(host, 2 * GiB)
    assert zfs.check_arc(host.env()).verdict == Verdict.WARN


def _mc(host: Host, n: int, ce: int, ue: int) -> None:
    base = f"sys/devices/system/edac/mc/mc{n}"
    host.write(f"{base}/mc_name", "F19h\n")
    host.write(f"{base}/ce_count", f"{ce}\n")
    host.write(f"{base}/ue_count", f"{ue}\n")


def test_ecc_verdicts(host: Host) -> None:
    c = hardware.check_ecc(host.env())
    assert c.verdict == Verdict.WARN and "no EDAC memory controller" in c.evidence
    _mc(host, 0, 0, 0)
    c = hardware.check_ecc(host.env())
    assert c.verdict == Verdict.OK and "mc0 F19h: 0 corrected, 0 uncorrected" in c.evidence
    _mc(host, 1, 3, 0)
    assert hardware.check_ecc(host.env()).verdict == Verdict.WARN
    _mc(host, 1, 3, 1)
    c = hardware.check_ecc(host.env())
    assert c.verdict == Verdict.FAIL and "DIMM" in c.fix


def test_aes_ni(host: Host) -> None:
    host.write("proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 7302\n"
               "flags\t\t: fpu vme sse2 aes avx2 sha_ni\n")
    c = hardware.check_aes(host.env())
    assert c.verdict == Verdict.OK and c.evidence.startswith("AMD EPYC 7302: aes flag present")
    host.write("proc/cpuinfo", "processor\t: 0\nmodel name\t: QEMU Virtual CPU\n"
               "flags\t\t: fpu vme sse2 aesx\n")
    c = hardware.check_aes(host.env())
    assert c.verdict == Verdict.WARN and "cpu: host" in c.fix
    host.write("proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd aes pmull sha1 sha2\n")
    assert hardware.check_aes(host.env()).verdict == Verdict.OK  # arm64
