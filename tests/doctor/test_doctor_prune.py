"""prune-owners: a namespace pruned both by a PVE storage's prune-backups and a PBS prune job."""

from __future__ import annotations

import json
import subprocess
import sys

from pbs_agent.doctor import Verdict, prune

from .hosts import Host

STORAGE = """\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup
\tprune-backups keep-last=3

pbs: pbs-prod
\tdatastore store1
\tserver 10.0.0.5
\tcontent backup
\tnamespace prod
\tusername pve-prod@pbs!pve
\tprune-backups keep-daily=7,keep-weekly=4

pbs: pbs-lab
\tdatastore store1
\tserver 10.0.0.5
\tcontent backup
\tnamespace lab
\tusername pve-lab@pbs!pve
\tprune-backups keep-all=1
"""
JOBS = """\
vzdump: backup-lab
\tschedule 21:00
\tstorage pbs-lab
\tall 1
\tprune-backups keep-last=2
"""


def _setup(host: Host, prune_cfg: str, storage: str = STORAGE, jobs: str = "") -> None:
    host.write("etc/datastore.cfg", f"datastore: store1\n\tpath {host.root / 'ds'}\n")
    host.write("etc/prune.cfg", prune_cfg)
    host.write("pve/storage.cfg", storage)
    if jobs:
        host.write("pve/jobs.cfg", jobs)


def test_both_owners_of_one_namespace_warn(host: Host) -> None:
    _setup(host, "prune: prod-daily\n\tstore store1\n\tschedule daily\n\tns prod\n"
                 "\tkeep-daily 14\n")
    c = prune.check(host.env(pve_config_dir=host.root / "pve"))
    assert c.verdict == Verdict.WARN
    assert c.evidence == (
        "datastore store1, namespace 'prod': PVE storage pbs-prod (server 10.0.0.5, "
        "storage.cfg) prunes with keep-daily=7,keep-weekly=4, and PBS prune job prod-daily "
        "prunes with --keep-daily 14 (namespace 'prod', full depth): two owners of one "
        "retention policy")
    assert c.fix.startswith("pvesm set pbs-prod --prune-backups keep-all=1")


def test_a_job_on_the_root_namespace_covers_prod_below_it(host: Host) -> None:
    _setup(host, "prune: all\n\tstore store1\n\tschedule daily\n\tkeep-last 3\n")
    c = prune.check(host.env(pve_config_dir=host.root / "pve"))
    assert c.verdict == Verdict.WARN and "PBS prune job all" in c.evidence


def test_other_namespace_depth_store_or_keep_all_are_quiet(host: Host) -> None:
    _setup(host, "prune: root-only\n\tstore store1\n\tschedule daily\n\tmax-depth 0\n"
                 "\tkeep-last 3\n"
                 "prune: lab\n\tstore store1\n\tschedule daily\n\tns lab\n\tkeep-last 3\n"
                 "prune: other\n\tstore store2\n\tschedule daily\n\tns prod\n\tkeep-last 3\n"
                 "prune: off\n\tstore store1\n\tschedule daily\n\tns prod\n\tdisable 1\n"
                 "\tkeep-last 3\n")
    c = prune.check(host.env(pve_config_dir=host.root / "pve"))
    assert c.verdict == Verdict.OK, c.evidence
    assert c.evidence == "1 PVE storage setting(s) prune, 3 PBS prune job(s); no namespace " \
                         "has both"


def test_a_vzdump_job_prune_setting_counts(host: Host) -> None:
    _setup(host, "prune: lab\n\tstore store1\n\tschedule daily\n\tns lab\n\tkeep-last 3\n",
           jobs=JOBS)
    c = prune.check(host.env(pve_config_dir=host.root / "pve"))
    assert c.verdict == Verdict.WARN
    assert "PVE storage pbs-lab (server 10.0.0.5, jobs.cfg job backup-lab) prunes with " \
           "keep-last=2" in c.evidence
    assert c.fix.startswith("remove prune-backups from jobs.cfg job backup-lab")


def test_no_pve_config_is_ok(host: Host) -> None:
    _setup(host, "")
    c = prune.check(host.env(pve_config_dir=host.root / "nope"))
    assert c.verdict == Verdict.OK and "--pve.config-dir" in c.evidence


def test_the_doctor_command_runs_it(host: Host) -> None:
    _setup(host, "prune: p\n\tstore store1\n\tschedule daily\n\tns prod\n\tkeep-last 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pbs_agent", "doctor", "--check", "prune-owners", "--json",
         "--pbs.config-dir", str(host.root / "etc"), "--pve.config-dir",
         str(host.root / "pve")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    (c,) = json.loads(proc.stdout)["checks"]
    assert c["id"] == "prune-owners" and c["verdict"] == "warn"
