#!/usr/bin/env python3
"""Provision one sandbox host end to end with deploys/pbs_host.py and print what changed.

    .venv/bin/python scripts/demo_sandbox.py [--runs 2] [--keep]

Boots a Debian 13 sandbox host (``--debian 12`` for bookworm; systemd-nspawn in its own
network namespace, reached over
real SSH; see lab/sandbox), installs the PBS SIMULATOR (lab/simulators: PBS itself cannot
be installed here), runs the deploy (twice by default: the second run must change nothing),
prints the operations that changed per run, then writes a demo datastore on the host and shows
the installed agent's dedup report and metrics. Removes the host unless --keep. Needs root.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploys.conventions import DEBIAN_RELEASES, DEFAULT_DEBIAN  # noqa: E402
from lab.deploy_data import (  # noqa: E402
    HEALTHY_OVERRIDES,
    keyring_server,
    pbs_host_data,
)
from lab.pbs_setup import prepare_pbs  # noqa: E402
from lab.sandbox import HarnessError, Sandbox, run_pyinfra  # noqa: E402
from pbs_agent.progress import Steps  # noqa: E402

DEMO_DATASTORE = "/var/tmp/pbs-demo-datastore"
AGENT_URL = "http://127.0.0.1:9797/"  # the landing page: each collector, its state and why
ROW = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td></tr>")


def show_agent(host) -> tuple[str, str, str, str]:
    """Run the installed agent on the host: demo datastore, its report, the live metrics."""
    demo = host.exec(f"pbs-agent demo {DEMO_DATASTORE} --force --vms 4 --cts 2 --days 10 "
                     "--garbage 3 --missing 2 --bad 1").stdout
    report = host.exec(f"pbs-agent report {DEMO_DATASTORE} --state-dir /var/tmp/pbs-demo-state"
                       ).stdout
    once = host.exec(f"pbs-agent metrics --datastore demo={DEMO_DATASTORE} "
                     "--state-dir /var/tmp/pbs-demo-state --no-collector.bench",
                     check=False).stdout
    served = host.exec(f"python3 -c \"import urllib.request as u; "
                       f"print(u.urlopen('{AGENT_URL}', timeout=10).read().decode())\"",
                       check=False).stdout
    return demo, report, once, served


def print_agent(demo: str, report: str, once: str, served: str) -> None:
    print(demo.rstrip())
    print(report)
    wanted = ("pbs_datastore_", "pbs_group_exclusive_bytes")
    print("pbs-agent metrics on the demo datastore (excerpt):")
    picked = [ln for ln in once.splitlines() if ln.startswith(wanted)]
    print("\n".join(f"  {ln}" for ln in picked[:16]))
    rows = ROW.findall(served)
    print(f"collectors of the pbs-agent unit on the host ({AGENT_URL}):")
    for name, state, detail in rows:
        print(f"  {name:<9} {state:<7} {html.unescape(detail)}".rstrip())
    if not rows:
        print("  (agent not answering)")


DEBIAN = {release.version: release.codename for release in DEBIAN_RELEASES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="deploy runs (default 2)")
    parser.add_argument("--keep", action="store_true", help="leave the host running")
    parser.add_argument("--debian", choices=sorted(DEBIAN), default=DEFAULT_DEBIAN.version,
                        help=f"Debian release of the host (default {DEFAULT_DEBIAN.version}: "
                             f"PBS {DEFAULT_DEBIAN.pbs_major})")
    args = parser.parse_args()
    # step lines on a terminal (stderr), nothing extra in logs; results go to stdout
    steps = Steps(3 + args.runs + 1)
    try:
        with steps.step("sandbox: bridge, apt cache, Debian root filesystem (first time: "
                        "debootstrap, about 2 min)"):
            box = Sandbox(manual=args.keep).open()
    except HarnessError as exc:
        print(f"demo_sandbox: {exc}", file=sys.stderr)
        return 2
    rc = 0
    try:
        with steps.step("boot a sandbox host (systemd-nspawn, SSH)"):
            host = box.start_host(DEBIAN[args.debian])
        print(f"sandbox host {host.name} at {host.address} is up")
        with steps.step("PBS SIMULATOR and TEST-ONLY hardware facts on the host"):
            prepare_pbs(host)
            host.install_fact_overrides(HEALTHY_OVERRIDES)
        with keyring_server() as url, tempfile.TemporaryDirectory() as tmp:
            data = pbs_host_data(url, pbs_datastores={"store1": {}},
                                 pbs_secrets_file=f"{tmp}/secrets.json",
                                 pbs_report_dir=f"{tmp}/reports")
            inventory = host.write_inventory(Path(tmp) / "sandbox.py", data, groups=["pbs"])
            for run in range(1, args.runs + 1):
                start = time.monotonic()
                with steps.step(f"deploy run {run} of deploys/pbs_host.py over SSH"):
                    result = run_pyinfra(inventory, "deploys/pbs_host.py")
                took = time.monotonic() - start
                if result.returncode != 0 or result.changed_ops is None:
                    print(result.stderr[-3000:], file=sys.stderr)
                    print(f"run {run}: FAILED (rc={result.returncode})")
                    rc = 1
                    break
                print(f"run {run}: {result.changed_ops} operations changed ({took:.1f} s)")
                for name, _host in result.changed:
                    print(f"  changed: {name}")
        if rc == 0:
            with steps.step("the installed agent: demo datastore, report, metrics"):
                shown = show_agent(host)
            print_agent(*shown)
        if args.keep:
            print(f"kept: ssh -i {host.ssh_key_path} root@{host.address}")
    finally:
        if not args.keep:
            box.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
